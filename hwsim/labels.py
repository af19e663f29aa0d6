"""Readable names of design points: one function for the CLI tables, the reports and the dashboard.

A point's name says what tells it apart: the model, the scheme with its distinguishing parameters
(``kbit W4A4``, ``twn+graham L4``, ``han 80%``) and the accelerator with the fields that vary in
this store (``tpu_like 32x32 WS 700 MHz``). Values are written as a person reads them, never as a
Python ``repr`` (``compose=['twn', {'name': 'graham', ...}]``). Torch-free.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

# Always part of a scheme's name: bit widths and sparsity define the variant.
ALWAYS = ("weight_bits", "act_bits", "sparsity", "quantizer")
_SKIP = ("name", "weight_bits", "act_bits", "compose", "start_epoch", "end_epoch", "seed", "vary")
# accelerator fields (config["hardware"] paths) a name may carry, in this order, with how to write them
HARDWARE_FIELDS = ("array", "dataflow", "pe.kind", "clock_mhz", "sram", "dram.bandwidth_bytes_per_cycle")


def value_text(v: Any) -> str:
    """A parameter value as a person writes it: ``0.5``, ``L2``, ``twn+graham L4``, ``[3, 5]`` -> ``3,5``."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.6g}" if "e" not in f"{v:.6g}" else f"{v:f}".rstrip("0").rstrip(".")
    if isinstance(v, dict):
        return scheme_name(v) if "name" in v else ",".join(f"{k}={value_text(x)}" for k, x in sorted(v.items()))
    if isinstance(v, (list, tuple)):
        return "+".join(value_text(x) for x in v) if any(isinstance(x, dict) for x in v) else ",".join(
            value_text(x) for x in v)
    return "" if v is None else str(v)


def params_text(d: dict, varying: set[str] | None = None) -> list[str]:
    """A scheme's or model's distinguishing hyper-parameters, short: W4A4, L2, 80%, width=0.5.
    With ``varying``, parameters other than :data:`ALWAYS` appear only if they differ between points."""
    out: list[str] = []
    if isinstance(d.get("args"), dict):
        d = {**d["args"], **{k: v for k, v in d.items() if k != "args"}}
    wb, ab = d.get("weight_bits"), d.get("act_bits")
    if wb is not None or ab is not None:
        out.append("".join(f"{p}{v}" for p, v in (("W", wb), ("A", ab)) if v is not None))
    for k, v in d.items():
        if k in _SKIP or (varying is not None and k not in ALWAYS and k not in varying):
            continue
        if k == "sparsity" and isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(f"{100 * v:.0f}%")
        elif isinstance(v, str):
            out.append(v)
        elif isinstance(v, (int, float, bool)):
            out.append(f"{k}={value_text(v)}")
        elif v not in (None, [], {}):
            out.append(f"{k}={value_text(v)}")
    return out


def scheme_name(scheme: Any, varying: dict[str, set[str]] | None = None) -> str:
    """``{"name": "graham", "quantizer": "L2"}`` -> ``graham L2``; ``kbit W4A4``; ``twn+graham L4``.

    ``varying`` (scheme name -> parameters that differ in the store) keeps resolved defaults
    (``clip=1.0``) out of the name unless they tell points apart."""
    if isinstance(scheme, str):
        return scheme
    if not isinstance(scheme, dict):
        return ""
    if isinstance(scheme.get("compose"), list):
        return "+".join(scheme_name(s, varying) for s in scheme["compose"])
    name = str(scheme.get("name", "?"))
    vary = (varying or {}).get(name, set()) if varying is not None else None
    return " ".join([name, *params_text(scheme, vary)])


def model_name(model: Any) -> str:
    """``{"name": "resnet20", "args": {"width": 0.5}}`` -> ``resnet20 width=0.5``."""
    if isinstance(model, str):
        return model
    if not isinstance(model, dict):
        return ""
    return " ".join([str(model.get("name", "?")), *params_text(model)])


def varying_scheme_params(schemes: Iterable[Any]) -> dict[str, set[str]]:
    """Per scheme name, the parameters whose value differs between the given schemes."""
    seen: dict[str, dict[str, set]] = {}
    for sc in schemes:
        for one in (sc.get("compose") if isinstance(sc, dict) and isinstance(sc.get("compose"), list) else [sc]):
            if isinstance(one, dict):
                per = seen.setdefault(str(one.get("name")), {})
                for k, v in one.items():
                    per.setdefault(k, set()).add(json.dumps(v, sort_keys=True, default=str))
    return {name: {k for k, vals in per.items() if len(vals) > 1} for name, per in seen.items()}


def _hw_value(hw: dict, path: str) -> Any:
    if path == "array":
        a = hw.get("array") or {}
        return f"{a.get('rows')}x{a.get('cols')}" if a.get("rows") is not None else None
    if path == "dataflow":
        return (hw.get("array") or {}).get("dataflow") or hw.get("dataflow")
    if path == "sram":
        sram = hw.get("sram") or {}
        total = sum(float(v) for v in sram.values() if isinstance(v, (int, float)))
        return f"{total:g} kB SRAM" if sram else None
    cur: Any = hw
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if path == "clock_mhz" and cur is not None:
        return f"{value_text(cur)} MHz"
    if path == "pe.kind" and cur is not None:
        return f"{cur} PE"
    if path == "dram.bandwidth_bytes_per_cycle" and cur is not None:
        return f"DRAM {value_text(cur)} B/cycle"
    if path.startswith("sram.") and cur is not None:
        return f"{path.removeprefix('sram.').removesuffix('_kb')} {value_text(cur)} kB"
    return cur


