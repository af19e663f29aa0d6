"""The formats sweep's table (docs/formats.md) from its results store.

    hwsim sweep configs/sweeps/formats.yaml --workers 1
    python benchmarks/formats_table.py results/formats.db

One row per (model, scheme): training-step energy, its block-scale component (summed over the
per-layer rows of the training phases), the step's cycles on the accelerator, DRAM bytes per step,
model size, stash, and for decoders the decode energy per token. Units through the dashboard's one
formatter.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webapp.units import fmt  # noqa: E402

TRAIN_PHASES = ("forward", "backward_data", "backward_weight", "update")
SCHEMES = ("fp32", "bf16", "fp8", "mxfp8", "mxfp6", "mxfp4", "nvfp4")


def rows(db: str) -> list[dict]:
    if not Path(db).is_file():
        raise SystemExit(f"error: {db}: no results store")
    con = sqlite3.connect(db)
    out = []
    q = "select id, model, scheme from points where status = 'done'"
    for pid, model, scheme in con.execute(q).fetchall():
        m = dict(con.execute("select name, value from metrics where point = ?", (pid,)).fetchall())
        marks = ",".join("?" * len(TRAIN_PHASES))
        scale = con.execute(f"select coalesce(sum(value), 0) from layers where point = ? and name = "
                            f"'energy_pj.scale' and phase in ({marks})", (pid, *TRAIN_PHASES)).fetchone()[0]
        out.append({"model": model, "scheme": scheme, "scale_pj": scale, **m})
    order = {s: i for i, s in enumerate(SCHEMES)}
    models = list(dict.fromkeys(r["model"] for r in out))
    return sorted(out, key=lambda r: (models.index(r["model"]), order.get(r["scheme"], 99)))


def table(db: str) -> str:
    lines = ["| model | scheme | training step energy | of which block scale | step cycles | DRAM per step | "
             "model size | stash | decode energy per token |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows(db):
        dec = r.get("decode_energy_pj_per_token")
        lines.append(
            f"| {r['model']} | {r['scheme']} | {fmt(r['train_energy_pj_per_step'], 'pJ')} | "
            f"{fmt(r['scale_pj'], 'pJ') if r['scale_pj'] else '-'} | {fmt(r.get('train_step_cycles'), 'cycles')} | "
            f"{fmt(r.get('dram_bytes_per_step'), 'bytes')} | {fmt(r.get('model_size_bytes'), 'bytes')} | "
            f"{fmt(r.get('stash_bytes'), 'bytes')} | {fmt(dec, 'pJ') if dec is not None else '-'} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", nargs="?", default="results/formats.db")
    print(table(ap.parse_args().db))


if __name__ == "__main__":
    main()
