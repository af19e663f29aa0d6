"""Run ZigZag (zigzag-dse 3.9.1) on a network and accelerator; write its per-layer figures as JSON.

    python benchmarks/zigzag_run.py --accelerator tpu_like --out tests/fixtures/zigzag/resnet18_tpu_like.json
    python benchmarks/zigzag_run.py --accelerator eyeriss_like --out tests/fixtures/zigzag/resnet18_eyeriss_like.json

ZigZag (KU Leuven, ``pip install zigzag-dse six``) ships the ONNX ResNet-18, the TPU-like and
Eyeriss-like accelerators and their mapping files used here; its ONNX parser turns Conv, Gemm and
MatMul into layers (8-bit inputs and weights, 16-bit partial sums, 8-bit final outputs by default).
Its LOMA temporal-mapping search takes about ten minutes per ResNet-18 and accelerator on two cores, so
the comparison (benchmarks/vs_zigzag.py, tests/test_vs_zigzag.py) reads the cached output instead.

Small designs (buffers smaller than a layer) run a few layers instead of a whole network:

    python benchmarks/zigzag_run.py --accelerator tpu_like --sram-kib 64 \
        --conv 64,128,56,3,1 --conv 128,128,28,3,1 --out tests/fixtures/zigzag/convs_tpu_like_sram64k.json

``--conv C,K,H,kernel,stride`` adds one square convolution (padding kernel // 2, batch 1) to an ONNX graph
written with the ``onnx`` package (each layer reads a fresh input, so the layers are independent), and
``--sram-kib`` sets the size of the accelerator's on-chip input SRAM (the memory above the registers that holds
operand I1) in a copy of its YAML; the file records both.

Layer sets (benchmarks/zigzag_sets.py: other networks, array sizes, precisions, dataflows) run with ``--set``:

    python benchmarks/zigzag_run.py --set mobilenet_v2_tpu_like    # -> tests/fixtures/zigzag/set_<name>.json

``--layer conv:C,K,H,KERNEL,STRIDE[,GROUPS]`` / ``gemm:ROWS,C,K`` add layers (ONNX Conv / Gemm nodes, precisions
through ZigZag's ``weight_size`` / ``act_size`` node attributes; ``--batch B`` runs the convolutions at batch B), ``--array N`` makes the array N x N (and
scales the mapping's unrollings), ``--spatial D1=K,32`` replaces the default spatial unrolling; a depthwise
layer gets a mapping entry that unrolls its filter window.

Per layer the file holds: the loop sizes, MACs, the spatial and temporal mapping ZigZag chose, the
cycles (ideal, computation, with on/offloading), the MAC energy, and per operand and memory level the
element moves (with their precision), word accesses and energy. DRAM bytes = elements x precision / 8
at the top level. Nothing here imports hwsim.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path


def _package_dir() -> Path:
    import zigzag

    return Path(zigzag.__file__).parent


def _level_rows(cme) -> dict[str, list[dict]]:
    """Per layer operand (W, I, O), per memory level from the PE outwards: the element moves, their
    precisions, ZigZag's word accesses and energy."""
    out: dict[str, list[dict]] = {}
    for op in cme.layer.layer_operands:
        mem_op = cme.memory_operand_links.layer_to_mem_op(op)
        levels = cme.accelerator.memory_hierarchy.get_memory_levels(mem_op=mem_op)
        rows = []
        for lv in range(cme.mapping.mem_level[op]):
            mv = cme.mapping.unit_mem_data_movement[op][lv]
            counts = mv.get_attribute(_attr("DATA_ELEM_MOVE_COUNT")).data
            prec = mv.get_attribute(_attr("DATA_PRECISION")).data
            words = cme.memory_word_access[op][lv]
            energy = cme.mem_energy_breakdown_further[op][lv]
            level = levels[lv]
            unique = cme.mapping.spatial_mapping.unit_count[op][lv + 1]
            rows.append({
                "memory": level.name,
                "r_cost_pj": level.read_energy, "w_cost_pj": level.write_energy,
                "size_bits": level.memory_instance.size,
                "unit_count": int(unique),
                "elements": {str(k): int(v) for k, v in counts.items()},
                "precision_bits": {str(k): int(v) for k, v in prec.items()},
                "word_accesses": {str(k): int(words.get(k)) for k in counts},
                "energy_pj": {str(k): float(energy.get(k)) for k in counts},
            })
        out[str(op)] = rows
    return out


