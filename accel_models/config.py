"""Readers: accelerator YAML (validated, errors name file:line and field), SCALE-Sim .cfg, topology CSV.

Accelerator YAML (configs/accelerators/*.yaml)::

    name: tpu_like
    clock_mhz: 700
    array: {rows: 128, cols: 128, dataflow: ws}       # ws | os | is | bitfusion
    pe: {kind: int, bits: 8}                           # see accel_models.pe
    sram: {ifmap_kb: 8192, filter_kb: 4096, ofmap_kb: 4096}
    dram: {bandwidth_bytes_per_cycle: 32}              # null: unlimited (no stalls)
    vector_unit: {lanes: 128}                          # element ops per cycle
    operands: {ifmap_bits: 8, filter_bits: 8, psum_bits: 32}   # defaults for topology layers

SCALE-Sim v3 ``.cfg`` files map onto the same fields (1-byte words, an int8 PE; ``Bandwidth`` in
words per cycle when ``InterfaceBandwidth: USER``, unlimited for ``CALC``). Topology CSVs are
SCALE-Sim's: conv ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
Num Filter, Strides,`` (a name containing ``DP`` is depthwise) or GEMM ``Layer, M, N, K,``.
"""

from __future__ import annotations

import configparser
import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from accel_models.errors import ConfigError
from accel_models.jsondoc import Json, JsonDocument
from accel_models.layers import ConvLayer, GemmLayer
from accel_models.memory import Memory
from accel_models.pe import PE, build_pe
from accel_models.registers import Register, parse_registers
from accel_models.sparsity import SparsitySupport
from accel_models.systolic import DATAFLOWS

MAX_QUANTITY = 1e12   # any size, rate or clock read from a file: finite, and far from overflowing a total


