"""The area model (accel_models/area.py) beside Eyeriss (JSSC 2017) and TPU v1 (ISCA 2017), part by part.

    python benchmarks/area_vs_published.py

Published figures and their sources: configs/area/published.yaml. The model runs at each chip's node
(areas x (node / 45)^2); each row prints the published area, the model's, their ratio and the model
parts compared. Also prints both chips at 45 nm. Docs: docs/validation.md, "Area".
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accel_models.area_published import compare_published  # noqa: E402


def main() -> None:
    print(f"{'design':8} {'part':15} {'node':>5} {'published mm2':>14} {'model mm2':>10} {'ratio':>6}  model parts")
    for p in compare_published():
        print(f"{p.design:8} {p.part:15} {p.node_nm:5g} {p.published_mm2:14.3f} {p.model_mm2:10.3f} "
              f"{p.ratio:6.2f}  {p.model_parts}")
    print()
    for p in compare_published():
        f = (45.0 / p.node_nm) ** 2
        print(f"at 45 nm: {p.design:8} {p.part:15} published {p.published_mm2 * f:9.3f} model {p.model_mm2 * f:9.3f}")


if __name__ == "__main__":
    main()
