"""Run ZigZag (zigzag-dse 3.9.1) on a network and accelerator; write its per-layer figures as JSON.

    python benchmarks/zigzag_run.py --accelerator tpu_like --out tests/fixtures/zigzag/resnet18_tpu_like.json
    python benchmarks/zigzag_run.py --accelerator eyeriss_like --out tests/fixtures/zigzag/resnet18_eyeriss_like.json

ZigZag (KU Leuven, ``pip install zigzag-dse six``) ships the ONNX ResNet-18, the TPU-like and
Eyeriss-like accelerators and their mapping files used here; its ONNX parser turns Conv, Gemm and
MatMul into layers (8-bit inputs and weights, 16-bit partial sums, 8-bit final outputs by default).
Its LOMA temporal-mapping search takes about a minute per network and accelerator on two cores, so
the comparison (benchmarks/vs_zigzag.py, tests/test_vs_zigzag.py) reads the cached output instead.

Per layer the file holds: the loop sizes, MACs, the spatial and temporal mapping ZigZag chose, the
cycles (ideal, computation, with on/offloading), the MAC energy, and per operand and memory level the
element moves (with their precision), word accesses and energy. DRAM bytes = elements x precision / 8
at the top level. Nothing here imports hwsim.
"""

from __future__ import annotations

import argparse
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


def run(accelerator: str, workload: str, mapping: str, lpf_limit: int) -> dict:
    from zigzag.api import get_hardware_performance_zigzag

    pkg = _package_dir() / "inputs"
    acc_path = Path(accelerator) if accelerator.endswith(".yaml") else pkg / "hardware" / f"{accelerator}.yaml"
    map_path = pkg / "mapping" / f"{mapping}.yaml"
    wl_path = Path(workload) if workload.endswith(".onnx") else pkg / "workload" / f"{workload}.onnx"
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    with tempfile.TemporaryDirectory() as dump:
        energy, latency, cmes = get_hardware_performance_zigzag(
            str(wl_path), str(acc_path), str(map_path), opt="latency", dump_folder=dump,
            lpf_limit=lpf_limit, loma_show_progress_bar=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    layers = []
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

    return {
        "tool": f"zigzag-dse {getattr(zigzag, '__version__', '3.9.1')}",
        "command": f"python benchmarks/zigzag_run.py --accelerator {accelerator} --workload {workload} "
                   f"--mapping {mapping} --lpf-limit {lpf_limit}",
        "accelerator": accelerator, "workload": workload, "mapping": mapping, "opt": "latency",
        "search": "loma", "lpf_limit": lpf_limit,
        "accelerator_yaml": acc_path.read_text(),
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
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args()
    stem = Path(a.accelerator).stem
    mapping = a.mapping or (stem if (_package_dir() / "inputs" / "mapping" / f"{stem}.yaml").exists() else "default")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    res = run(a.accelerator, a.workload, mapping, a.lpf_limit)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"{a.accelerator}: {len(res['layers'])} layers, {res['latency_total_cycles']:.0f} cycles, "
          f"{res['energy_total_pj']:.4g} pJ, {res['wall_s']} s", file=sys.stderr)


if __name__ == "__main__":
    main()
