"""Pruned weights' storage in model size and DRAM traffic; accelerator sparsity support (gating,
skipping) in energy and cycles, for every MAC type."""

from __future__ import annotations

import math

import pytest

import accel_models as am
from accel_models.sparsity import SparsitySupport, skip_factor
from hwsim.count import trace
from hwsim.energy import price
from hwsim.errors import UserError
from hwsim.hardware import simulate_trace
from hwsim.models import build_model
from hwsim.schemes import build_scheme

ACC = {"name": "t", "array": {"rows": 16, "cols": 16, "dataflow": "ws"}, "pe": {"kind": "fp32"},
       "sram": {"ifmap_kb": 64, "filter_kb": 64, "ofmap_kb": 64}, "dram": {"bandwidth_bytes_per_cycle": 8}}


def _trace(storage="relative", sparsity=0.92, mode="infer", scheme="pruning", device="meta"):
    sch = build_scheme({"name": scheme, "sparsity": sparsity, "storage": storage, "schedule": "one_shot"} if scheme == "pruning"
                       else {"name": scheme})
    return trace(build_model("lenet300", num_classes=10, in_shape=(1, 28, 28)), sch, batch=8,
                 input_shape=(1, 28, 28), num_classes=10, mode=mode, device=device)


def test_model_size_follows_storage_format():
    dense = _trace("dense").model_size_bytes
    assert dense == 266_610 * 4
    sizes = {s: _trace(s).model_size_bytes for s in ("bitmask", "csr", "relative")}
    for s, b in sizes.items():
        assert b < dense / 8, s
    assert sizes["relative"] < sizes["csr"] < sizes["bitmask"]
    assert _trace("relative", sparsity=0.5).model_size_bytes > sizes["relative"]


def test_weight_traffic_and_accelerator_dram_follow_storage():
    d, r = _trace("dense"), _trace("relative")
    wd, wr = d.totals()["traffic_bytes"]["weight"], r.totals()["traffic_bytes"]["weight"]
    st = r.meta.weight_storage["fc1"]
    assert st.storage == "relative" and math.isclose(st.density, 0.08)
    assert wr < wd / 8
    cd, cr = simulate_trace(d, ACC), simulate_trace(r, ACC)
    fd = sum(row.dram_reads_filter for row in cd.rows)
    fr = sum(row.dram_reads_filter for row in cr.rows)
    assert fr < fd / 8


def test_gating_prices_effectual_macs_for_fp32_and_keeps_cycles():
    tr = _trace("dense", device="cpu")
    assert tr.sparsity["fc1"]["weight"] > 0.9
    base = price(tr, "45nm")
    gated = price(tr, "45nm", sparsity={"weights": "gating"})
    comp = lambda rep: sum(v for k, v in rep.totals.items() if k.startswith("compute"))  # noqa: E731
    assert comp(gated) < 0.15 * comp(base)
    both = price(tr, "45nm", sparsity={"weights": "gating", "activations": "gating"})
    assert comp(both) <= comp(gated)
    acc_gate = dict(ACC, sparsity={"weights": "gating"})
    assert simulate_trace(tr, acc_gate).totals["total_cycles"] == simulate_trace(tr, ACC).totals["total_cycles"]
    acc_skip = dict(ACC, sparsity={"weights": "skipping"})
    assert simulate_trace(tr, acc_skip).totals["compute_cycles"] < simulate_trace(tr, ACC).totals["compute_cycles"]


def test_skip_factor_models():
    s = SparsitySupport(weights="skipping")
    assert skip_factor(s, 16, 16, weight_nm=(2, 4)) == 0.5
    assert skip_factor(SparsitySupport(weights="skipping", load_balance="ideal"), 16, 16, 0.1) == pytest.approx(0.1)
    lanes = skip_factor(s, 16, 16, 0.1)
    assert 0.1 < lanes < 1.0
    assert lanes == pytest.approx(0.1 + math.sqrt(0.1 * 0.9 / 16) * math.sqrt(2 * math.log(16)))
    assert skip_factor(SparsitySupport(weights="gating"), 16, 16, 0.1) == 1.0
    assert skip_factor(SparsitySupport(activations="skipping"), 16, 16, 0.1, 0.5) < 1.0


def test_nm_skipping_halves_compute_cycles():
    acc = am.load_accelerator(dict(ACC, sparsity={"weights": "skipping"}))
    g = am.GemmLayer("x", M=64, N=64, K=256)
    dense = am.simulate_layer(g, acc).compute_cycles
    assert am.simulate_layer(g.with_(weight_nm=(2, 4)), acc).compute_cycles == math.ceil(dense / 2)


def test_bad_sparsity_fields_name_the_field():
    with pytest.raises(am.ConfigError) as e:
        am.load_accelerator(dict(ACC, sparsity={"weights": "skip"}))
    assert "sparsity.weights" in e.value.where
    with pytest.raises(am.ConfigError):
        am.load_accelerator(dict(ACC, sparsity={"weight": "gating"}))


def test_nm_pattern_masks_and_skipping():
    import torch

    from hwsim.quant.prune import nm_mask

    w = torch.randn(6, 16)
    mask = nm_mask(w, 2, 4)
    assert (mask.reshape(6, 4, 4).sum(-1) == 2).all()
    a, k = w.abs().reshape(6, 4, 4), mask.reshape(6, 4, 4).bool()
    kept = a.where(k, torch.full_like(a, float("inf"))).min(-1).values
    dropped = a.where(~k, torch.zeros_like(a)).max(-1).values
    assert (kept >= dropped).all()                      # the two largest of every group survive
    sch = build_scheme({"name": "pruning", "pattern": "2:4", "schedule": "one_shot"})
    net = sch.convert(build_model("lenet300", num_classes=10, in_shape=(1, 8, 8)))
    assert all(float((m.weight == 0).float().mean()) == 0.5 for m in (net.fc1, net.fc2, net.fc3))
    tr = trace(build_model("lenet300", num_classes=10, in_shape=(1, 28, 28)), sch, batch=8,
               input_shape=(1, 28, 28), num_classes=10, mode="infer", device="meta")
    assert tr.meta.weight_storage["fc1"].nm == [2, 4]
    dense = simulate_trace(tr, dict(ACC, sparsity={"weights": "none"}))
    skip = simulate_trace(tr, dict(ACC, sparsity={"weights": "skipping"}))
    for a, b in zip(dense.rows, skip.rows):
        if a.unit == "array":
            assert b.compute_cycles == math.ceil(a.compute_cycles / 2)
    with pytest.raises(UserError, match="pattern"):
        build_scheme({"name": "pruning", "pattern": "4:2"})
