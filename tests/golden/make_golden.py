"""Golden store metrics: every built-in model x a set of schemes x every shipped accelerator.

``python tests/golden/make_golden.py`` evaluates the points below through the sweep pipeline (costs
only, meta-tensor traces) and writes ``tests/golden/metrics.json``; ``tests/test_golden.py``
recomputes them and compares. Regenerate only when a change is meant to move figures, and say in
the commit which figures moved and why.

Sizes are small on purpose (training step at batch 2, inference at batch 1, 32x32 inputs for the
three-channel networks) so the comparison runs in tens of seconds: the figures guard the route
from sweep config to store metrics, not paper-scale numbers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "metrics.json"
REPO = HERE.parents[1]

SCHEMES: list[Any] = [
    "fp32", "bnn", "twn",
    {"name": "kbit", "weight_bits": 4, "act_bits": 4},
    {"name": "graham", "quantizer": "L4"},
    "mcdonnell",
    {"name": "pruning", "sparsity": 0.8},
    {"name": "mixed", "compose": ["twn", {"name": "graham", "quantizer": "L4"}]},
]
# memory energy from the accelerator's accesses, or from hwsim.energy's placement (two hierarchies)
PRICINGS: list[dict[str, Any]] = [
    {"batch": 2, "infer_batch": 1, "memory": "accelerator"},
    {"batch": 2, "infer_batch": 1, "memory": "hierarchy"},
    {"batch": 2, "infer_batch": 1, "memory": "hierarchy", "hierarchy": "edge"},
]


def accelerators() -> list[str]:
    return sorted(p.stem for p in (REPO / "configs" / "accelerators").glob("*.yaml"))


# Networks that trace and price in well under a second get every scheme and every pricing; the
# others get fp32 and the mixed scheme (TWN weights + Graham batch-norm) under the first two pricings.
LIGHT = {"graham_fc", "lenet300", "lenet5", "resnet20", "vgg_graham"}
FEW_SCHEMES = ["fp32", SCHEMES[-1]]


def models() -> list[tuple[str, str]]:
    """(model, data set): one-channel networks on MNIST, the others on CIFAR-10 (32x32 keeps it fast)."""
    from hwsim.models import MODELS, load_all
    from hwsim.models.transformers import TRANSFORMERS

    load_all()
    # the transformers take token ids or 224x224 images, not these data sets (tests/test_transformers.py)
    return [(n, "mnist" if MODELS.get(n).default_input[0] == 1 else "cifar10") for n in sorted(MODELS.names())
            if n not in TRANSFORMERS]


def model_points(model: str, dataset: str) -> list[Any]:
    """One network's design points, expanded by the sweep front end as a sweep file would be."""
    from hwsim.sweep.expand import expand_sweep
    from hwsim.sweep.schema import LineMap, validate_sweep

    light = model in LIGHT
    out = []
    for i, pricing in enumerate(PRICINGS if light else PRICINGS[:2]):
        data = {"name": f"golden{i}", "combine": "grid", "models": [model], "datasets": [dataset],
                "schemes": SCHEMES if light else FEW_SCHEMES, "tech": ["45nm"],
                "accelerators": accelerators(), "accuracy": "none", "pricing": pricing}
        lm = LineMap("golden")
        out += expand_sweep(validate_sweep(data, lm), lm, REPO)
    return out




def groups(pts: list[Any]) -> list[list[Any]]:
    """Points sharing model, data set and scheme go to the pipeline together, as the runner sends them."""
    out: dict[str, list[Any]] = {}
    for p in pts:
        out.setdefault(p.train_key, []).append(p)
    return list(out.values())


def _number(v: float) -> int | float:
    """Integral figures (MACs, bytes, cycles) as ints, compared exactly; the rest as floats."""
    return int(v) if float(v).is_integer() and abs(v) < 2**53 else float(v)


def compute(model: str, dataset: str) -> dict[str, dict[str, Any]]:
    """label + pricing -> {status, error, metrics} as the pipeline hands them to the store."""
    from hwsim.pipeline import evaluate_group

    res: dict[str, dict[str, Any]] = {}
    for grp in groups(model_points(model, dataset)):
        for p, r in zip(grp, evaluate_group(grp)):
            pr = p.pricing
            key = f"{p.label} | memory={pr.memory} hierarchy={pr.hierarchy}"
            res[key] = {"status": r.status, "error": r.error,
                        "metrics": {k: _number(v) for k, v in sorted(r.metrics.items())}}
    return res


def main() -> int:
    res: dict[str, Any] = {}
    for model, dataset in models():
        res[model] = compute(model, dataset)
    GOLDEN.write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    n = sum(len(v) for v in res.values())
    failed = sum(r["status"] != "done" for v in res.values() for r in v.values())
    print(f"wrote {GOLDEN.relative_to(REPO)}: {n} points of {len(res)} networks ({failed} failed, as recorded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
