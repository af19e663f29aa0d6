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
    assert {n: o.states for n, o in OPTIMIZERS.items()} == {"sgd": 0, "sgd_momentum": 1, "adam": 2}
    assert optimizer_of(None) == "sgd_momentum"                       # no recipe: the recipe default
    assert optimizer_of({"optimizer": "sgd", "momentum": 0.9}) == "sgd_momentum"
    assert optimizer_of({"optimizer": "sgd", "momentum": 0.0}) == "sgd"
    assert optimizer_of({"optimizer": "adam", "momentum": 0.9}) == "adam"
    assert optimizer_states("adam") == 2
    with pytest.raises(UserError):
        optimizer_states("rmsprop")


def test_one_optimizer_value_builds_what_counting_and_training_step():
    """Counting steps each optimizer at its own rate, momentum and decay; training at the recipe's; the
    torch optimizer keeps the state tensors the vocabulary says (what the update phase prices)."""
    import torch

    from hwsim.train import TrainRecipe, _make_optimizer

    want = {"sgd": (torch.optim.SGD, 0.01, 0.0, 0.0), "sgd_momentum": (torch.optim.SGD, 0.1, 0.9, 5e-4),
            "adam": (torch.optim.Adam, 1e-3, None, 0.0)}
    for name, (cls, lr, momentum, wd) in want.items():
        w = torch.nn.Parameter(torch.ones(3))
        opt = OPTIMIZERS[name].build([w])
        g = opt.param_groups[0]
        assert type(opt) is cls and g["lr"] == lr and g["weight_decay"] == wd and g.get("momentum") == momentum
        w.grad = torch.ones(3)
        opt.step()
        assert sum(torch.is_tensor(v) and v.shape == w.shape for v in opt.state[w].values()) == OPTIMIZERS[name].states
    net = torch.nn.Linear(2, 2)
    opt = _make_optimizer(net, TrainRecipe.parse({"lr": 0.05, "momentum": 0.5, "nesterov": True,
                                                  "weight_decay": 1e-4}))
    g = opt.param_groups[0]
    assert type(opt) is torch.optim.SGD and (g["lr"], g["momentum"], g["nesterov"], g["weight_decay"]) == (
        0.05, 0.5, True, 1e-4)
    opt = _make_optimizer(net, TrainRecipe.parse({"optimizer": "adam", "lr": 0.002}))
    assert type(opt) is torch.optim.Adam and opt.param_groups[0]["lr"] == 0.002


def test_points_share_one_trace():
    pytest.importorskip("torch")
    from hwsim.energy import load_tech
    from hwsim.evaluate import Pricing, evaluate, metrics, trace_workload
    from hwsim.hardware import resolve_accelerator
    from hwsim.schemes import build_scheme
    from hwsim.workload import Workload

    wl = Workload("lenet5", build_scheme("twn"), (1, 28, 28), 10, batch=2, steps_per_epoch=3)
    traces = trace_workload(wl)
    tech = load_tech("45nm")
    by_acc = {}
    for name in ("tpu_like", "eyeriss"):
        ev = evaluate(wl, resolve_accelerator(name), tech, Pricing(), traces=traces)
        assert ev.traces is traces                                     # counted once, priced twice
        by_acc[name] = metrics(ev)
    # same counts, different hardware figures
    assert by_acc["tpu_like"]["macs_train_step"] == by_acc["eyeriss"]["macs_train_step"] > 0
    assert by_acc["tpu_like"]["train_step_cycles"] != by_acc["eyeriss"]["train_step_cycles"]
    fresh = metrics(evaluate(wl, resolve_accelerator("eyeriss"), tech, Pricing()))
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
    from hwsim.hardware import resolve_accelerator
    from hwsim.schemes import build_scheme
    from hwsim.workload import Workload

    acc = resolve_accelerator("tpu_like")
    for nb in (1, 4):
        wl = Workload("lenet5", build_scheme("fp32"), (1, 28, 28), 10, batch=2, infer_batch=nb, steps_per_epoch=3)
        m = metrics(evaluate(wl, acc, load_tech("45nm"), Pricing()))
        assert m["latency_us"] == pytest.approx(m["latency_cycles"] / acc.clock_mhz)
        assert m["power_w"] * m["latency_us"] * 1e-6 * nb == pytest.approx(m["infer_energy_pj"] * nb * 1e-12)
        assert m["edp_pj_s"] == pytest.approx(m["infer_energy_pj"] * m["latency_us"] * 1e-6)