@dataclass
class Accelerator:
    """One accelerator: array, PE kind, SRAMs, DRAM bandwidth, vector unit, default operand widths."""

    name: str
    rows: int
    cols: int
    dataflow: str
    pe: PE
    ifmap_sram_bytes: int
    filter_sram_bytes: int
    ofmap_sram_bytes: int
    dram_bw_bytes_per_cycle: float | None = None
    clock_mhz: float = 1000.0
    vector_lanes: int = 64
    ifmap_bits: int = 8
    filter_bits: int = 8
    psum_bits: int = 32
    description: str = ""
    source: str = ""
    sparsity: SparsitySupport = field(default_factory=SparsitySupport)
    # register scratch-pad bytes per PE beyond its operand registers (Eyeriss: 24 B ifmap + 48 B psum); area only
    pe_register_bytes: int = 0
    # per-operand PE registers with their access energies (accel_models.registers); none: the default rule
    registers: dict[str, Register] = field(default_factory=dict)
    # a tile uses half a buffer while the other half refills (False: all of it, DRAM time not overlapped)
    double_buffered: bool = True
    # the ifmap and ofmap buffers are one SRAM that the input and output tiles share
    shared_io: bool = False
    # how many equal SRAM macros each buffer is built of (Eyeriss: 168 filter scratch-pads); area only
    ifmap_macros: int = 1
    filter_macros: int = 1
    ofmap_macros: int = 1
    # each PE holds a second weight register, so a weight-stationary fold's weights shift in while the
    # previous fold computes (TPU v1: "one 64 KiB tile of weights plus one for double-buffering (to hide
    # the 256 cycles it takes to shift a tile in)", Jouppi et al., ISCA 2017); False: SCALE-Sim's folds
    weight_double_buffered: bool = False
    # where partial sums are added between row folds: "sram", the ofmap buffer (TPU v1's accumulator SRAM,
    # Jouppi et al. 2017: a read and a write per output per fold at psum width, SCALE-Sim's counts); "pe", the
    # PEs' own psum registers and the adder chain down each column (Eyeriss's 24 x 16 b psum scratch-pads,
    # Chen et al., JSSC 2017: one write of each finished output). None: "sram". Weight-stationary arrays
    # only: the other dataflows keep a tile's sums in the PEs when it fits (accel_models.sim)
    psum_accumulation: str | None = None

    @property
    def psum_in_sram(self) -> bool:
        """Whether a weight-stationary array adds each row fold's partial sums into its ofmap buffer."""
        return self.dataflow == "ws" and (self.psum_accumulation or "sram") == "sram"

    @property
    def memory(self) -> Memory:
        bw = self.dram_bw_bytes_per_cycle if self.dram_bw_bytes_per_cycle else math.inf
        return Memory(self.ifmap_sram_bytes, self.filter_sram_bytes, self.ofmap_sram_bytes, bw,
                      self.double_buffered, self.shared_io)

    @property
    def sram_macros(self) -> dict[str, int]:
        """The number of SRAM macros of each buffer (``ifmap``, ``filter``, ``ofmap``)."""
        return {"ifmap": self.ifmap_macros, "filter": self.filter_macros, "ofmap": self.ofmap_macros}

    def to_dict(self) -> JsonDocument:
        """The resolved accelerator as the store, reports and point ids hold it (YAML's layout)."""
        array: JsonDocument = {"rows": self.rows, "cols": self.cols, "dataflow": self.dataflow}
        if self.pe_register_bytes:   # only when set, so accelerators without it keep their resolved form
            array["pe_register_bytes"] = self.pe_register_bytes
        if self.weight_double_buffered:   # the same
            array["weight_double_buffered"] = True
        if self.psum_accumulation is not None:   # the same
            array["psum_accumulation"] = self.psum_accumulation
        return {
            "name": self.name, "description": self.description, "clock_mhz": self.clock_mhz,
            "array": array,
            "pe": self.pe.to_dict(),
            "sram": {"ifmap_kb": self.ifmap_sram_bytes / 1024, "filter_kb": self.filter_sram_bytes / 1024,
                     "ofmap_kb": self.ofmap_sram_bytes / 1024,
                     # only when not the default, so other accelerators keep their resolved form
                     **({} if self.double_buffered else {"double_buffered": False}),
                     **({"shared_io": True} if self.shared_io else {}),
                     **{f"{k}_macros": n for k, n in self.sram_macros.items() if n != 1}},
            "dram": {"bandwidth_bytes_per_cycle": self.dram_bw_bytes_per_cycle},
            "vector_unit": {"lanes": self.vector_lanes},
            "operands": {"ifmap_bits": self.ifmap_bits, "filter_bits": self.filter_bits,
                         "psum_bits": self.psum_bits},
            "sparsity": self.sparsity.to_dict(),
            # only when declared, so accelerators without registers keep their resolved form
            **({"registers": {k: r.to_dict() for k, r in self.registers.items()}} if self.registers else {}),
        }


# --------------------------------------------------------------------------- YAML with line numbers
def _lines(node: yaml.Node, prefix: str, out: dict[str, int]) -> None:
    out.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = f"{prefix}.{k.value}" if prefix else str(k.value)
            out[key] = v.start_mark.line + 1
            _lines(v, key, out)


