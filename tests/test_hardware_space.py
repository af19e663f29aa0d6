"""Hardware as a design space: the area model, accelerator overrides/vary in sweep files, `--set`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import accel_models as am
from accel_models.area import int_add_um2, int_mult_um2, load_area_table, pe_area_um2
from hwsim.cli import main
from hwsim.errors import UserError
from hwsim.hardware import resolve_accelerator

ACC = Path(__file__).resolve().parents[1] / "configs" / "accelerators"


def tpu(**over) -> am.Accelerator:
    return resolve_accelerator("tpu_like", over)


# -- area model ---------------------------------------------------------------------------
def test_area_primitives_hit_horowitz_figures():
    t = load_area_table()
    for bits, um2 in ((8, 36), (16, 67), (32, 137)):
        assert int_add_um2(t, bits) == pytest.approx(um2)
    for bits, um2 in ((8, 282), (32, 3495)):
        assert int_mult_um2(t, bits) == pytest.approx(um2)
    assert int_mult_um2(t, 8) < int_mult_um2(t, 16) < int_mult_um2(t, 32)
    # an int8 PE with 32-bit partial sums: 8b multiplier + 32b adder
    assert pe_area_um2(tpu(), t)["compute"] == pytest.approx(282 + 137)
    fp = am.load_accelerator(ACC / "fp32_training.yaml")
    assert pe_area_um2(fp, t)["compute"] == pytest.approx(7700 + 4184)


def test_area_grows_with_array_and_buffers_and_scales_with_node():
    small, big = am.accelerator_area(tpu(**{"array.rows": 8})), am.accelerator_area(tpu(**{"array.rows": 64}))
    assert big.breakdown["pe_compute"] == pytest.approx(8 * small.breakdown["pe_compute"])
    assert big.total_mm2 > small.total_mm2
    more = am.accelerator_area(tpu(**{"sram.ifmap_kb": 2 * 24576}))
    base = am.accelerator_area(tpu())
    # one macro each: twice the bits, one periphery (configs/area/45nm.yaml's fitted macro rule)
    periphery = am.area.sram_macro_rule(load_area_table())[0] / 1e6
    assert more.breakdown["sram_ifmap"] - periphery == pytest.approx(2 * (base.breakdown["sram_ifmap"] - periphery))
    # 90 nm: Stillmaker & Baas' factor from 45 nm (configs/area/45nm.yaml)
    assert am.accelerator_area(tpu(), node_nm=90).total_mm2 == pytest.approx(2.8 * base.total_mm2)
    assert base.total_mm2 == pytest.approx(sum(base.breakdown.values()))
    # every rule says where its number comes from
    assert "Horowitz" in base.rules["pe_compute"] and "NanGate" in base.rules["pe_registers"]
    assert "OpenRAM" in base.rules["sram"] and "utilization" in base.rules["overhead"]


def test_binary_pes_are_smaller_than_int8():
    t = load_area_table()
    xnor = resolve_accelerator("tpu_like", {"pe.kind": "xnor", "pe.width": 1})
    sign = resolve_accelerator("tpu_like", {"pe.kind": "sign_add", "pe.bits": 8})
    int8 = pe_area_um2(tpu(), t)["compute"]
    assert pe_area_um2(xnor, t)["compute"] < int8 and pe_area_um2(sign, t)["compute"] < int8


def test_area_table_errors_name_the_entry(tmp_path):
    bad = tmp_path / "a.yaml"
    bad.write_text((ACC.parents[0] / "area" / "45nm.yaml").read_text().replace("logic_utilization: 0.6",
                                                                                "logic_utilization: 7"))
    with pytest.raises(am.ConfigError, match="overhead.logic_utilization"):
        load_area_table(bad)
    with pytest.raises(am.ConfigError, match="int_add_um2"):
        load_area_table({"node_nm": 45, "sources": {}, "int_add_um2": {}, "int_mult_um2": {}, "fp_add_um2": {},
                         "fp_mult_um2": {}, "gates_um2": {}, "registers": {}, "sram": {}, "overhead": {},
                         "scaling": {}})


# -- overrides ------------------------------------------------------------------------------
def test_overrides_reach_every_field_and_pe_kind_change_drops_old_params():
    hw = resolve_accelerator("tpu_like", {"array.rows": 8, "array.dataflow": "os", "clock_mhz": 500,
                                       "sram.ifmap_kb": 64, "dram.bandwidth_bytes_per_cycle": 16,
                                       "vector_unit.lanes": 32, "operands.psum_bits": 24,
                                       "pe.kind": "bitfusion", "pe.pmax": 8}).to_dict()
    assert hw["array"] == {"rows": 8, "cols": 256, "dataflow": "os", "pe_register_bytes": 1,
                           "weight_double_buffered": True} and hw["clock_mhz"] == 500
    assert hw["sram"]["ifmap_kb"] == 64 and hw["dram"]["bandwidth_bytes_per_cycle"] == 16
    assert hw["vector_unit"]["lanes"] == 32 and hw["operands"]["psum_bits"] == 24
    assert hw["pe"] == {"kind": "bitfusion", "pmax": 8, "pmin": 2}
    with pytest.raises(UserError, match="array.rowz"):
        resolve_accelerator("tpu_like", {"array.rowz": 8})
    with pytest.raises(UserError, match="array.rows.*positive integer"):
        resolve_accelerator("tpu_like", {"array.rows": 0})


SWEEP = """\
name: hwspace
models: [resnet18]
datasets: [imagenet]
schemes: [fp32, bnn]
accuracy: none
accelerators:
  - name: tpu_like
    clock_mhz: 500
    vary:
      array.rows: ROWS
      array.cols: COLS
      array.dataflow: [ws, os, is]
