"""Optional dependency groups (pyproject's extras) and the one-line error when one is missing.

The core install (`pip install hwsim`) counts, prices and simulates; the dashboard, some report
formats, search and Ray need an extra. A verb that needs one calls :func:`require` first, so a
missing package is a usage error naming the extra to install, never an ImportError traceback.
"""

from __future__ import annotations

import importlib

from hwsim.errors import UserError

EXTRAS: dict[str, tuple[str, ...]] = {
    "web": ("dash", "dash_bootstrap_components", "dash_ag_grid", "plotly"),
    "reports": ("openpyxl", "plotly"),
    "search": ("optuna",),
    "ray": ("ray",),
    "onnx": ("onnx", "onnx2torch"),
}


def require(extra: str, where: str, modules: tuple[str, ...] | None = None) -> None:
    """Import ``modules`` (default: all of ``extra``'s) or raise a UserError naming the extra."""
    for m in modules or EXTRAS[extra]:
        try:
            importlib.import_module(m)
        except ImportError:
            raise UserError(where, f"needs the optional package {m!r}, which is not installed: "
                                   f"pip install 'hwsim[{extra}]'") from None