class _Fields:
    """Reads typed fields out of the loaded mapping; every error says file:line and the field path."""

    def __init__(self, data: dict, lines: dict[str, int], source: str):
        self.data, self.lines, self.source = data, lines, source

    def where(self, path: str) -> str:
        line = self.lines.get(path)
        while line is None and "." in path:
            path = path.rsplit(".", 1)[0]
            line = self.lines.get(path)
        line = line or self.lines.get("", 1)
        return f"{self.source}:{line}" if self.source else f"line {line}"

    def get(self, path: str, default: Any = KeyError) -> Any:
        cur: Any = self.data
        for part in path.split("."):
            if not isinstance(cur, dict) or part not in cur:
                if default is KeyError:
                    raise ConfigError(f"{self.where(path)}: {path}", "missing field")
                return default
            cur = cur[part]
        return cur

    def posint(self, path: str, default: Any = KeyError) -> int:
        v = self.get(path, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{self.where(path)}: {path}", f"expected a positive integer, got {v!r}")
        return v

    def posnum(self, path: str, default: Any = KeyError, allow_none: bool = False) -> float | None:
        v = self.get(path, default)
        if v is None and allow_none:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= MAX_QUANTITY:
            # NaN fails the comparison; .inf and 1e308 are refused too: they overflow every total
            raise ConfigError(f"{self.where(path)}: {path}",
                              f"expected a finite positive number up to {MAX_QUANTITY:g}, got {v!r}")
        return v

    def flag(self, path: str, default: bool) -> bool:
        v = self.get(path, default)
        if not isinstance(v, bool):
            raise ConfigError(f"{self.where(path)}: {path}", f"expected true or false, got {v!r}")
        return v

    def mapping(self, path: str, required: bool = True) -> dict:
        v = self.get(path, KeyError if required else {})
        if not isinstance(v, dict):
            raise ConfigError(f"{self.where(path)}: {path}", f"expected a mapping, got {v!r}")
        return v


# array.psum_accumulation's values: where a weight-stationary array adds partial sums between row folds
PSUM_ACCUMULATION = ("sram", "pe")

_TOP = {"name", "description", "clock_mhz", "array", "pe", "sram", "dram", "vector_unit", "operands", "notes",
        "source", "sparsity", "registers"}
_SUB = {"array": {"rows", "cols", "dataflow", "pe_register_bytes", "weight_double_buffered", "psum_accumulation"}, "sram": {"ifmap_kb", "filter_kb", "ofmap_kb", "double_buffered", "shared_io",
                                                                         "ifmap_macros", "filter_macros", "ofmap_macros"},
        "dram": {"bandwidth_bytes_per_cycle"}, "vector_unit": {"lanes"},
        "operands": {"ifmap_bits", "filter_bits", "psum_bits"},
        "sparsity": {"weights", "activations", "load_balance"}}


def overridable_fields() -> list[str]:
    """Every dotted path an override may set (``array.rows``, ``pe.kind``, ``pe.bits``, ``clock_mhz``, ...)."""
    from accel_models.pe import PE_KINDS

    out = ["description", "clock_mhz"] + [f"{s}.{k}" for s, keys in _SUB.items() for k in sorted(keys)]
    out += ["pe.kind"] + sorted({f"pe.{f}" for cls in PE_KINDS.values() for f in cls.fields})
    return out


def flatten_overrides(d: JsonDocument, prefix: str = "") -> dict[str, Json]:
    """``{array: {rows: 8}, clock_mhz: 500}`` (as a sweep file writes them) -> ``{"array.rows": 8,
    "clock_mhz": 500}``."""
    out: dict[str, Json] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(flatten_overrides(v, key))
        else:
            out[key] = v
    return out


def apply_overrides(data: JsonDocument, overrides: dict[str, Json]) -> JsonDocument:
    """A copy of accelerator ``data`` (a YAML mapping) with dotted-path ``overrides`` applied.

    An unknown path is a :class:`ConfigError` naming it. Changing ``pe.kind`` drops the old kind's
    parameters (a new kind starts from its own defaults plus the overrides given for it)."""
    import copy

    from accel_models.pe import PE_KINDS

    out = copy.deepcopy(data)
    known = set(overridable_fields())
    for path, value in overrides.items():
        if path not in known:
            close = [k for k in sorted(known) if k.split(".")[-1] == path.split(".")[-1]]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(path, f"unknown accelerator field{hint}; expected one of {', '.join(sorted(known))}")
        if path == "pe.kind":
            kind = value
            pe = out.get("pe") if isinstance(out.get("pe"), dict) else {}
            if kind in PE_KINDS and pe.get("kind") != kind:
                out["pe"] = {"kind": kind}
            else:
                out.setdefault("pe", {})["kind"] = kind
            continue
    for path, value in overrides.items():
        if path == "pe.kind":
            continue
        head, _, tail = path.partition(".")
        if tail:
            sec = out.get(head)
            if not isinstance(sec, dict):
                sec = {}
                out[head] = sec
            sec[tail] = value
        else:
            out[head] = value
    if isinstance(out.get("pe"), dict):
        kind = out["pe"].get("kind", "fp32")
        if kind in PE_KINDS:
            for k in list(out["pe"]):
                if k != "kind" and k not in PE_KINDS[kind].fields and f"pe.{k}" not in overrides:
                    del out["pe"][k]    # a parameter of the base's PE kind, not of the new one
    return out


def _read_spec(spec: str | os.PathLike | dict) -> tuple[Any, dict[str, int], str]:
    """(data, YAML line of each dotted field, source file or "") of an accelerator spec: a dict as it
    is, else a YAML file path or a YAML string."""
    lines: dict[str, int] = {}
    if isinstance(spec, dict):
        return spec, lines, ""
    text = str(spec)
    source = ""
    if isinstance(spec, os.PathLike) or (("\n" not in text) and (text.endswith((".yaml", ".yml"))
                                                                 or os.path.exists(text))):
        source = str(spec)
        try:
            text = Path(spec).read_text()
        except OSError as e:
            raise ConfigError(source, f"cannot read accelerator file: {e.strerror}") from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source or 'yaml'}:{mark.line + 1}" if mark else (source or "yaml")
        raise ConfigError(where, f"malformed YAML: {getattr(e, 'problem', e)}") from None
    if node is not None:
        _lines(node, "", lines)
    return data, lines, source


