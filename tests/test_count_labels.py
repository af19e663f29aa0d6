"""MAC-type labels per phase, effectual MACs under measured sparsity, traffic widths, inference."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from hwsim.count import trace
from hwsim.formats import BINARY, Format, LayerPrecision


def _labels(tr, phase):
    """weight layer -> set of MAC types it issued in ``phase``."""
    out = {}
    for r in tr.records:
        if r.phase == phase and r.macs:
            out[r.layer] = set(r.macs)
    return out


def _weight_layers(tr):
    return [li for li in sorted(tr.layers, key=lambda li: li.depth) if li.depth >= 0]


def test_bnn_hidden_layers_xnor_popcount():
    tr = trace("vgg_bnn", "bnn", batch=2, device="meta")
    fwd = _labels(tr, "forward")
    layers = _weight_layers(tr)
    hidden = layers[1:]            # the first layer sees the real-valued image
    assert fwd[layers[0].name] == {"sign_add"}
    assert all(fwd[li.name] == {"xnor_popcount"} for li in hidden)


@pytest.mark.parametrize("model", ["resnet20", "lenet300"])
def test_binaryconnect_sign_add_forward_and_backward_data(model):
    tr = trace(model, "binaryconnect", batch=2, device="meta")
    fwd, bwd = _labels(tr, "forward"), _labels(tr, "backward_data")
    for li in _weight_layers(tr):
        assert fwd[li.name] == {"sign_add"}
        if li.depth > 0:
            assert bwd[li.name] == {"sign_add"}
    assert all(v == {"fp32"} for k, v in _labels(tr, "backward_weight").items())


def test_graham_l4_shift_add():
    """Graham 1.5.1: with L4(N(x)) feeding a weight layer, its multiplications become additions in the
    exponent: forward is shift_add, and so is the weight gradient against the L4 stash."""
    tr = trace("vgg_graham", {"name": "graham", "quantizer": "L4"}, batch=2, device="meta")
    layers = _weight_layers(tr)
    fed = [li for li in layers if li.precision["input"] == "log4"]
    assert len(fed) >= len(layers) // 2
    fwd, bw = _labels(tr, "forward"), _labels(tr, "backward_weight")
    for li in layers:
        expect = {"shift_add"} if li in fed else {"fp32"}
        assert fwd[li.name] == expect, li.name
        assert bw[li.name] == expect, li.name
    assert layers[0] not in fed           # the first layer sees the image


def test_declared_precision_drives_label_and_traffic():
    net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    net[2].hwsim_precision = LayerPrecision(weight=Format("int", 4), input=Format("int", 8),
                                            stash=Format("int", 8), grad=Format("int", 8))
    net[0].hwsim_precision = LayerPrecision(weight=BINARY)
    tr = trace(net, batch=8, input_shape=(16,), device="meta")
    recs = {(r.layer, r.phase): r for r in tr.records}
    assert recs[("2", "forward")].macs == {"int4x8": 8 * 32 * 4}
    assert recs[("2", "backward_data")].macs == {"int4x8": 8 * 32 * 4}
    assert recs[("2", "backward_weight")].macs == {"int8x8": 8 * 32 * 4}
    assert recs[("0", "forward")].macs == {"sign_add": 8 * 16 * 32}
    t = recs[("2", "forward")].traffic_bytes
    assert t["weight"] == 32 * 4 * 4 // 8 and t["input"] == 8 * 32 and t["output"] == 8 * 4 * 4
    assert recs[("0", "forward")].traffic_bytes["weight"] == 16 * 32 // 8
    assert recs[("2", "backward_data")].traffic_bytes["grad_output"] == 8 * 4    # int8 gradient
    up = recs[("2", "update")].traffic_bytes
    assert up["weight_master"] == 2 * (32 * 4 + 4) * 4          # weight and bias, read and written
    assert up["weight"] == 32 * 4 // 2                          # the int4 copy the GEMMs read
    assert up["grad_weight"] == (32 * 4 + 4) * 4
    assert up["optimizer_state"] == 2 * 32 * 4 * 4 + 2 * 4 * 4                  # momentum of weight and bias
    assert tr.model_size_bytes == 16 * 32 // 8 + 32 * 4 + 32 * 4 // 2 + 4 * 4


def test_pruned_layer_effectual_macs_follow_measured_sparsity():
    torch.manual_seed(0)
    tr = trace("lenet300", {"name": "pruning", "sparsity": 0.8, "schedule": "one_shot"}, batch=16, device="cpu")
    dense = trace("lenet300", batch=16, device="cpu")
    fc1 = {r.phase: r for r in tr.records if r.layer == "fc1"}["forward"]
    zw = tr.sparsity["fc1"]["weight"]
    assert zw > 0.1
    # random normal input has no zeros, so the exact effectual count is (1 - weight sparsity) x MACs
    assert fc1.effectual_macs["fp32"] == pytest.approx(fc1.macs["fp32"] * (1 - zw), rel=1e-9)
    d1 = {r.phase: r for r in dense.records if r.layer == "fc1"}["forward"]
    assert d1.effectual_macs == d1.macs
    # ReLU zeros cut the next layer's effectual MACs too
    fc2 = {r.phase: r for r in dense.records if r.layer == "fc2"}["forward"]
    zin = dense.sparsity["fc2"]["input"]
    assert 0.2 < zin < 0.8
    assert fc2.effectual_macs["fp32"] == pytest.approx(fc2.macs["fp32"] * (1 - zin), rel=1e-9)


def test_conv_effectual_exact_with_zero_padding():
    net = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1, bias=False))
    tr = trace(net, batch=1, input_shape=(1, 4, 4), device="cpu")
    r = {x.phase: x for x in tr.records if x.layer == "0"}["forward"]
    # a 3x3 kernel over a 4x4 map with one pixel of zero padding: 4 corners see 4 real pixels,
    # 8 edge positions 6, 4 inner positions 9
    assert r.macs["fp32"] == 16 * 9
    assert r.effectual_macs["fp32"] == 4 * 4 + 8 * 6 + 4 * 9


def test_inference_mode_uses_inference_operands():
    tr = trace("vgg_bnn", "bnn", batch=1, mode="infer", device="meta")
    assert {r.phase for r in tr.records} == {"inference"}
    inf = _labels(tr, "inference")
    assert any(v == {"xnor_popcount"} for v in inf.values())
    assert tr.stash_bytes == 0


def test_elementwise_classes_and_update():
    tr = trace("resnet20", "twn", batch=2, device="meta")
    bp = tr.by_phase()
    assert bp["forward"]["elementwise"]["batchnorm"] > 0
    assert bp["forward"]["elementwise"]["quantize"] > 0
    assert bp["backward_data"]["elementwise"]["activation"] > 0
    assert bp["update"]["elementwise"]["update"] > 0
    assert set(bp["update"]["traffic_bytes"]) >= {"grad_weight", "weight_master", "optimizer_state"}
    json_ok = tr.to_dict()
    assert json_ok["records"][0]["phase"] == "forward"


def test_bad_arguments_are_user_errors():
    from hwsim.errors import UserError

    with pytest.raises(UserError):
        trace("resnet20", mode="both")
    with pytest.raises(UserError):
        trace("nosuchmodel")
    with pytest.raises(UserError):
        trace("resnet20", "nosuchscheme")
    with pytest.raises(UserError):
        trace(nn.Linear(2, 2))               # a module needs its input shape
