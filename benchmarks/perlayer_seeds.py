"""The per-layer precision search against uniform precision, over several training seeds (docs/precision.md).

    python benchmarks/perlayer_seeds.py [--seeds 0 1 2] [--budget 16] [--workers 2] [--report-only]

Per seed s, configs/sweeps/perlayer_uniform.yaml and configs/sweeps/perlayer_search.yaml run with the
training seed (and the search's seed) set to s, into their own store results/perlayer_s{s}.db (a
search reads only its own store's history). Then, per seed: every uniform point, and for each the
searched points that dominate it on (accuracy, training energy per step): accuracy at least as high and
energy at most as high, one of them strictly. A table per seed and a summary line are printed.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = [ROOT / "configs" / "sweeps" / "perlayer_uniform.yaml", ROOT / "configs" / "sweeps" / "perlayer_search.yaml"]


def run(seed: int, budget: int, workers: int, db: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for src in SWEEPS:
            text = re.sub(r"\bseed: 0\b", f"seed: {seed}", src.read_text())
            path = Path(tmp) / src.name
            path.write_text(text)
            cmd = [sys.executable, "-m", "hwsim.cli", "sweep", str(path), "--db", str(db), "--workers", str(workers),
                   "--no-progress"]
            if "search" in src.name:
                cmd += ["--budget", str(budget)]
            subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def bits(config: dict) -> str:
    s = config["scheme"]
    if s["name"] == "fp32":
        return "fp32"
    return f"W {s['weight_bits_by_depth']} / A {s['act_bits_by_depth']}"


def points(db: Path) -> list[dict]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = con.execute("SELECT p.id, p.sweep, p.config, a.value, e.value FROM points p "
                       "JOIN metrics a ON a.point = p.id AND a.name = 'accuracy' "
                       "JOIN metrics e ON e.point = p.id AND e.name = 'train_energy_pj_per_step' "
                       "WHERE p.status = 'done'").fetchall()
    con.close()
    return [{"id": i, "sweep": sw, "bits": bits(json.loads(c)), "acc": a, "energy": e} for i, sw, c, a, e in rows]


def dominates(p: dict, q: dict) -> bool:
    return p["acc"] >= q["acc"] and p["energy"] <= q["energy"] and (p["acc"] > q["acc"] or p["energy"] < q["energy"])


def report(seed: int, pts: list[dict]) -> tuple[int, int]:
    uniform = sorted((p for p in pts if p["sweep"] == "perlayer_uniform"), key=lambda p: p["energy"])
    searched = [p for p in pts if p["sweep"] == "perlayer_search"]
    energies = [p["energy"] for p in pts]
    print(f"\nseed {seed}: {len(uniform)} uniform points, {len(searched)} searched; training energy per step "
          f"{min(energies) / 1e9:.3f}-{max(energies) / 1e9:.3f} mJ over all points")
    print("| uniform point | accuracy | mJ per step | searched points that dominate it (best: accuracy, mJ) |")
    print("|---|---|---|---|")
    beaten = 0
    for u in uniform:
        doms = sorted((s for s in searched if dominates(s, u)), key=lambda s: (-s["acc"], s["energy"]))
        beaten += bool(doms)
        best = f"{len(doms)}: {doms[0]['bits']} ({100 * doms[0]['acc']:.2f}%, {doms[0]['energy'] / 1e9:.3f})" if doms \
            else "none"
        print(f"| {u['bits']} | {100 * u['acc']:.2f}% | {u['energy'] / 1e9:.3f} | {best} |")
    front = sorted((p for p in pts if not any(dominates(q, p) for q in pts)), key=lambda p: p["energy"])
    print("front over all points: " + "; ".join(
        f"{'searched' if p['sweep'] == 'perlayer_search' else 'uniform'} {p['bits']} ({100 * p['acc']:.2f}%, "
        f"{p['energy'] / 1e9:.3f} mJ)" for p in front))
    return beaten, len(uniform)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--budget", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--report-only", action="store_true", help="Read the stores; run nothing.")
    args = ap.parse_args()
    summary = []
    for s in args.seeds:
        db = ROOT / "results" / f"perlayer_s{s}.db"
        if not args.report_only:
            db.parent.mkdir(exist_ok=True)
            run(s, args.budget, args.workers, db)
        summary.append((s, *report(s, points(db))))
    print("\n" + "; ".join(f"seed {s}: {b} of {n} uniform points dominated by a searched point"
                            for s, b, n in summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
