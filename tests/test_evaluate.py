"""The evaluation route: one trace priced on several accelerators, the one resolver, shape parser and
optimizer vocabulary."""

from __future__ import annotations

import pytest

from hwsim.configs import CONFIG_DIR, resolve
from hwsim.errors import UserError
from hwsim.workload import OPTIMIZERS, optimizer_of, optimizer_states, parse_input_shape


def test_resolve_names_and_paths(tmp_path):
    assert resolve("accelerators", "tpu_like") == (CONFIG_DIR / "accelerators" / "tpu_like.yaml").resolve()
    assert resolve("hierarchy", "edge").name == "edge.yaml"
    f = tmp_path / "mine.yaml"
    f.write_text("name: mine\n")
    assert resolve("accelerators", "mine.yaml", base=tmp_path) == f.resolve()
    with pytest.raises(UserError, match="unknown accelerator 'nope'; known: .*tpu_like"):
        resolve("accelerators", "nope")
    with pytest.raises(UserError, match="file not found"):
        resolve("tech", "missing.yaml")


def test_one_shape_parser():
    assert parse_input_shape("3x224x224") == parse_input_shape("3,224,224") == (3, 224, 224)
    assert parse_input_shape("128") == (128,)
    assert parse_input_shape([2, 3, 4, 5]) == (2, 3, 4, 5)
    for bad in ("3x0x2", "axb", ""):
        with pytest.raises(UserError):
            parse_input_shape(bad)


def test_one_optimizer_vocabulary():
    assert OPTIMIZERS == {"sgd": 0, "sgd_momentum": 1, "adam": 2}
    assert optimizer_of(None) == "sgd_momentum"                       # no recipe: the recipe default
    assert optimizer_of({"optimizer": "sgd", "momentum": 0.9}) == "sgd_momentum"
    assert optimizer_of({"optimizer": "sgd", "momentum": 0.0}) == "sgd"
    assert optimizer_of({"optimizer": "adam", "momentum": 0.9}) == "adam"
    assert optimizer_states("adam") == 2
    with pytest.raises(UserError):
        optimizer_states("rmsprop")


def test_points_share_one_trace():
    pytest.importorskip("torch")
    from hwsim.energy import load_tech
    from hwsim.evaluate import Pricing, evaluate, metrics, trace_workload
    from hwsim.hardware import load_accelerator
    from hwsim.schemes import build_scheme
    from hwsim.workload import Workload

    wl = Workload("lenet5", build_scheme("twn"), (1, 28, 28), 10, batch=2, steps_per_epoch=3)
    traces = trace_workload(wl)
    tech = load_tech("45nm")
    by_acc = {}
    for name in ("tpu_like", "eyeriss"):
        ev = evaluate(wl, load_accelerator(name), tech, Pricing(), traces=traces)
        assert ev.traces is traces                                     # counted once, priced twice
        by_acc[name] = metrics(ev)
    # same counts, different hardware figures
    assert by_acc["tpu_like"]["macs_train_step"] == by_acc["eyeriss"]["macs_train_step"] > 0
    assert by_acc["tpu_like"]["train_step_cycles"] != by_acc["eyeriss"]["train_step_cycles"]
    fresh = metrics(evaluate(wl, load_accelerator("eyeriss"), tech, Pricing()))
    assert fresh == by_acc["eyeriss"]
    m = by_acc["eyeriss"]
    params = traces.train.param_count
    assert m["train_memory_bytes"] == 4 * params * (2 + 1) + traces.train.stash_bytes   # sgd_momentum: 1 state


def test_hardware_metrics_per_sample_at_any_inference_batch():
    """latency_us is latency_cycles at the clock, and power x latency is the energy of a sample, whatever
    the inference batch (the batch's cycles must not be multiplied by the batch again)."""
    pytest.importorskip("torch")
    from hwsim.energy import load_tech
    from hwsim.evaluate import Pricing, evaluate, metrics
    from hwsim.hardware import load_accelerator
    from hwsim.schemes import build_scheme
    from hwsim.workload import Workload

    acc = load_accelerator("tpu_like")
    for nb in (1, 4):
        wl = Workload("lenet5", build_scheme("fp32"), (1, 28, 28), 10, batch=2, infer_batch=nb, steps_per_epoch=3)
        m = metrics(evaluate(wl, acc, load_tech("45nm"), Pricing()))
        assert m["latency_us"] == pytest.approx(m["latency_cycles"] / acc.clock_mhz)
        assert m["power_w"] * m["latency_us"] * 1e-6 * nb == pytest.approx(m["infer_energy_pj"] * nb * 1e-12)
        assert m["edp_pj_s"] == pytest.approx(m["infer_energy_pj"] * m["latency_us"] * 1e-6)