def _sram_buffers(hw: dict) -> list[str]:
    return [f"sram.{k}" for k in (hw.get("sram") or {}) if isinstance(k, str)]


def _named_fields(vals: dict[str, set[object]]) -> list[str]:
    """The fields a name carries, given each field's values over the points: those that vary, in
    :data:`HARDWARE_FIELDS` order; where the SRAM varies, the buffers that vary (two designs with
    128 + 512 kB and 512 + 128 kB of filter and output buffer have one total)."""
    def varies(f: str) -> bool:
        return len(vals.get(f, ())) > 1

    out: list[str] = []
    for f in HARDWARE_FIELDS:
        buffers = [b for b in vals if b.startswith("sram.") and varies(b)] if f == "sram" else []
        out += buffers or ([f] if varies(f) else [])
    return out


def hardware_of(config: dict) -> dict:
    """The resolved accelerator of a config (``hardware``), else the accelerator written inline."""
    hw = config.get("hardware") if isinstance(config, dict) else None
    if isinstance(hw, dict):
        return hw
    acc = config.get("accelerator") if isinstance(config, dict) else None
    return acc if isinstance(acc, dict) else {}


def varying_hardware(configs: Iterable[dict]) -> list[str]:
    """The accelerator fields (:data:`HARDWARE_FIELDS`) whose value differs between the configs."""
    v = Variation()
    for c in configs:
        v.add_hardware(hardware_of(c))
    return v.hardware_fields


def accelerator_name(config: dict, fields: Iterable[str] = ()) -> str:
    """``tpu_like 32x32 WS 700 MHz``: the accelerator's name plus the ``fields`` given (those that vary)."""
    name = config.get("accelerator")
    hw = hardware_of(config)
    name = name.get("name") if isinstance(name, dict) else name
    parts = [str(name)] if isinstance(name, str) and name else []
    parts += [value_text(v) for f in fields if (v := _hw_value(hw, f)) not in (None, "")]
    return " ".join(parts)


def design_name(config: dict, scheme_vary: dict[str, set[str]] | None = None, hw_fields: Iterable[str] = (),
                sep: str = " · ") -> str:
    """The one readable name of a design point from its config: ``lenet300 · kbit W4A4 · tpu_like 32x32``.
    ``scheme_vary`` and ``hw_fields`` (from :func:`varying_scheme_params`, :func:`varying_hardware` over
    the points shown together) add the parameters that tell those points apart."""
    if not isinstance(config, dict):
        return ""
    parts = [model_name(config.get("model")), scheme_name(config.get("scheme"), scheme_vary),
             accelerator_name(config, hw_fields)]
    lit = config.get("literature")
    head = f"[{lit['id']}] " if isinstance(lit, dict) and lit.get("id") else ""
    return head + sep.join(p for p in parts if p)


class Variation:
    """What varies among the configs added so far (scheme parameters per scheme name, accelerator fields);
    added to one config at a time, so a reader that appends points keeps it without a second pass."""

    def __init__(self) -> None:
        self._scheme: dict[str, dict[str, set[str]]] = {}
        self._hw: dict[str, set[object]] = {f: set() for f in HARDWARE_FIELDS}   # and each SRAM buffer
        self._n_hw = 0

    def add(self, config: dict) -> None:
        sc = config.get("scheme") if isinstance(config, dict) else None
        for one in (sc.get("compose") if isinstance(sc, dict) and isinstance(sc.get("compose"), list) else [sc]):
            if isinstance(one, dict):
                per = self._scheme.setdefault(str(one.get("name")), {})
                for k, v in one.items():
                    per.setdefault(k, set()).add(json.dumps(v, sort_keys=True, default=str))
        self.add_hardware(hardware_of(config))

    def add_hardware(self, hw: dict) -> None:
        # a buffer one accelerator lacks counts as a value (None) of that buffer
        for b in _sram_buffers(hw):
            self._hw.setdefault(b, {None} if self._n_hw else set())
        for f, seen in self._hw.items():
            v = _hw_value(hw, f)
            # scalars as they are (a hardware sweep adds thousands of accelerators), anything else as JSON
            seen.add(v if v is None or isinstance(v, (str, int, float)) else json.dumps(v, sort_keys=True, default=str))
        self._n_hw += 1

    @property
    def scheme_params(self) -> dict[str, set[str]]:
        return {name: {k for k, vals in per.items() if len(vals) > 1} for name, per in self._scheme.items()}

    @property
    def hardware_fields(self) -> list[str]:
        return _named_fields(self._hw)

    def key(self) -> tuple:
        """Changes exactly when a name would change: what varies, not the values seen."""
        return (sorted((n, sorted(v)) for n, v in self.scheme_params.items()), self.hardware_fields)


def design_names(configs: list[dict], sep: str = " · ") -> list[str]:
    """:func:`design_name` of each config, with what varies among exactly these configs."""
    vary = varying_scheme_params(c.get("scheme") for c in configs if isinstance(c, dict))
    hw = varying_hardware(configs)
    return [design_name(c, vary, hw, sep) for c in configs]


def config_of(text: Any) -> dict:
    """A point's stored config (JSON text or already a dict) as a dict; ``{}`` if unreadable."""
    if isinstance(text, dict):
        return text
    try:
        cfg = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        cfg = {}
    return cfg if isinstance(cfg, dict) else {}
