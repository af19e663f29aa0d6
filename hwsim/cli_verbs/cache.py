"""``hwsim cache info|clear``: the trace cache (:mod:`hwsim.trace_cache`): where it is, what it holds, emptying it.

Torch-free: it lists and removes files.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    cache_app = typer.Typer(help="The trace cache: counted traces kept between runs (hwsim.trace_cache).",
                            add_completion=False, invoke_without_command=True)

    @cache_app.callback()
    def _cache(ctx: typer.Context) -> None:
        """The trace cache: counted traces kept between runs (hwsim.trace_cache)."""
        if ctx.invoked_subcommand is None:   # a bare `hwsim cache` asks for help, as a bare `hwsim` does
            typer.echo(ctx.get_help())

    @cache_app.command("info")
    def info(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Where the trace cache is, whether it is on, its entries and size, and its size limit."""
        from hwsim import trace_cache
        from hwsim.errors import printable
        from hwsim.units import fmt

        from ._common import print_json

        es = trace_cache.entries()
        d = {"folder": str(trace_cache.traces_dir()), "enabled": trace_cache.enabled(), "entries": len(es),
             "bytes": sum(e.size for e in es), "limit_bytes": trace_cache.limit_bytes()}
        if as_json:
            print_json(d)
            return
        state = "on" if d["enabled"] else "off (HWSIM_TRACE_CACHE)"
        typer.echo(printable(f"trace cache {d['folder']}: {state}, {d['entries']} entries, "
                             f"{fmt(d['bytes'], 'B')} of {fmt(d['limit_bytes'], 'B')} (HWSIM_TRACE_CACHE_MB)"))

    @cache_app.command("clear")
    def clear() -> None:
        """Remove every cached trace."""
        from hwsim import trace_cache
        from hwsim.errors import printable

        n = trace_cache.clear()
        typer.echo(printable(f"removed {n} cached traces from {trace_cache.traces_dir()}"))

    app.add_typer(cache_app, name="cache")
