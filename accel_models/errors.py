"""The one error type of accel_models: bad accelerator YAML, SCALE-Sim .cfg or topology input."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad input. ``where`` names file:line and field (or a layer); ``what`` says what was expected.

    A ``ValueError`` so plain Python callers can catch it without importing hwsim; hwsim's CLI wraps it
    into :class:`hwsim.errors.UserError` (one line ``error: WHERE: WHAT``).
    """

    def __init__(self, where: str, what: str):
        self.where = str(where)
        self.what = str(what).replace("\n", " ").strip()
        super().__init__(f"{self.where}: {self.what}")