def _ints(obj) -> dict[str, int] | str:
    """A ZigZag attribute mapping (``.data`` dict or dict-like) as {name: int}; its text if it is not one."""
    data = getattr(obj, "data", obj)
    try:
        return {str(k): int(v) for k, v in data.items()}
    except (AttributeError, TypeError, ValueError):
        return str(obj)


def _attr(name: str):
    from zigzag.mapping.data_movement import DataMoveAttr

    return getattr(DataMoveAttr, name)


def conv_onnx(convs: list[tuple[int, int, int, int, int]], path: Path) -> None:
    """An ONNX graph of independent square convolutions (C, K, H, kernel, stride), padding kernel // 2, batch 1."""
    layers_onnx([("conv", c) for c in convs], path)


def parse_layer(spec: str) -> tuple[str, tuple[int, ...]]:
    """``conv:C,K,H,KERNEL,STRIDE[,GROUPS]`` or ``gemm:ROWS,C,K`` (ROWS x C input times C x K weights)."""
    kind, _, nums = spec.partition(":")
    vals = tuple(int(v) for v in nums.split(","))
    if kind == "conv" and len(vals) == 5:
        vals = (*vals, 1)
    if (kind, len(vals)) not in (("conv", 6), ("gemm", 3)):
        raise ValueError(f"{spec!r}: expected conv:C,K,H,KERNEL,STRIDE[,GROUPS] or gemm:ROWS,C,K")
    return kind, vals