def _check_field_names(f: _Fields, data: dict) -> None:
    """Every top-level field and every field of a section is one the accelerator has."""
    for k in data:
        if k not in _TOP:
            raise ConfigError(f"{f.where(str(k))}: {k}", f"unknown field; expected one of {', '.join(sorted(_TOP))}")
    for sec, keys in _SUB.items():
        if sec in data:
            for k in f.mapping(sec):
                if k not in keys:
                    raise ConfigError(f"{f.where(f'{sec}.{k}')}: {sec}.{k}",
                                      f"unknown field; expected one of {', '.join(sorted(keys))}")


def load_accelerator(spec: str | os.PathLike | dict | Accelerator) -> Accelerator:
    """An accelerator from a YAML path, a YAML string, a dict or an Accelerator (returned as is)."""
    if isinstance(spec, Accelerator):
        return spec
    data, lines, source = _read_spec(spec)
    if not isinstance(data, dict):
        raise ConfigError(source or "accelerator", "expected a mapping with array, pe, sram, dram")
    f = _Fields(data, lines, source)
    _check_field_names(f, data)
    f.mapping("array")
    dataflow = f.get("array.dataflow", "ws")
    if dataflow not in DATAFLOWS:
        raise ConfigError(f"{f.where('array.dataflow')}: array.dataflow",
                          f"unknown dataflow {dataflow!r}; expected one of {', '.join(DATAFLOWS)}")
    pe_spec = f.mapping("pe", required=False) or {"kind": "fp32"}
    try:
        pe = build_pe(pe_spec)
    except ConfigError as e:
        key = e.where if e.where.startswith("pe") else "pe"
        raise ConfigError(f"{f.where(key)}: {key}", e.what) from None
    f.mapping("sram")
    kb = {k: f.posnum(f"sram.{k}_kb") for k in ("ifmap", "filter", "ofmap")}
    flags = {k: f.flag(f"sram.{k}", default) for k, default in (("double_buffered", True), ("shared_io", False))}
    for k in ("ifmap", "filter", "ofmap"):
        flags[f"{k}_macros"] = f.posint(f"sram.{k}_macros", 1)
    wdb = f.flag("array.weight_double_buffered", False)
    psum_acc = f.get("array.psum_accumulation", None)
    if psum_acc is not None and psum_acc not in PSUM_ACCUMULATION:
        raise ConfigError(f"{f.where('array.psum_accumulation')}: array.psum_accumulation",
                          f"expected one of {', '.join(PSUM_ACCUMULATION)}, got {psum_acc!r}")
    bw = f.posnum("dram.bandwidth_bytes_per_cycle", None, allow_none=True)
    name = f.get("name", Path(source).stem if source else "accelerator")
    regs = f.get("array.pe_register_bytes", 0)
    if isinstance(regs, bool) or not isinstance(regs, int) or regs < 0:
        raise ConfigError(f"{f.where('array.pe_register_bytes')}: array.pe_register_bytes",
                          f"expected a non-negative integer, got {regs!r}")
    try:
        registers = parse_registers(data.get("registers"))
    except ConfigError as e:
        raise ConfigError(f"{f.where(e.where)}: {e.where}", e.what) from None
    sp = f.mapping("sparsity", required=False) if "sparsity" in data else {}
    try:
        sparsity = SparsitySupport(**sp)
    except ConfigError as e:
        raise ConfigError(f"{f.where(e.where)}: {e.where}", e.what) from None
    return Accelerator(
        name=str(name), rows=f.posint("array.rows"), cols=f.posint("array.cols"), dataflow=dataflow, pe=pe,
        ifmap_sram_bytes=int(kb["ifmap"] * 1024), filter_sram_bytes=int(kb["filter"] * 1024),
        ofmap_sram_bytes=int(kb["ofmap"] * 1024), dram_bw_bytes_per_cycle=bw, **flags,
        clock_mhz=float(f.posnum("clock_mhz", 1000)), vector_lanes=f.posint("vector_unit.lanes", 64),
        ifmap_bits=f.posint("operands.ifmap_bits", 8), filter_bits=f.posint("operands.filter_bits", 8),
        psum_bits=f.posint("operands.psum_bits", 32), description=str(f.get("description", "")),
        source=source, sparsity=sparsity, pe_register_bytes=regs, registers=registers,
        weight_double_buffered=wdb, psum_accumulation=psum_acc,
    )


