"""CountingCallback in a training loop, and the count/train CLI verbs."""

from __future__ import annotations

import json

import torch
import torch.nn as nn

from hwsim.cli import main
from hwsim.count import CountingCallback


def _manual_loop(model, cb, steps=7, batch=8, last=3):
    """A loop of our own (independent of hwsim.train): two step signatures, the callback's hooks."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    cb.on_train_begin(model, opt)
    step = 0
    for epoch in (1, 2):
        for i in range(steps):
            n = last if i == steps - 1 else batch
            x, y = torch.randn(n, 1, 8, 8), torch.randint(0, 10, (n,))
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            cb.on_step(model, step, epoch, float(loss.detach()))
        cb.on_epoch_end(model, epoch, {"epoch": epoch, "test_acc": 0.1})
    cb.on_train_end(model, None)


def test_callback_records_trace_timelines_and_signatures():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    cb = CountingCallback(sample_every=3, model_name="mlp")
    _manual_loop(model, cb)
    assert cb.signatures == {(8, 1, 8, 8): 12, (3, 1, 8, 8): 2}
    assert set(cb.shape_traces) == {(8, 1, 8, 8), (3, 1, 8, 8)}
    tr = cb.trace
    assert tr is not None and tr.meta.device == "cpu" and tr.steps_per_epoch == 7
    # per-epoch work = 6 steps at batch 8 + 1 step at batch 3
    per8 = cb.shape_traces[(8, 1, 8, 8)].totals()["macs"]["fp32"]
    per3 = cb.shape_traces[(3, 1, 8, 8)].totals()["macs"]["fp32"]
    assert cb.epoch_totals["macs"]["fp32"] == 6 * per8 + per3
    # sparsity timeline: step 0 plus every 3rd step, for both weight layers; ReLU zeros reach layer "3"
    samples = cb.timeline["3"]
    assert [s.step for s in samples] == [0, 3, 6, 9, 12]
    assert all(0.2 < s.input < 0.8 for s in samples)
    assert all(abs(s.effectual_fraction - (1 - s.input) * (1 - s.weight)) < 0.05 for s in samples)
    assert tr.meta.training.sparsity_timeline is cb.timeline
    # the training model keeps no hook of ours
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_hwsim_train_loop_with_callback():
    from hwsim.data import load_dataset
    from hwsim.models import build_model
    from hwsim.schemes import build_scheme
    from hwsim.train import TrainRecipe, train

    ds = load_dataset("digits", limit=120)
    sch = build_scheme("twn")
    net = sch.convert(build_model("lenet300", num_classes=10, in_shape=ds.in_shape))
    cb = CountingCallback(sch, sample_every=2, model_name="lenet300")
    res = train(net, sch, ds, TrainRecipe(epochs=1, batch_size=32, device="cpu"), callbacks=[cb])
    assert res.epochs_run == 1
    tr = cb.trace
    assert tr.scheme == "twn" and tr.steps_per_epoch > 0
    fwd = {r.layer: r for r in tr.records if r.phase == "forward" and r.macs}
    assert set(fwd["fc1"].macs) == {"ternary"}
    # ternary zeros are measured and skipped
    assert tr.sparsity["fc1"]["weight"] > 0.05
    assert fwd["fc1"].effectual_macs["ternary"] < fwd["fc1"].macs["ternary"]


def test_cli_count_json(capsys):
    assert main(["count", "resnet20", "--scheme", "bnn", "--batch", "2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["summary"]["macs_by_phase"]["forward"]["xnor_popcount"] > 0
    assert d["trace"]["stash_bytes"] == d["summary"]["stash_bytes"] > 0
    assert {li["op"] for li in d["trace"]["layers"]} >= {"conv2d", "linear", "batchnorm"}


def test_cli_count_table_and_errors(capsys):
    assert main(["count", "lenet300", "--phase", "infer"]) == 0
    assert "inference" in capsys.readouterr().out
    assert main(["count", "nosuch"]) == 2
    assert "error: model: unknown model 'nosuch'" in capsys.readouterr().err
    assert main(["count", "lenet300", "--scheme", "nope"]) == 2
    assert main(["count", "lenet300", "--input", "3xa"]) == 2
    assert main(["count", "lenet300", "--phase", "both"]) == 2
    assert main(["count", "lenet300", "--scheme", "{name: twn, bogus: 1}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(e.startswith("error: ") for e in err)


def test_cli_train_json_and_out(tmp_path, capsys):
    out = tmp_path / "t.json"
    rc = main(["train", "lenet300", "--scheme", "binaryconnect", "--epochs", "1", "--limit", "150",
               "--batch", "50", "--json", "--out", str(out)])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert 0.0 <= d["result"]["final_test_acc"] <= 1.0
    assert d["summary"]["macs_by_phase"]["forward"]["sign_add"] > 0
    assert json.loads(out.read_text())["scheme"] == "binaryconnect"
    assert main(["train", "nosuch", "--epochs", "1"]) == 2
    assert main(["train", "--dataset", "nope"]) == 2
