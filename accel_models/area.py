"""Silicon area of an accelerator: PE array, SRAM buffers, vector unit, wiring/control overhead.

Every figure comes from an area table (``configs/area/45nm.yaml``: published numbers, each with its
source); the rules below build components from them and are returned with each result
(:attr:`AreaReport.rules`), so a report can print how every number was made.

Rules (um2 at 45 nm)
  adder(b), multiplier(b)  Horowitz ISSCC 2014 area column. Adders: piecewise linear through
                           8/16/32 bits, proportional to b outside. Multipliers: a b^2 + c b through
                           8b and 32b (the form QKeras uses for multiplier energy).
  fp adder/multiplier      Horowitz fp16/fp32 figures; fp32 for wider than 16 bits.
  PE registers             ifmap + filter + psum bits of load-enabled registers (DFF_X1 + MUX2_X1 each:
                           the PE's operand and partial-sum registers, held under an enable as in
                           OpenROAD's TPU-style PE), plus 8 x ``array.pe_register_bytes`` bits of
                           register-file scratch-pad (Eyeriss' 24 B ifmap + 48 B psum spads; DFF_X1 +
                           write MUX2_X1 + one MUX2_X1 of read tree per bit), NanGate45 cells.
  PE kinds (accel_models.pe)
    fp32 / fp16            fp multiplier + fp adder of that width.
    int(bits)              int multiplier(bits) + int adder(psum_bits).
    bitfusion(pmax, pmin)  (pmax/pmin)^2 BitBricks, each a pmin-bit multiplier and a 2 pmax-bit
                           shift-add adder, + an int adder(psum_bits) accumulator.
    xnor(width)            width XNOR2 gates + a popcount tree of (width - 1) full adders + an int
                           adder(psum_bits); registers hold width-bit operands.
    sign_add(bits, lanes)  per lane: bits XNOR2 (conditional negate) + an int adder(psum_bits).
    shift_add(bits, lanes) per lane: a barrel shifter of bits x log2(bits) MUX2 + an int adder(psum_bits).
    fp8(lanes)             per lane: fp16 multiplier x multiplier(4) / multiplier(11) (E4M3's 4-bit
                           significands against fp16's 11; no published FP8 figure) + an fp32 adder.
    mx(bits, block)        a multiplier(bits) + an int adder(psum_bits), plus per block an fp32 adder
                           and a psum_bits x log2(psum_bits) MUX2 shifter shared by block products.
  SRAM(bytes, n macros)    n x periphery + per_bit x 8 x bytes, for each of the ifmap, filter and ofmap
                           buffers (n: the accelerator's sram.<buffer>_macros). periphery and per_bit are
                           the least-squares fit, in relative error, of the table's published macros
                           (OpenRAM's FreePDK45 layouts): decoders, sense amplifiers and control do not
                           shrink with a macro, so small macros cost more per bit. A table with
                           lambda2_per_bit instead prices every bit at lambda2_per_bit x (45 nm)^2.
  vector unit              lanes x (fp32 adder + fp32 multiplier) (element ops are priced as fp32).
  overhead                 logic (PE array + vector unit) / logic_utilization - logic (placement
                           whitespace, clock tree, power grid: OpenROAD's NanGate45 core utilization).
  node                     every area x the table's area factor at node_nm (Stillmaker & Baas 2017,
                           linear between tabulated nodes, proportional to the node outside them), or
                           x (node_nm / 45)^exponent where the table says ``rule: ideal``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from accel_models.config import Accelerator
from accel_models.errors import ConfigError
from accel_models.jsondoc import JsonDocument

AREA_TABLE = Path(__file__).resolve().parents[1] / "configs" / "area" / "45nm.yaml"
_REQUIRED = ("node_nm", "sources", "int_add_um2", "int_mult_um2", "fp_add_um2", "fp_mult_um2", "gates_um2",
             "registers", "sram", "overhead", "scaling")


@dataclass
class AreaTable:
    """A validated area table (see ``configs/area/45nm.yaml``)."""

    data: dict[str, Any]
    path: str = ""

    def points(self, key: str) -> dict[int, float]:
        return {int(k): float(v) for k, v in self.data[key]["points"].items()}

    def gate(self, name: str) -> float:
        return float(self.data["gates_um2"][name])

    def cite(self, key: str) -> str:
        src = self.data[key]["source"] if isinstance(self.data.get(key), dict) else key
        return self.data["sources"].get(src, src)

    @property
    def node_nm(self) -> float:
        return float(self.data["node_nm"])


# Parsed tables by (path, mtime, size): a hardware sweep builds an area report for every point.
_TABLES: dict[tuple[str, int, int], Any] = {}


def _read_table(path: str) -> Any:
    """The YAML at ``path``, parsed once per process while the file is unchanged (a deep copy each call)."""
    try:
        st = Path(path).stat()
        key = (str(Path(path).resolve()), st.st_mtime_ns, st.st_size)
        if key not in _TABLES:
            _TABLES[key] = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise ConfigError(path, f"cannot read area table: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(path, f"malformed YAML: {e}".splitlines()[0]) from None
    return copy.deepcopy(_TABLES[key])


def load_area_table(spec: str | Path | dict | AreaTable | None = None) -> AreaTable:
    """The area table at ``spec`` (a path or a dict; None: configs/area/45nm.yaml), validated."""
    if isinstance(spec, AreaTable):
        return spec
    path = ""
    if spec is None or not isinstance(spec, dict):
        path = str(spec or AREA_TABLE)
        data = _read_table(path)
    else:
        data = spec
    where = path or "area table"
    if not isinstance(data, dict):
        raise ConfigError(where, "expected a mapping")
    for k in _REQUIRED:
        if k not in data:
            raise ConfigError(f"{where}: {k}", "missing entry")
    for k in ("int_add_um2", "int_mult_um2", "fp_add_um2", "fp_mult_um2"):
        pts = data[k].get("points") if isinstance(data[k], dict) else None
        if not isinstance(pts, dict) or not pts or not all(
                isinstance(v, (int, float)) and v > 0 and int(b) > 0 for b, v in pts.items()):
            raise ConfigError(f"{where}: {k}.points", "expected {bits: positive um2, ...}")
        if data[k].get("source") not in data["sources"]:
            raise ConfigError(f"{where}: {k}.source", f"unknown source {data[k].get('source')!r}")
    if len(data["int_mult_um2"]["points"]) < 2:
        raise ConfigError(f"{where}: int_mult_um2.points", "needs two widths (the a b^2 + c b fit)")
    for g in ("xnor2", "mux2", "full_adder", "dff"):
        v = data["gates_um2"].get(g)
        if not isinstance(v, (int, float)) or v <= 0:
            raise ConfigError(f"{where}: gates_um2.{g}", f"expected a positive area in um2, got {v!r}")
    _check_registers(data, f"{where}: registers")
    _check_scaling(data["scaling"], f"{where}: scaling")
    u = data["overhead"].get("logic_utilization")
    if not isinstance(u, (int, float)) or not 0 < u <= 1:
        raise ConfigError(f"{where}: overhead.logic_utilization", f"expected a fraction in (0, 1], got {u!r}")
    _check_sram(data["sram"], f"{where}: sram")
    return AreaTable(data=data, path=path)


def _check_sram(sram: Any, where: str) -> None:
    macros = sram.get("macros") if isinstance(sram, dict) else None
    if macros is None:
        lp = sram.get("lambda2_per_bit") if isinstance(sram, dict) else None
        if not isinstance(lp, (int, float)) or lp <= 0:
            raise ConfigError(f"{where}.lambda2_per_bit", f"expected a positive number (or macros), got {lp!r}")
        return
    if not isinstance(macros, list) or len(macros) < 2 or not all(
            isinstance(m, list) and len(m) == 3 and all(isinstance(v, (int, float)) and v > 0 for v in m)
            for m in macros):
        raise ConfigError(f"{where}.macros", "expected two or more [words, bits per word, um2] entries")
    if len({m[0] * m[1] for m in macros}) < 2:
        raise ConfigError(f"{where}.macros", "needs two macro sizes or more (the periphery + per-bit fit)")
    periphery, per_bit = _fit_macros(macros)
    if periphery < 0 or per_bit <= 0:
        raise ConfigError(f"{where}.macros", f"the fit gives periphery {periphery:.4g} um2 and {per_bit:.4g} um2 "
                          "per bit; expected both positive")


def _fit_macros(macros: list[list[float]]) -> tuple[float, float]:
    """(periphery, per_bit) minimising sum(((periphery + per_bit x bits) / area - 1)^2) over the macros."""
    # weighted least squares with weight 1/area: the 2 x 2 normal equations of x = 1/area, y = bits/area
    xs = [1.0 / m[2] for m in macros]
    ys = [m[0] * m[1] / m[2] for m in macros]
    sxx, syy, sxy = sum(x * x for x in xs), sum(y * y for y in ys), sum(x * y for x, y in zip(xs, ys))
    sx, sy = sum(xs), sum(ys)
    det = sxx * syy - sxy * sxy
    return (sx * syy - sy * sxy) / det, (sy * sxx - sx * sxy) / det


def _check_registers(data: dict[str, Any], where: str) -> None:
    for k in ("operand_bit", "scratchpad_bit"):
        cells = data["registers"].get(k) if isinstance(data["registers"], dict) else None
        if not isinstance(cells, list) or not cells or not all(
                isinstance(data["gates_um2"].get(c), (int, float)) for c in cells):
            raise ConfigError(f"{where}.{k}", f"expected a list of gates_um2 cells, got {cells!r}")


def _check_scaling(sc: Any, where: str) -> None:
    if not isinstance(sc, dict) or sc.get("rule", "ideal") not in ("ideal", "table"):
        raise ConfigError(f"{where}.rule", "expected 'ideal' or 'table'")
    if sc.get("rule", "ideal") == "table":
        f = sc.get("area_factor")
        if not isinstance(f, dict) or len(f) < 2 or not all(
                isinstance(v, (int, float)) and v > 0 and float(n) > 0 for n, v in f.items()):
            raise ConfigError(f"{where}.area_factor", "expected {node_nm: positive factor, ...} (two nodes or more)")
    elif not isinstance(sc.get("exponent", 2), (int, float)):
        raise ConfigError(f"{where}.exponent", f"expected a number, got {sc.get('exponent')!r}")


def node_scale(t: AreaTable, node_nm: float) -> tuple[float, str]:
    """The factor that takes an area at the table's node to ``node_nm``, and how it was made."""
    sc = t.data["scaling"]
    if sc.get("rule", "ideal") == "ideal":
        e = float(sc.get("exponent", 2))
        f = (node_nm / t.node_nm) ** e
        return f, f"x ({node_nm:g}/{t.node_nm:g})^{e:g} = {f:.4g} ({t.cite('scaling')})"
    pts = sorted((float(n), float(v)) for n, v in sc["area_factor"].items())
    (n0, f0), (n1, f1) = pts[0], pts[-1]
    if node_nm <= n0:
        f, how = f0 * node_nm / n0, f"{f0:g} at {n0:g} nm x {node_nm:g}/{n0:g}"
    elif node_nm >= n1:
        f, how = f1 * node_nm / n1, f"{f1:g} at {n1:g} nm x {node_nm:g}/{n1:g}"
    else:
        (lo, flo), (hi, fhi) = next((a, b) for a, b in zip(pts, pts[1:]) if a[0] <= node_nm <= b[0])
        f = flo + (fhi - flo) * (node_nm - lo) / (hi - lo)
        how = (f"{f:.4g} at {node_nm:g} nm" if node_nm in (lo, hi) else
               f"linear between {flo:g} at {lo:g} nm and {fhi:g} at {hi:g} nm")
    return f, f"x {f:.4g} ({how}; area factors from {t.node_nm:g} nm, {t.cite('scaling')})"


