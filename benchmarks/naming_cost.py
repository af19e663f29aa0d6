"""What naming the design points of a store costs: every config at once (:func:`hwsim.labels.design_names`,
what the CLI tables and the reports call) and one config at a time (:class:`hwsim.labels.Variation`,
what the dashboard keeps as a sweep commits), and how many distinct names the points get.

    python benchmarks/dashboard_scale.py --make-only --sizes 50000 --out DIR
    python benchmarks/naming_cost.py DIR/scale_50000.db
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim import labels  # noqa: E402
from hwsim.store import Store  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with Store(a.store) as s:
        texts = [t for (t,) in s.iter_rows("SELECT config FROM points ORDER BY rowid")]
    configs = [json.loads(t) for t in texts]
    print(f"load average {os.getloadavg()[0]:.1f}; {len(configs):,} configs")
    best_all = best_one = float("inf")
    for _ in range(a.repeat):
        t0 = time.process_time()
        names = labels.design_names(configs)
        best_all = min(best_all, time.process_time() - t0)
        t0 = time.process_time()
        v = labels.Variation()
        for c in configs:
            v.add(c)
        best_one = min(best_one, time.process_time() - t0)
    distinct = len(set(names))
    print(f"design_names of every config: {best_all:.2f} s CPU (best of {a.repeat})")
    print(f"Variation.add one config at a time: {best_one:.2f} s CPU (best of {a.repeat})")
    print(f"distinct names: {distinct:,} of {len(names):,} (distinct configs: {len(set(texts)):,})")
    print(f"e.g. {names[0]} | {names[-1]}")


if __name__ == "__main__":
    main()
