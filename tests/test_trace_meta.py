"""Trace.meta is a typed TraceMeta; its JSON form is the flat object stores and --json hold."""

from __future__ import annotations

import json

from hwsim.count import trace
from hwsim.count.decode import decode_trace
from hwsim.models.transformers import Config, Decoder
from hwsim.trace import StepCounts, Trace, TraceMeta

# the keys a counted step's meta has always been stored with (store blobs, `hwsim count --json`)
STEP_KEYS = {"device", "notes", "unsupported_ops", "input", "seconds", "phases", "optimizer", "weight_storage",
             "stays_float", "weight_input_values", "train_state_bytes", "weight_input_values_per_sample",
             "weight_input_bytes_fp32", "weight_input_bytes_1bit", "weight_input_stash_bytes", "sparsity_source",
             "loss", "scheme_changes", "scheme_noop"}


def _roundtrip(tr: Trace) -> Trace:
    return Trace.from_dict(json.loads(json.dumps(tr.to_dict())))


def test_counted_step_meta_is_typed_and_keeps_its_stored_keys():
    tr = trace("lenet300", "twn", batch=2, device="meta", steps_per_epoch=3)
    m = tr.meta
    assert isinstance(m, TraceMeta) and isinstance(m.step, StepCounts)
    assert m.step.optimizer == "sgd_momentum" and m.step.train_state_bytes and m.step.loss is None
    d = m.to_json()
    assert set(d) == STEP_KEYS | {"per_epoch"}
    assert d["optimizer"] == "sgd_momentum" and d["loss"] is None and d["phases"] == list(m.phases)
    back = _roundtrip(tr)
    assert back.meta == m and back.to_dict() == tr.to_dict()


def test_inference_pass_keeps_its_null_optimizer():
    tr = trace("lenet300", "fp32", batch=2, device="meta", mode="infer")
    d = tr.to_dict()["meta"]
    assert set(d) == STEP_KEYS and d["optimizer"] is None and d["train_state_bytes"] is None
    assert _roundtrip(tr).meta == tr.meta


def test_decode_step_meta_holds_the_kv_cache_only():
    cfg = Config(layers=1, dim=16, heads=2, kv_heads=1, hidden=24, vocab=32, context=16, norm="rms", mlp="swiglu",
                 positions="rope", bias=False)
    tr = decode_trace(Decoder(cfg), kv_len=3, model_name="tiny")
    d = tr.meta.to_json()
    assert set(d) == {"device", "notes", "unsupported_ops", "input", "seconds", "phases", "kv_cache"}
    assert d["kv_cache"]["tokens"] == 3 and tr.meta.step is None and not tr.meta.scheme_noop
    assert _roundtrip(tr).meta == tr.meta


def test_a_hand_built_trace_has_an_empty_meta():
    tr = Trace(model="m", scheme="fp32", batch=1, input_shape=[4])
    assert tr.to_dict()["meta"] == {} and _roundtrip(tr).meta == TraceMeta()