def layers_onnx(layers: list[tuple[str, tuple[int, ...]]], path: Path, weight_bits: int | None = None,
                act_bits: int | None = None, batch: int = 1) -> None:
    """An ONNX graph of independent layers (each reads a fresh input): square convolutions (C, K, H, kernel,
    stride[, groups]) with padding kernel // 2 at ``batch``, and GEMMs (rows, C, K) as ONNX Gemm with constant
    weights. ``weight_bits`` / ``act_bits`` set ZigZag's operand precisions (its ``weight_size`` and
    ``act_size`` node attributes; partial sums default to twice the activation width)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    prec = {k: v for k, v in (("weight_size", weight_bits), ("act_size", act_bits)) if v}
    nodes, inputs, outputs, inits = [], [], [], []
    for i, (kind, vals) in enumerate(layers):
        if kind == "gemm":
            d, c, k = vals
            inputs.append(helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, [d, c]))
            outputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, [d, k]))
            inits.append(numpy_helper.from_array(np.zeros((c, k), dtype=np.float32), f"w{i}"))
            nodes.append(helper.make_node("Gemm", [f"x{i}", f"w{i}"], [f"y{i}"], name=f"gemm{i}", **prec))
            continue
        c, k, h, r, st, g = (*vals, 1)[:6]
        p = r // 2
        o = (h + 2 * p - r) // st + 1
        inputs.append(helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, [batch, c, h, h]))
        outputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, [batch, k, o, o]))
        inits.append(numpy_helper.from_array(np.zeros((k, c // g, r, r), dtype=np.float32), f"w{i}"))
        nodes.append(helper.make_node("Conv", [f"x{i}", f"w{i}"], [f"y{i}"], name=f"{'dw' if g == c > 1 else ''}conv{i}",
                                      kernel_shape=[r, r],
                                      strides=[st, st], pads=[p, p, p, p], group=g, **prec))
    graph = helper.make_graph(nodes, "layers", inputs, outputs, initializer=inits)
    model = onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    onnx.save(model, str(path))


def sized_yaml(acc_path: Path, sram_kib: int, out: Path) -> None:
    """A copy of an accelerator YAML whose on-chip memory of the inputs (operand I1, not DRAM) holds
    ``sram_kib`` KiB (ZigZag sizes are in bits)."""
    import yaml

    acc = yaml.safe_load(acc_path.read_text())
    hit = [m for name, m in acc["memories"].items() if name != "dram" and "I1" in m["operands"]
           and m["size"] > 8 * 1024]
    if not hit:
        raise SystemExit(f"{acc_path}: no on-chip input memory to resize")
    for m in hit:
        m["size"] = sram_kib * 8192
    out.write_text(yaml.safe_dump(acc, sort_keys=False))


def held_weight_register(acc_path: Path, weight_bits: int, out: Path) -> None:
    """A copy of a matched design (``*_matched.yaml``) whose per-PE weight register holds one weight of
    ``weight_bits`` and its double-buffer shadow, as the TPU's: ZigZag would otherwise cycle several narrow
    weights through a register sized for two 8-bit ones."""
    import yaml

    acc = yaml.safe_load(acc_path.read_text())
    for m in acc["memories"].values():
        if m["operands"] == ["I2"] and not m["served_dimensions"]:
            m["size"] = 2 * weight_bits
    out.write_text(yaml.safe_dump(acc, sort_keys=False))


def arrayed_yaml(acc_path: Path, map_path: Path, side: int, acc_out: Path, map_out: Path,
                 cols: int | None = None) -> None:
    """Copies of an accelerator and its mapping with a ``side`` x ``side`` MAC array: the operational array's
    sizes and every spatial unrolling's factor (K over D1, C over D2 in TPU-like's mapping) set to ``side``;
    the per-PE registers, SRAM sizes and DRAM stay as declared, and fixed-width array ports scale with the side.
    ``cols``: a ``side`` x ``cols`` array instead (D2, the reduction, of ``side``; D1, the output channels, of
    ``cols``)."""
    import yaml

    acc = yaml.safe_load(acc_path.read_text())
    base = acc["operational_array"]["sizes"][0]
    new = {"D1": cols or side, "D2": side}
    acc["operational_array"]["sizes"] = [new[d] for d in acc["operational_array"]["dimensions"]]
    # a memory that serves the whole array through fixed-width ports (the matched designs' input SRAM and
    # accumulators: one word per array row or column per cycle) widens with the array, at the same cost per bit
    for name, m in acc["memories"].items():
        ports = m.get("ports", [])
        if m.get("served_dimensions") and ports and name != "dram" and \
                all(p["bandwidth_min"] == p["bandwidth_max"] for p in ports):
            # inputs enter along the array's rows (D2); partial sums leave along its columns (D1), and an
            # output-stationary array's weights enter along them (the os design's weight SRAM)
            n = new["D1"] if m["operands"] in (["O"], ["I2"]) else new["D2"]
            for p in ports:
                p["bandwidth_min"] = p["bandwidth_max"] = p["bandwidth_max"] * n // base
            m["r_cost"], m["w_cost"] = m["r_cost"] * n / base, m["w_cost"] * n / base
    acc_out.write_text(yaml.safe_dump(acc, sort_keys=False))
    maps = yaml.safe_load(map_path.read_text())
    for m in maps:
        for dim, loops in m.get("spatial_mapping", {}).items():
            m["spatial_mapping"][dim] = [f"{loop.split(',')[0].strip()}, {new[dim]}" if int(loop.split(",")[1]) > 1
                                         else loop for loop in loops]
    map_out.write_text(yaml.safe_dump(maps, sort_keys=False))


def spatial_mapping(map_path: Path, spatial: list[str], out: Path) -> None:
    """A copy of a mapping file whose default entry unrolls ``DIM=LOOP,SIZE`` (one or more per array
    dimension) instead of its own, e.g. ``D1=K,32 D2=D,32``: output features by tokens, output-stationary."""
    import yaml

    maps = yaml.safe_load(map_path.read_text())
    base = next(m for m in maps if m["name"] == "default")
    new: dict[str, list[str]] = {}
    for sp in spatial:
        dim, _, loop = sp.partition("=")
        d, n = loop.split(",")
        new.setdefault(dim, []).append(f"{d}, {int(n)}")
    base["spatial_mapping"] = new
    out.write_text(yaml.safe_dump(maps, sort_keys=False))


def im2col_mapping(map_path: Path, wl_path: Path, out: Path) -> None:
    """A copy of a mapping file with an entry per convolution (by its ONNX node name) whose input channels
    fill fewer of the array's reduction rows (D2) than there are: it unrolls C, then FX, then FY over D2 while
    the product fits, the nearest ZigZag's whole-loop spatial factors come to hwsim's im2col array, which
    unrolls C x FY x FX over the rows in folds (ResNet-18's conv1: C 3 x FX 7 on 21 of 32 rows, where the
    default C alone keeps 3 busy). Other layers keep the default entry."""
    import onnx
    import yaml

    maps = yaml.safe_load(map_path.read_text())
    base = next(m for m in maps if m["name"] == "default")
    rows = next(int(loop.split(",")[1]) for loop in base["spatial_mapping"]["D2"])
    model = onnx.load(str(wl_path), load_external_data=False)   # shapes only
    shapes = {t.name: list(t.dims) for t in model.graph.initializer}
    for node in model.graph.node:
        w = shapes.get(node.input[1]) if node.op_type == "Conv" and len(node.input) > 1 else None
        if not w or len(w) != 4:
            continue
        _, c, fy, fx = w
        groups = next((a.i for a in node.attribute if a.name == "group"), 1)
        if c >= rows or fx * fy == 1 or groups > 1:   # depthwise layers: depthwise_mapping's entry
            continue
        loops, n = [f"C, {c}"], c
        for dim, size in (("FX", fx), ("FY", fy)):
            if n * size <= rows:
                loops.append(f"{dim}, {size}")
                n *= size
        maps.insert(0, {**copy.deepcopy(base), "name": node.name,
                        "spatial_mapping": {**copy.deepcopy(base["spatial_mapping"]), "D2": loops}})
    out.write_text(yaml.safe_dump(maps, sort_keys=False))


def depthwise_mapping(map_path: Path, layers: list[tuple[str, tuple[int, ...]]], out: Path) -> None:
    """A copy of a mapping file with an entry per depthwise convolution (``dwconv<i>``) that unrolls the filter
    window over D2 and nothing over D1, as an im2col array runs one group at a time (hwsim's mapping): the
    design's default unrolls K and C, both 1 in a depthwise layer, and would leave one PE busy."""
    import yaml

    maps = yaml.safe_load(map_path.read_text())
    base = next(m for m in maps if m["name"] == "default")
    for i, (kind, vals) in enumerate(layers):
        if kind == "conv" and vals[5] == vals[0] > 1:
            r = vals[3]
            maps.append({"name": f"dwconv{i}", "spatial_mapping": {"D1": ["K, 1"], "D2": [f"FX, {r}", f"FY, {r}"]},
                         "memory_operand_links": dict(base["memory_operand_links"])})
    out.write_text(yaml.safe_dump(maps, sort_keys=False))


def run(accelerator: str, workload: str, mapping: str, lpf_limit: int, opt: str = "latency",
        convs: list[tuple[int, int, int, int, int]] | None = None, sram_kib: int | None = None,
        layers: list[str] | None = None, array: int | None = None, weight_bits: int | None = None,
        act_bits: int | None = None, name: str | None = None, spatial: list[str] | None = None,
        cols: int | None = None, im2col: bool = False, batch: int = 1) -> dict:
    from zigzag.api import get_hardware_performance_zigzag

    pkg = _package_dir() / "inputs"
    acc_path = Path(accelerator) if accelerator.endswith(".yaml") else pkg / "hardware" / f"{accelerator}.yaml"
    if not acc_path.is_absolute() and not acc_path.exists():   # a file of this repository
        acc_path = Path(__file__).resolve().parents[1] / acc_path
    map_path = pkg / "mapping" / f"{mapping}.yaml"
    wl_path = Path(workload) if workload.endswith(".onnx") else pkg / "workload" / f"{workload}.onnx"
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    with tempfile.TemporaryDirectory() as dump:
        if convs:
            wl_path = Path(dump) / "convs.onnx"
            conv_onnx(convs, wl_path)
        if layers:
            wl_path = Path(dump) / "layers.onnx"
            layers_onnx([parse_layer(x) for x in layers], wl_path, weight_bits, act_bits, batch)
        if array:
            acc_out, map_out = Path(dump) / f"{acc_path.stem}_{array}.yaml", Path(dump) / f"map_{array}.yaml"
            arrayed_yaml(acc_path, map_path, array, acc_out, map_out, cols)
            acc_path, map_path = acc_out, map_out
        if spatial:
            sp_map = Path(dump) / "map_spatial.yaml"
            spatial_mapping(map_path, spatial, sp_map)
            map_path = sp_map
        if layers and any(parse_layer(x)[1][5] == parse_layer(x)[1][0] > 1 for x in layers if x.startswith("conv")):
            dw_map = Path(dump) / "map_depthwise.yaml"
            depthwise_mapping(map_path, [parse_layer(x) for x in layers], dw_map)
            map_path = dw_map
        if im2col:
            i2c = Path(dump) / "map_im2col.yaml"
            im2col_mapping(map_path, wl_path, i2c)
            map_path = i2c
        if weight_bits and acc_path.stem.endswith("_matched"):
            held = Path(dump) / f"{acc_path.stem}_w{weight_bits}.yaml"
            held_weight_register(acc_path, weight_bits, held)
            acc_path = held
        if sram_kib:
            sized = Path(dump) / f"{acc_path.stem}.yaml"
            sized_yaml(acc_path, sram_kib, sized)
            acc_path = sized
        acc_text = acc_path.read_text()
        map_text = map_path.read_text()
        energy, latency, cmes = get_hardware_performance_zigzag(
            str(wl_path), str(acc_path), str(map_path), opt=opt, dump_folder=f"{dump}/out",
            lpf_limit=lpf_limit, loma_show_progress_bar=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    specs, layers = list(layers or []), []
    for cme, _ in cmes[0][1]:
        lay = cme.layer
        layers.append({
            "name": lay.name, "type": lay.type,
            "loop_sizes": _ints(lay.layer_dim_sizes),
            "pr_loop_sizes": _ints(getattr(lay, "pr_layer_dim_sizes", None)),
            "equation": str(getattr(lay, "equation", "")),
            "dimension_relations": [str(r) for r in getattr(lay, "dimension_relations", []) or []],
            "padding": str(getattr(lay, "padding", "")),
            "operand_precision": _ints(lay.operand_precision),
            "macs": int(lay.total_mac_count),
            "spatial_mapping": str(cme.spatial_mapping_int),
            "temporal_mapping": str(cme.temporal_mapping),
            "cycles": {"ideal": float(cme.ideal_cycle), "ideal_temporal": float(cme.ideal_temporal_cycle),
                       "computation": float(cme.latency_total0), "with_onloading": float(cme.latency_total1),
                       "total": float(cme.latency_total2)},
            "mac_energy_pj": float(cme.mac_energy),
            "energy_total_pj": float(cme.energy_total),
            "operands": _level_rows(cme),
        })
    import zigzag

    extra = "".join(f" --conv {','.join(map(str, c))}" for c in convs or []) + \
        "".join(f" --layer {x}" for x in specs) + "".join(f" --spatial {x}" for x in spatial or []) + \
        "".join(f" --{k} {v}" for k, v in (("sram-kib", sram_kib), ("array", array), ("weight-bits", weight_bits),
                                           ("act-bits", act_bits), ("name", name), ("array-cols", cols),
                                           ("batch", batch if batch > 1 else None)) if v) + \
        (" --im2col" if im2col else "")
    return {
        "tool": f"zigzag-dse {getattr(zigzag, '__version__', '3.9.1')}",
        "command": f"python benchmarks/zigzag_run.py --accelerator {accelerator}"
                   f"{'' if convs or specs else f' --workload {workload}'} --mapping {mapping} --lpf-limit {lpf_limit} --opt {opt}{extra}",
        "accelerator": accelerator, "workload": "convs" if convs else "layers" if specs else workload,
        "mapping": mapping, "name": name, "layer_specs": specs, "array": array, "array_cols": cols,
        "weight_bits": weight_bits, "act_bits": act_bits, "spatial": list(spatial or []), "im2col": im2col,
        "batch": batch,
        "mapping_yaml": map_text,
        "opt": opt, "search": "loma", "lpf_limit": lpf_limit,
        "convs": [list(c) for c in convs or []], "sram_kib": sram_kib,
        "accelerator_yaml": acc_text,
        "energy_total_pj": float(energy), "latency_total_cycles": float(latency),
        "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "python": platform.python_version(),
        "layers": layers,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accelerator", default="tpu_like", help="a hardware YAML shipped with ZigZag, or a .yaml path")
    ap.add_argument("--mapping", default=None, help="a mapping YAML shipped with ZigZag (default: the "
                                                    "accelerator's own, else default)")
    ap.add_argument("--workload", default="resnet18", help="an ONNX network shipped with ZigZag, or a .onnx path")
    ap.add_argument("--lpf-limit", type=int, default=6, help="LOMA's loop prime factor limit (ZigZag's default 6)")
    ap.add_argument("--opt", choices=("latency", "energy", "EDP"), default="latency",
                    help="what ZigZag's mapping search minimises (energy: DRAM-dominated, the fewest DRAM bytes)")
    ap.add_argument("--conv", action="append", default=[], metavar="C,K,H,KERNEL,STRIDE",
                    help="run these square convolutions (batch 1, padding kernel // 2) instead of --workload")
    ap.add_argument("--sram-kib", type=int, default=None, help="resize the accelerator's sram_* memories (KiB)")
    ap.add_argument("--layer", action="append", default=[], metavar="SPEC",
                    help="run these layers instead of --workload: conv:C,K,H,KERNEL,STRIDE[,GROUPS] (square, batch 1, "
                         "padding kernel // 2) or gemm:ROWS,C,K (a linear layer on ROWS tokens)")
    ap.add_argument("--array", type=int, default=None, help="a square MAC array of this side (and its mapping)")
    ap.add_argument("--array-cols", type=int, default=None,
                    help="with --array N: an N x COLS array (N rows reduce, COLS output channels)")
    ap.add_argument("--weight-bits", type=int, default=None, help="ZigZag's weight precision (default 8)")
    ap.add_argument("--act-bits", type=int, default=None, help="ZigZag's activation precision (default 8)")
    ap.add_argument("--name", default=None, help="the fixture set's name (recorded in the file)")
    ap.add_argument("--spatial", action="append", default=[], metavar="DIM=LOOP,SIZE",
                    help="unroll these loops over the array instead of the mapping's default (e.g. D1=K,32)")
    ap.add_argument("--im2col", action="store_true",
                    help="convolutions with fewer input channels than the array's reduction rows also unroll FX "
                         "(and FY) over them, as far as they fit (the nearest to hwsim's im2col array)")
    ap.add_argument("--batch", type=int, default=1, help="with --layer: the convolutions' batch (default 1)")
    ap.add_argument("--set", default=None, help="a layer set of benchmarks/zigzag_sets.py (its layers, design, "
                                                  "array and precisions; --out defaults to its fixture)")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    if a.set:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from zigzag_sets import SETS, ZIGZAG_MAPPING

        if a.set not in SETS:
            ap.error(f"--set: unknown set {a.set!r}; expected one of {', '.join(SETS)}")
        ls = SETS[a.set]
        a.accelerator, a.layer, a.array, a.name = ls.zigzag_hardware(), list(ls.layers), ls.array, ls.name
        a.mapping = a.mapping or ZIGZAG_MAPPING.get(ls.accelerator, ls.accelerator)
        a.array_cols, a.sram_kib = ls.cols, ls.sram_kib
        a.weight_bits, a.act_bits, a.spatial = ls.weight_bits, ls.act_bits, list(ls.spatial)
        a.im2col, a.batch = a.im2col or ls.im2col, ls.batch
        a.out = a.out or Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "zigzag" / f"set_{ls.name}.json"
    if a.out is None:
        ap.error("--out is required without --set")
    convs = [tuple(int(v) for v in c.split(",")) for c in a.conv]
    if any(len(c) != 5 for c in convs):
        ap.error("--conv takes C,K,H,KERNEL,STRIDE")
    stem = Path(a.accelerator).stem
    mapping = a.mapping or (stem if (_package_dir() / "inputs" / "mapping" / f"{stem}.yaml").exists() else "default")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    for x in a.layer:
        try:
            parse_layer(x)
        except ValueError as e:
            ap.error(str(e))
    res = run(a.accelerator, a.workload, mapping, a.lpf_limit, a.opt, convs, a.sram_kib, a.layer, a.array,
              a.weight_bits, a.act_bits, a.name, a.spatial, a.array_cols, a.im2col, a.batch)
    if a.set:   # the design hwsim is matched to, and the ZigZag hardware file relative to the repository
        res["accelerator"], res["hardware"] = ls.accelerator, a.accelerator
        res["command"] = f"python benchmarks/zigzag_run.py --set {a.set}"
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"{a.accelerator}: {len(res['layers'])} layers, {res['latency_total_cycles']:.0f} cycles, "
          f"{res['energy_total_pj'] / 1e6:,.2f} µJ, {res['wall_s']} s", file=sys.stderr)


if __name__ == "__main__":
    main()