"""


def test_vary_expands_and_errors_name_the_yaml_line(tmp_path):
    from hwsim.sweep.expand import load_points

    f = tmp_path / "s.yaml"
    f.write_text(SWEEP.replace("ROWS", "[8, 16, 32, 64]").replace("COLS", "[8, 16, 32, 64]"))
    _, pts = load_points(f)
    assert len(pts) == 4 * 4 * 3 * 2 and len({p.id for p in pts}) == 96
    assert len({p.train_key for p in pts}) == 2          # hardware points share one trace per scheme
    hw = pts[0].to_json()["hardware"]
    assert hw["clock_mhz"] == 500 and set(hw) >= {"array", "pe", "sram", "dram", "vector_unit", "operands"}
    assert "array.rows=" in pts[0].label
    f.write_text(SWEEP.replace("ROWS", "[8, -1]").replace("COLS", "[8]"))
    with pytest.raises(UserError) as e:
        load_points(f)
    assert e.value.where.endswith(":10: accelerators[0].vary.array.rows") and "positive integer" in e.value.what
    f.write_text(SWEEP.replace("ROWS", "[8]").replace("COLS", "[8]").replace("clock_mhz: 500", "clok_mhz: 500"))
    with pytest.raises(UserError) as e:
        load_points(f)
    assert e.value.where.endswith(":8: accelerators[0].clok_mhz") and "unknown accelerator field" in e.value.what


def test_hardware_sweep_points_have_area_and_scale(tmp_path):
    from hwsim.store import Store

    f = tmp_path / "s.yaml"
    f.write_text(SWEEP.replace("ROWS", "[8, 32]").replace("COLS", "[8, 32]").replace("[ws, os, is]", "[ws, os]"))
    db = tmp_path / "r.db"
    assert main(["sweep", str(f), "--db", str(db), "--workers", "0"]) == 0
    with Store(db, readonly=True) as s:
        df = s.points()
    assert len(df) == 16 and (df.status == "done").all() and df.area_mm2.notna().all()
    assert set(df.array_rows) == {8, 32} and set(df.dataflow) == {"ws", "os"}
    for _, g in df.groupby(["scheme", "dataflow"]):
        small = g[(g.array_rows == 8) & (g.array_cols == 8)].iloc[0]
        large = g[(g.array_rows == 32) & (g.array_cols == 32)].iloc[0]
        assert large.latency_cycles < small.latency_cycles and large.train_step_cycles < small.train_step_cycles
        assert large.area_mm2 > small.area_mm2
        assert large.tops > small.tops and large.tops_per_w > 0 and large.edp_pj_s > 0
    cfg = json.loads(df.config.iloc[0])
    assert cfg["hardware"]["array"]["rows"] in (8, 32)
    # reports list the resolved hardware and the area breakdown with its rules
    from hwsim.reports.document import build_document
    from hwsim.reports.writers import hardware_frame

    pid = df.id.iloc[0]
    hw = hardware_frame(build_document(db, [pid]))
    items = dict(zip(hw["item"], hw["value"]))
    assert items["array.rows"] == cfg["hardware"]["array"]["rows"] and items["pe.kind"] == "int"
    assert items["total_mm2"] == pytest.approx(df.area_mm2.iloc[0])
    assert {"pe_compute_mm2", "sram_ifmap_mm2", "overhead_mm2"} <= set(items)
    assert all(hw[hw.section == "area"]["rule"].str.len() > 0)


def test_cli_set_overrides(capsys, tmp_path):
    topo = tmp_path / "t.csv"
    topo.write_text("Layer, M, N, K,\nfc1, 64, 128, 256,\n")
    args = ["simulate", "--accelerator", "tpu_like", "--topology", str(topo), "--format", "json"]
    assert main(args + ["--set", "array.rows=16", "--set", "array.cols=16"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["accelerator"]["array"]["rows"] == 16 and d["area"]["total_mm2"] > 0
    assert main(args + ["--set", "array.rows=0"]) == 2
    assert "--set array.rows" in capsys.readouterr().err


def test_constraints_and_factorised_hardware_axes(tmp_path):
    from hwsim.sweep.constraints import feasible, parse_constraint
    from hwsim.sweep.expand import grid_axes, point_from_axes
    from hwsim.sweep.schema import load_sweep
    from hwsim.sweep.search import factor_axes, nsga2_search

    assert parse_constraint("area_mm2 <= 2") == ("area_mm2", "<=", 2.0)
    for bad in ("area <= 2", "area_mm2 < 2", "area_mm2 <= x"):
        with pytest.raises(ValueError):
            parse_constraint(bad)
    assert feasible({"area_mm2": 1.5}, [("area_mm2", "<=", 2.0)])
    assert not feasible({"area_mm2": 2.5}, [("area_mm2", "<=", 2.0)]) and not feasible({}, [("power_w", "<=", 1)])
    f = tmp_path / "s.yaml"
    f.write_text(SWEEP.replace("ROWS", "[8, 16]").replace("COLS", "[8, 16, 32]")
                 + "search: {objectives: [infer_energy_pj, area_mm2], budget: 6, constraints: ['area_mm2 <= 200']}\n")
    sw, lm = load_sweep(f)
    ax = grid_axes(sw, lm, tmp_path)
    sizes, to_grid = factor_axes(sw, ax)
    assert sizes["hw.array.rows"] == 2 and sizes["hw.array.cols"] == 3 and "accelerators" not in sizes
    idx = {a: 0 for a in sizes} | {"hw.array.rows": 1, "hw.array.cols": 2, "hw.array.dataflow": 1}
    hw = point_from_axes(sw, ax, to_grid(idx)).to_json()["hardware"]
    assert (hw["array"]["rows"], hw["array"]["cols"], hw["array"]["dataflow"]) == (16, 32, "os")
    # constraints steer nothing away from the budget rules: infeasible trials are still evaluated and told
    seen = []

    def ev(batch):
        seen.extend(batch)
        return [{"infer_energy_pj": 1.0 + i["hw.array.rows"], "area_mm2": 100.0 * (1 + i["hw.array.cols"])}
                for i in batch]

    res = nsga2_search(sizes, ["infer_energy_pj", "area_mm2"], 6, ev, population=4,
                       constraints=[("area_mm2", "<=", 200.0)])
    assert res.n_evaluated == 6 == len(seen)
    f.write_text(f.read_text().replace("area_mm2 <= 200", "area_sq <= 200"))
    with pytest.raises(UserError, match="unknown metric 'area_sq'"):
        load_sweep(f)


# -- streaming: points of a group land in the store one by one -----------------------------
STREAM_DB: list[str] = []


def streaming_evaluate(points, key="", progress=None, emit=None):
    """Emits each point as it is finished; checks the first is in the store before the group ends;
    with sweep 'die', the worker process dies after emitting three points (the third after the
    runner's streaming interval, so all three are sent)."""
    import os
    import time

    from hwsim.store import PointResult, Store
    from hwsim.sweep.runner import STREAM_EVERY_S

    for i, p in enumerate(points):
        emit(PointResult(id=p.id, config=p.to_json(), sweep=p.sweep, label=p.label,
                         metrics={"area_mm2": float(i)}))
        if i == 0 and STREAM_DB:
            with Store(STREAM_DB[0], readonly=True) as s:
                assert s.status_of(p.id) == "done", "an emitted point is written before its group ends"
        if i == 1 and p.sweep == "die":
            time.sleep(STREAM_EVERY_S + 0.1)
        if i == 2 and p.sweep == "die":
            os._exit(3)
    return []


def _hw_points(tmp_path, n_rows=4):
    from hwsim.sweep.expand import load_points

    f = tmp_path / "s.yaml"
    f.write_text(SWEEP.replace("ROWS", str([8 * (i + 1) for i in range(n_rows)])).replace("COLS", "[8]")
                 .replace("[ws, os, is]", "[ws]").replace("schemes: [fp32, bnn]", "schemes: [fp32]"))
    return load_points(f)[1]


def test_streaming_evaluator_writes_each_point_as_it_finishes(tmp_path):
    from hwsim.store import Store
    from hwsim.sweep.runner import run_points

    pts = _hw_points(tmp_path)
    db = tmp_path / "r.db"
    STREAM_DB[:] = [str(db)]
    try:
        s = run_points(pts, db, workers=0, evaluator="test_hardware_space:streaming_evaluate", sweep="ok")
    finally:
        STREAM_DB.clear()
    assert (s.done, s.failed, s.lost) == (4, 0, 0)
    # a worker process that dies mid-group keeps what it emitted; the rest is handed back
    db2 = tmp_path / "r2.db"
    pts = [dataclasses.replace(p, sweep="die") for p in pts]
    s = run_points(pts, db2, workers=1, evaluator="test_hardware_space:streaming_evaluate", sweep="die")
    assert (s.done, s.lost) == (3, 1)
    with Store(db2, readonly=True) as st:
        assert sorted(st.status_of(p.id) for p in pts) == ["done", "done", "done", "queued"]


def test_hardware_metrics_by_hand():
    from hwsim.evaluate import hardware_metrics

    # 1e9 MACs in 1e6 cycles at 1000 MHz (1 ms) for 2e9 pJ (2 mJ), batch 1, 4 mm2, 64x64 PEs
    m = hardware_metrics(4.0, 1000.0, 64 * 64, macs=1e9, energy_pj=2e9, cycles=1e6, train_energy_pj=6e9,
                         train_cycles=3e6)
    assert m["latency_us"] == pytest.approx(1000.0)
    assert m["tops"] == pytest.approx(2e9 / 1e-3 / 1e12)                 # 2 TOPS
    assert m["tops_per_w"] == pytest.approx(2e9 / 2e-3 / 1e12)           # 1 TOPS/W
    assert m["power_w"] == pytest.approx(2.0) and m["train_power_w"] == pytest.approx(2.0)
    assert m["edp_pj_s"] == pytest.approx(2e9 * 1e-3)
    assert m["tops_per_mm2"] == pytest.approx(0.5) and m["peak_tops"] == pytest.approx(2 * 4096 * 1e9 / 1e12)
    # a batch of 4: per-sample latency and EDP
    m4 = hardware_metrics(4.0, 1000.0, 4096, macs=4e9, energy_pj=8e9, cycles=4e6, batch=4)
    assert m4["latency_us"] == pytest.approx(1000.0) and m4["edp_pj_s"] == pytest.approx(2e9 * 1e-3)


def test_one_accelerator_loader_for_every_spec(tmp_path):
    """A name, a path, the YAML mapping and an Accelerator give the same accelerator; a SCALE-Sim .cfg
    takes overrides too; the CLI's --set and a sweep entry's overrides follow one rule: they apply to the
    YAML as written, so a PE parameter the file leaves to its kind's default takes the new kind's."""
    from hwsim.hardware import cli_accelerator, read_accelerator_yaml
    from hwsim.sweep.expand import expand_accelerator_entry
    from hwsim.sweep.schema import AcceleratorEntry

    base = resolve_accelerator("tpu_like")
    for spec in (ACC / "tpu_like.yaml", str(ACC / "tpu_like.yaml"), read_accelerator_yaml("tpu_like"), base):
        assert resolve_accelerator(spec).to_dict() == base.to_dict()
    cfg = Path(__file__).parent / "fixtures/scalesim/gemm_8x8_os_user/scale.cfg"
    assert resolve_accelerator(cfg, {"array.rows": 16}).rows == 16
    assert resolve_accelerator(cfg).rows == am.read_scalesim_cfg(cfg).rows

    data = {k: v for k, v in base.to_dict().items() if k != "name"}
    data["pe"] = {"kind": "int"}     # bits left to the int PE's default (8)
    f = tmp_path / "mine.yaml"
    import yaml

    f.write_text(yaml.safe_dump(data))
    cli = cli_accelerator(str(f), ["pe.kind=shift_add"])
    (sweep,) = expand_accelerator_entry(AcceleratorEntry(name=str(f), overrides={"pe": {"kind": "shift_add"}}),
                                        None, ("accelerators", 0))
    assert cli.to_dict() == sweep.accelerator.to_dict()
    assert cli.pe.params["bits"] == am.PE_KINDS["shift_add"].fields["bits"] == 16
