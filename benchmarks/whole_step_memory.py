"""Whole-step training memory on paper shapes: ``stash_bytes`` of ``hwsim count --json`` per scheme.

For ResNet-18 at ImageNet shapes (3x224x224, batch 256 by default) on meta tensors (shapes only;
the bytes are those of the real saved buffers, as tests/test_whole_step_memory.py checks against
``saved_tensors_hooks`` on small real steps), this prints per scheme both memory figures:

* weight-layer inputs: the inputs of the conv/linear layers at the widths the scheme keeps them
  (``weight_input_stash_bytes``);
* whole step: every tensor autograd keeps for backward, parameters excluded (``stash_bytes``);
* backward MACs: both backward phases (``bn_stash: recompute`` adds the recomputed convolutions);

with the ratio to fp32 and the targets of the whole-step column.

    python benchmarks/whole_step_memory.py [--model resnet18] [--batch 256]
"""

from __future__ import annotations

import argparse

from hwsim.count import trace

KBIT4 = {"name": "kbit", "weight_bits": 4, "act_bits": 4}
ROWS: list[tuple[str, object, float | None]] = [
    ("fp32", "fp32", None),
    ("kbit W4A4", KBIT4, 1.3),
    ("kbit W4A4 bn_stash int8", {**KBIT4, "bn_stash": "int8"}, None),
    ("kbit W4A4 bn_stash recompute", {**KBIT4, "bn_stash": "recompute"}, 8.0),
    ("kbit W4A4 + actnn 4", {"name": "mixed", "compose": [KBIT4, {"name": "actnn", "bits": 4}]}, 5.0),
    ("bnn", "bnn", None),
    ("bnn bn_stash recompute", {"name": "bnn", "bn_stash": "recompute"}, 12.0),
    ("bnn + actnn 2", {"name": "mixed", "compose": ["bnn", {"name": "actnn", "bits": 2}]}, 8.0),
    ("mcdonnell", "mcdonnell", None),
    ("mcdonnell + actnn 2", {"name": "mixed", "compose": ["mcdonnell", {"name": "actnn", "bits": 2}]}, 8.0),
    ("graham L4", "graham", None),
    ("actnn 2", {"name": "actnn", "bits": 2}, None),
    ("actnn 2, batch-norm 2", {"name": "actnn", "bits": 2, "bn_bits": 2}, None),
    ("actnn 4", {"name": "actnn", "bits": 4}, None),
    ("actnn 8", {"name": "actnn", "bits": 8}, None),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--batch", type=int, default=256)
    a = ap.parse_args()
    print(f"model {a.model}, batch {a.batch}, meta tensors; bytes = stash_bytes / weight_input_stash_bytes "
          f"of `hwsim count {a.model} --batch {a.batch} --json`")
    head = (f"{'scheme':29s} {'weight-layer inputs':>20s} {'x fp32':>7s} {'whole step':>16s} {'x fp32':>7s} "
            f"{'backward MACs':>14s}  target")
    print(head)
    print("-" * len(head))
    base = None
    ok = True
    for label, spec, target in ROWS:
        tr = trace(a.model, spec, batch=a.batch, device="meta")
        wi, st = tr.meta.step.weight_input_stash_bytes, tr.stash_bytes
        if base is None:
            base = (wi, st)
        r_wi, r_st = base[0] / wi, base[1] / st
        mark = ""
        if target is not None:
            hit = r_st >= target
            ok &= hit
            mark = f">= {target:g}x {'yes' if hit else 'NO'}"
        bwd = sum(r.total_macs for r in tr.records if r.phase.startswith("backward"))
        print(f"{label:29s} {wi:>20,} {r_wi:>7.2f} {st:>16,} {r_st:>7.2f} {bwd / 1e9:>12.1f} G  {mark}")
    print("all targets met" if ok else "some targets missed")


if __name__ == "__main__":
    main()