# --------------------------------------------------------------------------- SCALE-Sim .cfg
def read_scalesim_cfg(path: str | os.PathLike) -> Accelerator:
    """A SCALE-Sim v3 config file -> Accelerator (1-byte words on an int8 PE, SCALE-Sim's model)."""
    path = str(path)
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ConfigError(path, f"cannot read SCALE-Sim config: {e.strerror}") from None
    cp = configparser.ConfigParser()
    try:
        cp.read_string(text)
    except configparser.Error as e:
        raise ConfigError(path, f"malformed SCALE-Sim config: {e}".splitlines()[0]) from None

    def line_of(key: str) -> str:
        for i, ln in enumerate(text.splitlines(), 1):
            if ln.strip().lower().startswith(key.lower()):
                return f"{path}:{i}"
        return path

    def get(section: str, key: str) -> str:
        if not cp.has_option(section, key):
            raise ConfigError(f"{path}: [{section}] {key}", "missing field")
        return cp.get(section, key).strip()

    def posint(section: str, key: str) -> int:
        v = get(section, key)
        try:
            n = int(v)
        except ValueError:
            n = 0
        if n < 1 and not (key.endswith("Offset") and v == "0"):
            raise ConfigError(f"{line_of(key)}: {key}", f"expected a positive integer, got {v!r}")
        return n

    rows, cols = posint("architecture_presets", "ArrayHeight"), posint("architecture_presets", "ArrayWidth")
    df = get("architecture_presets", "Dataflow").lower()
    if df not in ("ws", "os", "is"):
        raise ConfigError(f"{line_of('Dataflow')}: Dataflow", f"expected ws, os or is, got {df!r}")
    sizes = [posint("architecture_presets", k) for k in ("IfmapSramSzkB", "FilterSramSzkB", "OfmapSramSzkB")]
    mode = get("run_presets", "InterfaceBandwidth").upper() if cp.has_section("run_presets") else "CALC"
    bw = None
    if mode == "USER":
        raw = get("architecture_presets", "Bandwidth").split(",")[0].strip()
        try:
            bw = float(int(raw))
        except ValueError:
            raise ConfigError(f"{line_of('Bandwidth')}: Bandwidth", f"expected an integer, got {raw!r}") from None
    elif mode != "CALC":
        raise ConfigError(f"{line_of('InterfaceBandwidth')}: InterfaceBandwidth", f"expected USER or CALC, got {mode!r}")
    name = cp.get("general", "run_name", fallback=Path(path).stem).strip()
    return Accelerator(name=name, rows=rows, cols=cols, dataflow=df, pe=build_pe({"kind": "int", "bits": 8}),
                       ifmap_sram_bytes=sizes[0] * 1024, filter_sram_bytes=sizes[1] * 1024,
                       ofmap_sram_bytes=sizes[2] * 1024, dram_bw_bytes_per_cycle=bw,
                       ifmap_bits=8, filter_bits=8, psum_bits=8, source=path,
                       description=f"SCALE-Sim config ({mode} bandwidth)")


