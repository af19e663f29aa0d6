"""Precision schemes, one module per family; see :mod:`hwsim.schemes.base`."""

from hwsim.schemes.base import SCHEMES, Scheme, build_scheme, load_all, register_scheme

__all__ = ["SCHEMES", "Scheme", "build_scheme", "load_all", "register_scheme"]
