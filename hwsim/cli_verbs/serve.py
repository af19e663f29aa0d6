"""``hwsim serve``: the dashboard over a results store, on 127.0.0.1 by default. Torch-free."""

from __future__ import annotations

from pathlib import Path

import typer

DEFAULT_DB = Path("results/quickstart.db")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        db: Path = typer.Argument(DEFAULT_DB, help="Results store (SQLite file) written by `hwsim sweep`."),
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (loopback by default)."),
        port: int = typer.Option(8050, "--port", min=1, max=65535, help="TCP port."),
        debug: bool = typer.Option(False, "--debug", help="Dash debug mode: dev tools and reload on code change."),
        wait: bool = typer.Option(False, "--wait",
                                  help="Serve even if the store does not exist yet (a sweep about to start)."),
        refresh_ms: int = typer.Option(2000, "--refresh-ms", min=200, help="How often pages poll the store."),
    ) -> None:
        """Serve the dashboard: Pareto explorer, design-point drill-down, compare, sweep status, export."""
        import sys

        from hwsim.errors import UserError
        from hwsim.extras import require

        require("web", "hwsim serve")
        check_store(db, wait)
        from webapp.app import create_app

        if host not in LOOPBACK:
            print(f"warning: --host {host} exposes the dashboard beyond this machine; it has no authentication",
                  file=sys.stderr)
        if debug:
            print("warning: --debug turns on Dash's dev tools (tracebacks, reload on code change) for anyone who "
                  "can reach the server; use it on a trusted machine only", file=sys.stderr)
        dash_app = create_app(db, refresh_ms=refresh_ms, host=host)
        # The app was built without reading a point; the points are read (and the opening view drawn) in
        # the background while the server already answers, so a first page waits only on what is left.
        import threading

        from webapp.app import warm

        threading.Thread(target=warm, args=(dash_app,), name="hwsim-warm", daemon=True).start()
        shown = f"[{host}]" if ":" in host else host
        print(f"hwsim dashboard for {db} on http://{shown}:{port}/  (Ctrl+C to stop)", flush=True)
        try:
            dash_app.run(host=host, port=port, debug=debug, use_reloader=debug)
        except OSError as e:  # port taken, bad address
            raise UserError(f"--port {port}", f"cannot listen on {host}:{port} ({e.strerror or e})") from None


def check_store(db: Path, wait: bool) -> None:
    """A missing store is a user error (unless ``wait``); an unreadable one always is."""
    import sys

    from hwsim.errors import UserError
    from hwsim.store import Store
    from webapp.data import CREATE_HINT

    if not db.exists():
        hint = CREATE_HINT.format(path=db)
        if not wait:
            raise UserError(str(db), f"results store not found; create one with `{hint}` "
                                     "(or pass --wait to serve it as soon as a sweep creates it)")
        print(f"note: {db} does not exist yet; the dashboard shows it once `{hint}` starts writing", file=sys.stderr)
        return
    if db.is_dir():
        raise UserError(str(db), "is a folder; give the results store file (e.g. results/quickstart.db)")
    Store(db, readonly=True).close()
