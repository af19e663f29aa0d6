"""A scheme's own batch-norm / ReLU / pool modules are priced as one fused kernel, like PyTorch's,
and a scheme that changes nothing on a model is flagged."""

from __future__ import annotations

import copy
from collections import Counter

from torch import nn

from hwsim.count import trace
from hwsim.quant.layers import changed_modules
from hwsim.quant.saved_layers import compress_saved
from hwsim.quant.stash import FloatCodec


def _net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))


def _traffic(tr, exclude=("stash_write", "stash_read")) -> Counter:
    c: Counter = Counter()
    for r in tr.records:
        for k, v in r.traffic_bytes.items():
            if k not in exclude:
                c[(r.phase, k)] += v
    return c


def test_exact_stash_modules_move_what_pytorch_kernels_move():
    """Swapping in the stash-keeping modules (float codec: the same step) changes no activation or
    gradient traffic beyond the few parameter bytes PyTorch's batch-norm kernel also reads."""
    ref = trace(_net(), None, input_shape=(3, 16, 16), batch=4, device="meta", model_name="n")
    new = trace(compress_saved(_net(), bn_codec=FloatCodec()), None, input_shape=(3, 16, 16), batch=4,
                device="meta", model_name="n")
    a, b = _traffic(ref), _traffic(new)
    slack = 512       # PyTorch's batch-norm kernels also read weight, bias and statistics (8 channels)
    for key in set(a) | set(b):
        # never more; less only where PyTorch's global pooling backward reads an expanded gradient
        assert b[key] <= a[key] + slack, (key, a[key], b[key])
    for key in (("forward", "input"), ("forward", "output"), ("backward_data", "grad_input")):
        assert abs(a[key] - b[key]) <= slack, (key, a[key], b[key])


def test_graham_prices_its_batch_norm_as_a_kernel_not_its_intermediates():
    fp = _traffic(trace("resnet20", "fp32", batch=8, device="meta"))
    gr = _traffic(trace("resnet20", "graham", batch=8, device="meta"))
    for key in (("forward", "input"), ("forward", "output"), ("backward_data", "grad_output"),
                ("backward_data", "grad_input")):
        assert gr[key] <= 1.05 * fp[key], (key, gr[key], fp[key])


def test_graham_batch_norm_work_is_still_counted():
    tr = trace("resnet20", "graham", batch=8, device="meta")
    bn = [r for r in tr.records if r.layer == "layer1.0.bn2"]
    assert sum(sum(r.elementwise.values()) for r in bn if r.phase == "forward") > 5 * 8 * 16 * 32 * 32
    assert sum(sum(r.elementwise.values()) for r in bn if r.phase == "backward_data") > 5 * 8 * 16 * 32 * 32


def test_a_scheme_that_changes_nothing_is_flagged():
    assert trace("lenet300", "graham", batch=2, device="meta").meta.scheme_noop is True
    assert trace("lenet300", "fp32", batch=2, device="meta").meta.scheme_noop is False
    assert trace("resnet20", "graham", batch=2, device="meta").meta.scheme_noop is False
    assert trace("lenet300", "mcdonnell", batch=2, device="meta").meta.scheme_noop is False


def test_changed_modules_sees_replacements_but_not_identity_swaps():
    net = _net()
    assert changed_modules(copy.deepcopy(net)) == []
    assert changed_modules(compress_saved(copy.deepcopy(net), relu=False, pools=False, bn_codec=FloatCodec())) == []
    assert changed_modules(compress_saved(copy.deepcopy(net))) == ["2", "3", "6", "7"]


def test_count_cli_shows_both_memory_figures_and_the_noop_flag(capsys):
    from hwsim.cli import main

    assert main(["count", "lenet300", "--scheme", "graham", "--batch", "2"]) in (0, None)
    out = capsys.readouterr().out
    assert "stash, whole step" in out and "stash, weight-layer inputs" in out
    assert "changes nothing on lenet300" in out
    assert main(["count", "lenet300", "--scheme", "mcdonnell", "--batch", "2"]) in (0, None)
    assert "changes nothing" not in capsys.readouterr().out


def test_count_cli_inference_pass_reports_no_stash(capsys):
    from hwsim.cli import main

    assert main(["count", "lenet300", "--scheme", "bnn", "--batch", "2", "--phase", "infer"]) in (0, None)
    out = capsys.readouterr().out
    assert "stash: none" in out and "stash, weight-layer inputs" not in out and "stash, whole step" not in out
