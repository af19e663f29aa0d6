"""Storage keys used to tell a weight from a gradient stay unique for the whole counted step.

A key is the address of a tensor's storage. A quantized weight (TWN's ternary copy) is a temporary that
the first layer's backward does not save; once freed, a gradient allocated at the same address took its
key and the first layer's weight-gradient GEMM was counted as backward-data (seen as a golden-figure
difference on one CI run). The counting mode holds each weight operand's storage until the step is
counted."""

from __future__ import annotations

import hwsim.count.api as api
from hwsim.count import trace
from hwsim.models import build_builtin, load_all
from hwsim.schemes.base import build_scheme


def test_weight_operand_storage_is_held_through_backward(monkeypatch) -> None:
    load_all()
    held: list[tuple[str, object, object]] = []
    real = api._weight_inputs

    def spy(cm):
        held.extend((lt.name, lt.weight_key, lt.weight_ref) for lt in cm.layers.values() if lt.is_weight)
        return real(cm)

    monkeypatch.setattr(api, "_weight_inputs", spy)
    scheme = build_scheme({"name": "mixed", "compose": ["twn", {"name": "graham", "quantizer": "L4"}]})
    t = trace(build_builtin("graham_fc", 10, (3, 32, 32)), scheme, batch=2, mode="train",
              input_shape=(3, 32, 32), num_classes=10, device="meta")
    assert {n for n, _, _ in held} == {"fc1", "fc2", "fc3"}
    for name, key, ref in held:
        assert key is not None and ref is not None, name
        assert ref._cdata == key, name
    fc1 = {r.phase: r.total_macs for r in t.records if r.layer == "fc1" and r.total_macs}
    assert fc1 == {"forward": 2 * 3072 * 1024, "backward_weight": 2 * 3072 * 1024}