# --------------------------------------------------------------------------- primitives
def _linear(points: dict[int, float], bits: float) -> float:
    """Piecewise linear through the published widths, proportional to bits outside them."""
    ks = sorted(points)
    if bits <= ks[0]:
        return points[ks[0]] * bits / ks[0]
    if bits >= ks[-1]:
        return points[ks[-1]] * bits / ks[-1]
    for lo, hi in zip(ks, ks[1:]):
        if lo <= bits <= hi:
            return points[lo] + (points[hi] - points[lo]) * (bits - lo) / (hi - lo)
    raise AssertionError  # pragma: no cover


def int_add_um2(t: AreaTable, bits: float) -> float:
    return _linear(t.points("int_add_um2"), bits)


def int_mult_um2(t: AreaTable, bits: float) -> float:
    """a b^2 + c b through the two widest published multipliers (8b 282, 32b 3495 um2 at 45 nm)."""
    pts = t.points("int_mult_um2")
    (b1, a1), (b2, a2) = sorted(pts.items())[-2:]
    a = (a2 / b2 - a1 / b1) / (b2 - b1)
    c = a1 / b1 - a * b1
    return a * bits * bits + c * bits


def fp_um2(t: AreaTable, op: str, bits: int) -> float:
    pts = t.points(f"fp_{op}_um2")
    return pts[16] if bits <= 16 and 16 in pts else pts[max(pts)]


