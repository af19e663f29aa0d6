"""``bn_stash: recompute``: batch-norm inputs are not kept in float; backward recomputes them from
the producing convolution's exact stash, priced as extra MACs in backward at the layer's MAC type."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from hwsim.count import trace
from hwsim.errors import UserError
from hwsim.quant.stash import measure_saved
from hwsim.schemes import build_scheme
from tests.test_shared_input_stash import Block

KBIT4 = {"name": "kbit", "weight_bits": 4, "act_bits": 4}
PAIRS = [(KBIT4, {**KBIT4, "bn_stash": "recompute"}), ("bnn", {"name": "bnn", "bn_stash": "recompute"})]
X = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
Y = torch.arange(4)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return Block()


def _grads(spec) -> list[torch.Tensor]:
    net = build_scheme(spec).convert(_net())
    net.train()
    nn.functional.cross_entropy(net(X), Y).backward()
    return [p.grad for p in net.parameters()]


def _macs(tr, phase: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in tr.records:
        if r.phase == phase:
            for k, v in r.macs.items():
                out[k] = out.get(k, 0) + v
    return out


@pytest.mark.parametrize("exact,recompute", PAIRS, ids=["kbit", "bnn"])
def test_recompute_gives_the_same_gradients(exact, recompute):
    """The codes are exact, so the recomputed batch-norm inputs are the forward's: same gradients."""
    for a, b in zip(_grads(exact), _grads(recompute)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("exact,recompute", PAIRS, ids=["kbit", "bnn"])
def test_recompute_keeps_no_batch_norm_input(exact, recompute):
    """The stash shrinks by exactly the batch-norms' float inputs, on real and meta steps, and the
    counter's figure is what saved_tensors_hooks sees autograd hold."""
    kw = dict(input_shape=(3, 8, 8), batch=4)
    float_cpu = trace(_net(), exact, device="cpu", data=(X, Y), **kw)
    rec_cpu = trace(_net(), recompute, device="cpu", data=(X, Y), **kw)
    rec_meta = trace(_net(), recompute, device="meta", **kw)
    net = build_scheme(recompute).convert(_net())
    net.train()
    with measure_saved(net) as sb:
        loss = nn.functional.cross_entropy(net(X), Y)
    del loss
    assert rec_cpu.stash_bytes == rec_meta.stash_bytes == sb.total
    bn_inputs = []
    ref = _net()
    ref.train()
    hooks = [m.register_forward_pre_hook(lambda m, a: bn_inputs.append(a[0].numel() * 4))
             for m in ref.modules() if isinstance(m, nn.BatchNorm2d)]
    ref(X)
    for h in hooks:
        h.remove()
    assert len(bn_inputs) == 4
    assert float_cpu.stash_bytes - rec_cpu.stash_bytes == sum(bn_inputs)


@pytest.mark.parametrize("exact,recompute", PAIRS, ids=["kbit", "bnn"])
def test_recompute_is_priced_as_forward_macs_in_backward(exact, recompute):
    """Every convolution here feeds a batch-norm: backward gains exactly the convolutions' forward
    MACs, at their forward MAC types; forward and backward-weight do not move."""
    kw = dict(input_shape=(3, 8, 8), batch=4, device="meta")
    a, b = trace(_net(), exact, **kw), trace(_net(), recompute, **kw)
    assert _macs(a, "forward") == _macs(b, "forward")
    assert _macs(a, "backward_weight") == _macs(b, "backward_weight")
    convs = {lay.name for lay in a.layers if lay.op == "conv2d"}
    conv_fwd: dict[str, int] = {}
    for r in a.records:
        if r.phase == "forward" and r.layer in convs:
            for k, v in r.macs.items():
                conv_fwd[k] = conv_fwd.get(k, 0) + v
    before, after = _macs(a, "backward_data"), _macs(b, "backward_data")
    extra = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert {k: v for k, v in extra.items() if v} == conv_fwd


@pytest.mark.parametrize("spec", [{"name": "mcdonnell", "bn_stash": "recompute"},
                                  {"name": "kbit", "act_bits": 4, "stash_bits": 2, "bn_stash": "recompute"}])
def test_recompute_refused_where_the_stash_is_lossy(spec):
    with pytest.raises(UserError, match="bn_stash.*recompute needs a scheme whose saved layer inputs are exact"):
        build_scheme(spec)


def test_recompute_refusal_is_one_error_line(capsys):
    from hwsim.cli import main

    rc = main(["count", "resnet20", "-s", "{name: mcdonnell, bn_stash: recompute}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: --scheme.bn_stash: ")


@pytest.mark.parametrize("spec,target", [({**KBIT4, "bn_stash": "recompute"}, 8.0),
                                         ({"name": "bnn", "bn_stash": "recompute"}, 12.0)], ids=["kbit", "bnn"])
def test_resnet18_batch_256_whole_step_targets(spec, target):
    fp32 = trace("resnet18", "fp32", batch=256, device="meta").stash_bytes
    assert fp32 / trace("resnet18", copy.deepcopy(spec), batch=256, device="meta").stash_bytes >= target
