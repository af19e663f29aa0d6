"""``hwsim sweep FILE``: validate a sweep file, then run (or resume) it into a results store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ._common import NO_TRACE_CACHE_HELP

if TYPE_CHECKING:
    from hwsim.design import DesignPoint
    from hwsim.sweep.schema import LineMap, SweepFile


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def _read(file: Path, dry_run: bool, max_points: int,
          trust_code: bool) -> tuple[SweepFile, LineMap, list[DesignPoint]]:
    """The checked sweep file and its points; none for a search, which builds only the points its sampler
    asks for (:func:`hwsim.sweep.search.run_search`): its grid is counted, never expanded, and
    ``max_points`` bounds the schemes and accelerators its axes resolve."""
    from hwsim.errors import UserError
    from hwsim.sweep.expand import count_axis_values, load_points
    from hwsim.sweep.schema import load_sweep

    sw, lm = load_sweep(file)
    if sw.search is None or dry_run:
        sw, points = load_points(file, max_points=max_points, trust_code=trust_code)
        return sw, lm, points
    if (n := count_axis_values(sw)) > max_points:
        raise UserError(str(file), f"the search's axes hold {n:,} schemes and accelerators, more than the "
                                   f"limit of {max_points:,}; narrow them or raise the limit with --max-points")
    return sw, lm, []


def _freeze_at_exit() -> None:
    """When the process ends, stop the cyclic collector from walking once more what a run leaves alive
    (modules, kept traces; about 0.2 CPU-s of a search's own, more with torch loaded): its memory goes
    back with the process. Everything a run writes is committed or flushed before then."""
    import atexit
    import gc

    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


def register(app: typer.Typer) -> None:
    @app.command("sweep")
    def sweep(
        file: Path = typer.Argument(..., help="Sweep file (configs/sweeps/*.yaml)."),
        db: Path = typer.Option(None, "--db", help="Results store; default: the file's 'store:' or results/<name>.db."),
        workers: int = typer.Option(None, "--workers", "-w", help="Parallel workers (default: CPU count; 0: in this process)."),
        backend: str = typer.Option("local", "--backend", help="local | ray"),
        address: str = typer.Option(None, "--address", help="Ray cluster address (with --backend ray)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Validate and list the points; run nothing."),
        trust_code: bool = typer.Option(False, "--trust-code",
                                        help="Let the file's Python models (file.py:make, pkg.mod:make) run."),
        retry_failed: bool = typer.Option(False, "--retry-failed", help="Evaluate failed points again."),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
        budget: int = typer.Option(None, "--budget", help="Override search.budget."),
        max_points: int = typer.Option(100_000, "--max-points", min=1,
                                       help="Refuse a sweep that expands to more points than this (a search: more schemes "
                                            "and accelerators on its axes)."),
        evaluator: str = typer.Option(None, "--evaluator", hidden=True, help="module:function (tests)."),
        no_trace_cache: bool = typer.Option(False, "--no-trace-cache", help=NO_TRACE_CACHE_HELP),
    ) -> None:
        """Run every design point of FILE not yet in the store (a killed sweep resumes), then print a summary."""
        import sys

        from hwsim import timeline, trace_cache
        from hwsim.errors import UserError, printable
        from hwsim.extras import require
        from hwsim.sweep.runner import DEFAULT_EVALUATOR, run_points, summary_rows

        from ._common import metric_table, print_json, print_table, summary_line

        timeline.mark("parent", "sweep: verb started")
        if backend not in ("local", "ray"):
            raise UserError("--backend", f"unknown backend {backend!r}; expected local or ray")
        if workers is not None and workers < 0:
            raise UserError("--workers", f"must be 0 or more, got {workers}")
        if address and backend != "ray":
            raise UserError("--address", "only with --backend ray")
        if evaluator is not None and ":" not in evaluator:
            raise UserError("--evaluator", "expected module:function")
        sw, lm, points = _read(file, dry_run, max_points, trust_code)
        searching = sw.search is not None and not dry_run
        if backend == "ray":
            require("ray", "--backend ray")
        if searching:
            require("search", f"{file}: search")
        path = db or Path(sw.store or f"results/{sw.name}.db")
        nw = default_workers() if workers is None else workers
        _freeze_at_exit()
        # A terminal gets live bars; a log (CI, nohup, a pipe) a progress line at least every 10 s.
        progress = False if no_progress else ("bars" if sys.stderr.isatty() and not as_json else "lines")
        if dry_run:
            from hwsim import labels

            names = labels.design_names([p.to_json() for p in points])
            rows = [{"id": p.id, "label": p.label, "name": n} for p, n in zip(points, names)]
            if as_json:
                print_json({"sweep": sw.name, "points": rows, "search": sw.search is not None})
            else:
                print_table(f"sweep {sw.name}: {len(points)} points", ["id", "point"],
                            [[r["id"], r["name"] or r["label"]] for r in rows])
            return
        if sw.search is not None:
            from hwsim.sweep.search import run_search, search_summary

            with trace_cache.turned_off(no_trace_cache):
                res, ids = run_search(file, path, workers=nw, backend=backend, address=address, progress=progress,
                                      evaluator=evaluator, budget=budget, trust_code=trust_code, checked=(sw, lm))
            objs = sw.search.objectives
            # the front a person may pick from: points meeting the constraints only
            found = search_summary(path, ids, objs, sw.search.constraints)
            info = {"sweep": sw.name, "store": str(path), "evaluated": res.n_evaluated, "trials": res.trials,
                    "grid_points": res.space, "objectives": objs, **found.to_dict()}
            ids = list(dict.fromkeys(ids))
        else:
            with trace_cache.turned_off(no_trace_cache):
                s = run_points(points, path, workers=nw, backend=backend, address=address, progress=progress,
                               retry_failed=retry_failed, evaluator=evaluator or DEFAULT_EVALUATOR, sweep=sw.name)
            ran = set(s.ran)
            info = {"sweep": sw.name, "store": str(path), **s.to_dict()}
            info.pop("ran")
            ids = [p.id for p in points]
        rows = summary_rows(path, ids)
        if sw.search is None:
            for r in rows:   # a resumed sweep: say which rows this run computed
                r["this_run"] = "computed" if r["id"] in ran else ("skipped" if r["status"] in ("done", "failed")
                                                                   else "not computed")
        timeline.mark("parent", "sweep: summary read")
        if as_json:
            print_json({**info, "points": rows})
        else:
            metrics = ["accuracy", "train_energy_pj_per_step", "infer_energy_pj", "latency_cycles"]
            metric_table(f"sweep {sw.name} -> {path}", ["id", "point", "status", "this run"],
                         [[r["id"][:10], r["name"], r["status"], r.get("this_run", "")] for r in rows],
                         metrics, [[r[m] for m in metrics] for r in rows],
                         after=("error", [(r["error"] or "")[:80] for r in rows]))
            typer.echo(printable(summary_line(info)))
        failed = sum(r["status"] == "failed" for r in rows)
        unfinished = sum(r["status"] not in ("done", "failed") for r in rows)
        if failed or unfinished:
            what = ", ".join(x for x in (f"{failed} failed" if failed else "",
                                         f"{unfinished} not finished (a worker died; rerun to redo them)"
                                         if unfinished else "") if x)
            typer.echo(printable(f"error: sweep {sw.name}: {what} of {len(rows)} points; the error column above "
                                 f"(or --json) gives each reason, `hwsim report {path} --point ID` the details"),
                       err=True)
            raise typer.Exit(3)