# --------------------------------------------------------------------------- PEs
def pe_area_um2(acc: Accelerator, t: AreaTable) -> dict[str, float]:
    """One PE's area at 45 nm, split into ``compute`` (arithmetic) and ``registers``."""
    kind, p = acc.pe.kind, acc.pe.params
    psum = acc.psum_bits
    regs_bits = acc.ifmap_bits + acc.filter_bits + psum
    if kind == "fp32":
        compute = fp_um2(t, "mult", 32) + fp_um2(t, "add", 32)
    elif kind == "fp16":
        compute = fp_um2(t, "mult", 16) + fp_um2(t, "add", 16)
    elif kind == "int":
        compute = int_mult_um2(t, p["bits"]) + int_add_um2(t, psum)
    elif kind == "bitfusion":
        bricks = (p["pmax"] // p["pmin"]) ** 2
        compute = bricks * (int_mult_um2(t, p["pmin"]) + int_add_um2(t, 2 * p["pmax"])) + int_add_um2(t, psum)
        regs_bits = 2 * p["pmax"] + psum
    elif kind == "xnor":
        w = p["width"]
        compute = w * t.gate("xnor2") + (w - 1) * t.gate("full_adder") + int_add_um2(t, psum)
        regs_bits = 2 * w + psum
    elif kind == "sign_add":
        lanes, b = p["lanes"], p["bits"]
        compute = lanes * (b * t.gate("xnor2") + int_add_um2(t, psum))
        regs_bits = lanes * (b + 1 + psum)
    elif kind == "shift_add":
        lanes, b = p["lanes"], p["bits"]
        compute = lanes * (b * max(1, math.ceil(math.log2(b))) * t.gate("mux2") + int_add_um2(t, psum))
        regs_bits = lanes * (2 * b + psum)
    elif kind == "fp8":
        # no published 45 nm FP8 multiplier: fp16's multiplier scaled by its significand multiplier
        # (4 x 4 bits for E4M3 against 11 x 11), plus an fp32 accumulating adder
        mult = fp_um2(t, "mult", 16) * int_mult_um2(t, 4) / int_mult_um2(t, 11)
        compute = p["lanes"] * (mult + fp_um2(t, "add", 32))
    elif kind == "mx":
        # a bits-bit multiplier (MXINT8's; float elements use its significand part) and a fixed-point
        # adder per product; per block of products one fp32 adder and a psum-bit barrel shifter
        shifter = psum * max(1, math.ceil(math.log2(psum))) * t.gate("mux2")
        compute = int_mult_um2(t, p["bits"]) + int_add_um2(t, psum) + (fp_um2(t, "add", 32) + shifter) / p["block"]
    else:
        raise ConfigError("pe.kind", f"no area rule for PE kind {kind!r}")
    registers = regs_bits * register_bit_um2(t, "operand_bit") + 8 * acc.pe_register_bytes * register_bit_um2(
        t, "scratchpad_bit")
    return {"compute": compute, "registers": registers}


def register_bit_um2(t: AreaTable, kind: str) -> float:
    """One register bit of ``kind`` (``operand_bit`` or ``scratchpad_bit``): the sum of its cells."""
    return sum(t.gate(c) for c in t.data["registers"][kind])


def sram_macro_rule(t: AreaTable) -> tuple[float, float]:
    """(periphery um2 per macro, um2 per bit) at the table's node: fitted to its published macros, or
    (0, lambda2_per_bit x (45 nm)^2) for a table with one flat per-bit figure."""
    sram = t.data["sram"]
    if "macros" in sram:
        return _fit_macros(sram["macros"])
    lam_um = 45e-3   # the table's feature size (45 nm) in um
    return 0.0, float(sram["lambda2_per_bit"]) * lam_um * lam_um


def sram_um2(t: AreaTable, nbytes: float, macros: int = 1) -> float:
    """A buffer of ``nbytes`` built of ``macros`` equal macros, um2 at the table's node."""
    periphery, per_bit = sram_macro_rule(t)
    return macros * periphery + per_bit * 8 * nbytes


# --------------------------------------------------------------------------- accelerator
@dataclass
class AreaReport:
    """Area of one accelerator: ``breakdown`` in mm2 at ``node_nm`` (components sum to ``total_mm2``)."""

    accelerator: str
    node_nm: float
    breakdown: dict[str, float]
    rules: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    per_pe_um2: float = 0.0

    @property
    def total_mm2(self) -> float:
        return sum(self.breakdown.values())

    def to_dict(self) -> JsonDocument:
        return {"accelerator": self.accelerator, "node_nm": self.node_nm, "total_mm2": self.total_mm2,
                "breakdown_mm2": dict(self.breakdown), "per_pe_um2_45nm": self.per_pe_um2,
                "rules": dict(self.rules), "sources": dict(self.sources)}


def _sram_rule(t: AreaTable, n_mac: dict[str, int], periphery: float, per_bit: float) -> str:
    if "macros" not in t.data["sram"]:
        return f"{per_bit:.3f} um2 per bit ({t.data['sram']['lambda2_per_bit']} lambda^2, {t.cite('sram')})"
    counts = ", ".join(f"{k} {n}" for k, n in n_mac.items())
    return (f"macros x {periphery:.0f} um2 of periphery + {per_bit:.3f} um2 per bit (macros: {counts}; the fit "
            f"of {len(t.data['sram']['macros'])} published macros, {t.cite('sram')})")


def accelerator_area(acc: Accelerator, node_nm: float = 45.0, table: Any = None) -> AreaReport:
    """The area of ``acc`` at ``node_nm`` (mm2), by component, with the rules and sources used."""
    if not (isinstance(node_nm, (int, float)) and node_nm > 0):
        raise ConfigError("node_nm", f"expected a positive feature size in nm, got {node_nm!r}")
    t = load_area_table(table)
    scale, scale_rule = node_scale(t, float(node_nm))
    pe = pe_area_um2(acc, t)
    n_pe = acc.rows * acc.cols
    periphery, per_bit = sram_macro_rule(t)
    n_mac = acc.sram_macros
    um2 = {
        "pe_compute": n_pe * pe["compute"],
        "pe_registers": n_pe * pe["registers"],
        "sram_ifmap": sram_um2(t, acc.ifmap_sram_bytes, n_mac["ifmap"]),
        "sram_filter": sram_um2(t, acc.filter_sram_bytes, n_mac["filter"]),
        "sram_ofmap": sram_um2(t, acc.ofmap_sram_bytes, n_mac["ofmap"]),
        "vector_unit": acc.vector_lanes * (fp_um2(t, "add", 32) + fp_um2(t, "mult", 32)),
    }
    logic = um2["pe_compute"] + um2["pe_registers"] + um2["vector_unit"]
    um2["overhead"] = logic / float(t.data["overhead"]["logic_utilization"]) - logic
    rules = {
        "pe_compute": f"{n_pe} PEs x {pe['compute']:.1f} um2 ({acc.pe.kind} {acc.pe.params or ''}: "
                      f"arithmetic from {t.cite('int_add_um2')} and {t.cite('gates_um2')})",
        "pe_registers": f"{n_pe} PEs x {pe['registers']:.1f} um2: operand registers "
                        f"{'+'.join(t.data['registers']['operand_bit'])} "
                        f"({register_bit_um2(t, 'operand_bit'):.3f} um2/bit), {acc.pe_register_bytes} B of "
                        f"scratch-pad {'+'.join(t.data['registers']['scratchpad_bit'])} "
                        f"({register_bit_um2(t, 'scratchpad_bit'):.3f} um2/bit), NanGate45 cells "
                        f"({t.cite('gates_um2')}; {t.cite('registers')})",
        "sram": _sram_rule(t, n_mac, periphery, per_bit),
        "vector_unit": f"{acc.vector_lanes} lanes x (fp32 adder + fp32 multiplier) ({t.cite('fp_add_um2')})",
        "overhead": f"logic / {t.data['overhead']['logic_utilization']} placement utilization - logic "
                    f"({t.cite('overhead')})",
        "node": scale_rule,
    }
    return AreaReport(accelerator=acc.name, node_nm=float(node_nm),
                      breakdown={k: v * scale / 1e6 for k, v in um2.items()}, rules=rules,
                      sources=dict(t.data["sources"]), per_pe_um2=pe["compute"] + pe["registers"])
