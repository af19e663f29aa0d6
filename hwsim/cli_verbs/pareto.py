"""``hwsim pareto DB --x energy --y accuracy [--also memory latency]``: non-dominated points and hypervolume.

Torch-free (reads the store with sqlite3 and pandas, computes with numpy).
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("pareto")
    def pareto(
        db: Path = typer.Argument(..., help="Results store (SQLite file)."),
        more: list[str] = typer.Argument(None, help="More objectives (same as --also)."),
        x: str = typer.Option("energy", "--x", help="First objective (metric name or alias)."),
        y: str = typer.Option("accuracy", "--y", help="Second objective."),
        also: list[str] = typer.Option(None, "--also", help="More objectives; repeat or comma-separate."),
        sweep: str = typer.Option(None, "--sweep", help="Only points of this sweep."),
        source: str = typer.Option(None, "--source", help="Only points whose accuracy_source is this (train | literature)."),
        dataset: str = typer.Option(None, "--dataset", help="Only points on this data set."),
        log: bool = typer.Option(False, "--log", help="Hypervolume on log10 of the costs (energy, bytes, cycles)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Print the non-dominated points for a pair or set of objectives, with the normalised hypervolume."""
        from hwsim.errors import UserError
        from hwsim.store import METRICS, Store
        from hwsim.sweep.pareto import ALIASES, REF, front, metric_name

        from ._common import metric_table, print_json

        names = [x, y] + [a for s in (also or []) for a in s.split(",") if a] + list(more or [])
        objs = []
        for i, n in enumerate(names):
            flag = "--x" if i == 0 else "--y" if i == 1 else "--also"
            m = metric_name(n.strip(), where=flag)
            if m in objs:
                raise UserError(flag, f"objective {m!r} given twice")
            objs.append(m)
        with Store(db, readonly=True) as s:
            df = s.points(status="done")
        if sweep:
            df = df[df["sweep"] == sweep]
        if source:
            df = df[df["accuracy_source"] == source]
        if dataset:
            df = df[df["dataset"] == dataset]
        if df.empty:
            raise UserError(str(db), "no finished points match" + "".join(
                f" {k}={v!r}" for k, v in (("sweep", sweep), ("source", source), ("dataset", dataset)) if v))
        fr, hv, n = front(df, objs, log=log)
        from hwsim import labels

        names = labels.design_names([labels.config_of(c) for c in fr["config"]]) if "config" in fr.columns else []
        rows = [{"id": r["id"], "label": r["label"], **({"name": names[i]} if names else {}),
                 **{o: r[o] for o in objs}} for i, (_, r) in enumerate(fr.iterrows())]
        out = {"objectives": objs, "better": {o: METRICS[o]["better"] for o in objs}, "candidates": n,
               "front": rows, "hypervolume": hv, "reference": REF, "log_costs": log,
               "aliases": {k: v for k, v in ALIASES.items() if v in objs}}
        if as_json:
            print_json(out)
            return
        metric_table(f"Pareto front of {n} points: " + ", ".join(f"{o} ({METRICS[o]['better']})" for o in objs),
                     ["id", "point"], [[r["id"][:10], r.get("name") or r["label"] or ""] for r in rows], objs,
                     [[r[o] for o in objs] for r in rows])
        scale = "log10 of costs, then " if log else ""
        typer.echo(f"{len(rows)} non-dominated of {n}; normalised hypervolume {hv:.4f} "
                   f"({scale}objectives scaled to [0,1] over these points, reference {REF} each)")
