"""Graham's quantizers against fp32: training step and inference energy per input size.

    python benchmarks/graham_vs_fp32.py                  # ResNet-20 at 1x8x8 and 3x32x32, ResNet-18 at 3x224x224
    python benchmarks/graham_vs_fp32.py --quick          # ResNet-20 at 1x8x8 only

Each point is what ``hwsim cost MODEL -s '{name: graham, quantizer: Q}' -b 64 --input SHAPE --classes N``
prints (the placement model on configs/hierarchy/default.yaml, 45 nm): the training step and the
inference energy per sample, as a ratio to fp32 at the same point. Exits non-zero when a quantizer's
step costs more than fp32's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

QUANTIZERS = ("L2", "L3", "L4", "L5", "U4", "U5", "U8", "O4")
POINTS = (("resnet20", (1, 8, 8), 10), ("resnet20", (3, 32, 32), 10), ("resnet18", (3, 224, 224), 1000))


def energy(model: str, shape: tuple[int, ...], classes: int, scheme, batch: int) -> tuple[float, float]:
    from hwsim.energy import price
    from hwsim.evaluate import trace_workload
    from hwsim.workload import Workload

    w = Workload(model=model, scheme=scheme, input_shape=shape, num_classes=classes, batch=batch)
    rep = price(trace_workload(w, infer=False).train, "45nm")
    return rep.train_step_pj, rep.infer_pj_per_sample


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--batch", type=int, default=64)
    a = ap.parse_args()
    worse = 0
    print("| model | input | scheme | step mJ | x fp32 | inference uJ/sample | x fp32 |")
    print("|---|---|---|---:|---:|---:|---:|")
    for model, shape, classes in POINTS[:1] if a.quick else POINTS:
        ref = energy(model, shape, classes, "fp32", a.batch)
        inp = "x".join(map(str, shape))
        print(f"| {model} | {inp} | fp32 | {ref[0] / 1e9:.3f} | 1.00 | {ref[1] / 1e6:.2f} | 1.00 |")
        for q in QUANTIZERS:
            e = energy(model, shape, classes, {"name": "graham", "quantizer": q}, a.batch)
            worse += e[0] > ref[0]
            print(f"| {model} | {inp} | graham {q} | {e[0] / 1e9:.3f} | {e[0] / ref[0]:.2f} | {e[1] / 1e6:.2f} | "
                  f"{e[1] / ref[1]:.2f} |", flush=True)
    sys.exit(1 if worse else 0)


if __name__ == "__main__":
    main()
