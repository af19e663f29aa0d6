"""Graham 2017, Table 2 against 20 samples of 10,000 points: docs/seeds.md.

    python benchmarks/graham_table2.py
"""

from __future__ import annotations

from hwsim.quant.graham_stats import PUBLISHED, table2_spread


def main() -> None:
    print(f"{'bits':4} {'X':7} {'corr (paper)':>12} {'corr mean [min, max]':>24} {'sd (paper)':>10} "
          f"{'sd mean [min, max]':>24}")
    for (q, dist), (pc, ps) in PUBLISHED.items():
        c, s = table2_spread(q, dist)
        print(f"{q:4} {dist:7} {pc:12.3f} {c.mean:8.3f} [{c.low:.3f}, {c.high:.3f}] {ps:10.3f} "
              f"{s.mean:8.3f} [{s.low:.3f}, {s.high:.3f}]")


if __name__ == "__main__":
    main()
