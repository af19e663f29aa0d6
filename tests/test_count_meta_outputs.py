"""hwsim.count.meta_outputs: a call on meta tensors seen before is answered by new tensors described as
the kernel's outputs were, and the counts are those of running every kernel."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from hwsim.count import meta_outputs, trace
from hwsim.count import mode as counting_mode

aten = torch.ops.aten


def _plain(func, args, kwargs):
    return func(*args, **kwargs)


def _counted(tr) -> str:
    d = tr.to_dict()
    d["meta"] = {k: v for k, v in d["meta"].items() if k != "seconds"}
    return json.dumps(d, sort_keys=True, default=str)


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(meta_outputs, "_known", {})
    monkeypatch.setattr(meta_outputs, "stats", {"made": 0, "reused": 0})
    return meta_outputs


@pytest.mark.parametrize(("model", "mode", "batch", "scheme"), [
    ("resnet18", "train", 4, None), ("resnet18", "infer", 2, None), ("resnet20", "train", 3, "twn"),
    ("vgg7", "train", 2, "bnn"), ("bert_base", "infer", 1, None)])
def test_every_reused_call_is_described_as_its_kernel_would_make_it(fresh, monkeypatch, model, mode, batch, scheme):
    checked = []
    reuse = fresh.run

    def run_and_compare(func, args, kwargs):
        out = reuse(func, args, kwargs)
        if not fresh._returns_fresh(func):   # views and in-place ops: always the kernel's own result
            return out
        ref = func(*args, **kwargs)
        outs, refs = (out, ref) if isinstance(ref, tuple) else ((out,), (ref,))
        assert type(out) is type(ref) and len(outs) == len(refs), func
        for a, b in zip(outs, refs):
            if isinstance(b, torch.Tensor):
                assert (a.shape, a.stride(), a.dtype, a.device, a.storage_offset()) == \
                       (b.shape, b.stride(), b.dtype, b.device, b.storage_offset()), func
                assert a is not b, func
        checked.append(func)
        return out

    monkeypatch.setattr(counting_mode.meta_outputs, "run", run_and_compare)
    trace(model, scheme, batch=batch, mode=mode, device="meta")
    assert fresh.stats["reused"] > 0 and checked


@pytest.mark.parametrize(("model", "mode", "scheme"), [("resnet18", "train", None), ("resnet18", "infer", None),
                                                       ("resnet20", "train", "twn"), ("vgg7", "train", "bnn"),
                                                       ("gpt2_small", "infer", None)])
def test_counts_are_those_of_running_every_kernel(fresh, monkeypatch, model, mode, scheme):
    kw = {"input_shape": "tokens:16"} if model.startswith("gpt2") else {}
    reused = trace(model, scheme, batch=2, mode=mode, device="meta", **kw)
    assert fresh.stats["reused"] > 0
    monkeypatch.setattr(counting_mode.meta_outputs, "run", _plain)
    assert _counted(trace(model, scheme, batch=2, mode=mode, device="meta", **kw)) == _counted(reused)


def test_outputs_are_tensors_of_their_own(fresh):
    x = torch.empty(2, 3, device="meta")
    first = fresh.run(aten.relu.default, (x,), {})
    again = fresh.run(aten.relu.default, (x,), {})
    assert fresh.stats == {"made": 1, "reused": 1}
    assert again is not first and again.untyped_storage() is not first.untyped_storage()
    assert (again.shape, again.stride(), again.dtype) == (first.shape, first.stride(), first.dtype)


def test_only_calls_making_new_tensors_on_meta_alone_are_reused(fresh):
    x = torch.empty(4, 6, device="meta")
    for func, args in ((aten.view.default, (x, [24])), (aten.t.default, (x,)), (aten.add_.Tensor, (x, x)),
                       (aten.detach.default, (x,))):
        fresh.run(func, args, {})
        fresh.run(func, args, {})
    assert fresh.stats == {"made": 0, "reused": 0}       # views and in-place ops always run
    c = torch.ones(4, 6)
    fresh.run(aten.add.Tensor, (c, c), {})
    fresh.run(aten.add.Tensor, (c, c), {})
    assert fresh.stats == {"made": 0, "reused": 0}       # real tensors always run
    fresh.run(aten.add.Tensor, (x, x), {})
    fresh.run(aten.add.Tensor, (x, x.t().contiguous().t()), {})   # other strides: another call
    fresh.run(aten.add.Tensor, (x, x), {"alpha": 2})              # another argument: another call
    assert fresh.stats == {"made": 3, "reused": 0}
    rows = fresh.run(aten.sum.dim_IntList, (x, [0]), {})
    cols = fresh.run(aten.sum.dim_IntList, (x, [1]), {})          # the same types, another value
    assert (rows.shape, cols.shape) == ((6,), (4,))
    assert fresh.stats == {"made": 5, "reused": 0}
    fresh.run(aten.add.Tensor, (x, x), {})
    assert fresh.stats["reused"] == 1


def test_a_mode_under_the_count_sees_every_call(fresh):
    # torch's flop_counter under the counting mode: each convolution reaches it (none is skipped)
    with FlopCounterMode(display=False) as fc:
        trace("resnet18", batch=2, mode="infer", device="meta")
    assert fresh.stats["reused"] == 0
    assert fc.get_total_flops() > 0