# --------------------------------------------------------------------------- topology CSV
_CONV_COLS = ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels", "Num Filter", "Strides")
_GEMM_COLS = ("M", "N", "K")


def _topology_rows(path: str, text: str | None) -> list[tuple[int, list[str]]]:
    """The non-empty rows of a topology CSV, each with its line number and a trailing empty cell dropped."""
    if text is None:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise ConfigError(path, f"cannot read topology: {e.strerror}") from None
    rows = [(i, [c.strip() for c in r]) for i, r in enumerate(csv.reader(io.StringIO(text)), 1)]
    rows = [(i, r[:-1] if r and r[-1] == "" else r) for i, r in rows if any(c for c in r)]
    if not rows:
        raise ConfigError(path, "empty topology file")
    return rows


def _topology_kind(path: str, header: list[str], kind: str) -> str:
    """conv or gemm: as given, or from the header (a GEMM header names M, N, K after the layer)."""
    if kind == "auto":
        hdr = [h.lower() for h in header]
        kind = "gemm" if len(header) <= 5 and hdr[1:4] == ["m", "n", "k"] else "conv"
    if kind not in ("conv", "gemm"):
        raise ConfigError(path, f"unknown topology kind {kind!r}; expected conv or gemm")
    return kind


def _row_sizes(where: str, cols: tuple[str, ...], r: list[str]) -> list[int]:
    """The positive integer sizes of one topology row, by column."""
    vals = []
    for col, v in zip(cols, r[1:1 + len(cols)]):
        try:
            n = int(v)
        except ValueError:
            n = 0
        if n < 1:
            raise ConfigError(f"{where}: {col}", f"expected a positive integer, got {v!r}")
        vals.append(n)
    return vals


def _topology_layer(where: str, kind: str, name: str, vals: list[int]) -> ConvLayer | GemmLayer:
    if kind == "gemm":
        M, N, K = vals
        return GemmLayer(name=name, M=M, N=N, K=K)
    h, w, fh, fw, ch, nf, s = vals
    if fh > h or fw > w:
        raise ConfigError(f"{where}: Filter Height", "filter larger than the ifmap")
    if "DP" in name:   # SCALE-Sim: one layer per channel, each with nf filters
        return ConvLayer(name, h, w, fh, fw, ch, ch * nf, s, s, groups=ch)
    return ConvLayer(name, h, w, fh, fw, ch, nf, s, s)


def read_topology(path: str | os.PathLike, kind: str = "auto", text: str | None = None) -> list[ConvLayer | GemmLayer]:
    """A SCALE-Sim topology CSV (conv or GEMM, ``kind`` auto-detected from the header) -> layers."""
    path = str(path)
    (hline, header), *body = _topology_rows(path, text)
    kind = _topology_kind(path, header, kind)
    cols = _CONV_COLS if kind == "conv" else _GEMM_COLS
    if not body:
        raise ConfigError(f"{path}:{hline}", "no layers after the header")
    layers: list[ConvLayer | GemmLayer] = []
    for ln, r in body:
        if len(r) < 1 + len(cols):
            missing = cols[len(r) - 1] if len(r) >= 1 else "Layer name"
            raise ConfigError(f"{path}:{ln}: {missing}", f"missing column; a {kind} row has "
                                                         f"{1 + len(cols)} fields (name, {', '.join(cols)})")
        name = r[0] or f"layer{len(layers)}"
        vals = _row_sizes(f"{path}:{ln}", cols, r)
        try:
            layers.append(_topology_layer(f"{path}:{ln}", kind, name, vals))
        except ConfigError as e:
            if e.where.startswith(path):
                raise
            raise ConfigError(f"{path}:{ln}", e.what) from None
    return layers
