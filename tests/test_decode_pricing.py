"""Inference of a decoder priced as prefill + per-token decode with a KV cache, through the one route
(Workload -> trace_workload -> evaluate -> metrics), in sweeps, in the store and on the dashboard."""

from __future__ import annotations

import json
import textwrap

import pytest

from hwsim.count.decode import decode_trace
from hwsim.energy import load_tech
from hwsim.errors import UserError
from hwsim.evaluate import Pricing, evaluate, metrics, trace_workload
from hwsim.hardware import resolve_accelerator, simulate_trace
from hwsim.models.spec import Tokens
from hwsim.schemes import build_scheme
from hwsim.store import METRICS
from hwsim.workload import Workload

DECODE_METRICS = ("prefill_energy_pj", "prefill_latency_us", "decode_energy_pj_per_token",
                  "decode_latency_us_per_token", "generate_energy_pj", "generate_latency_us", "macs_prefill",
                  "macs_decode_per_token", "dram_bytes_decode_per_token", "kv_cache_bytes_per_token",
                  "kv_cache_bytes")

# 2 layers, width 32, 4 query / 2 key-value heads (head_dim 8), learned positions for 64 tokens
TINY = """
from hwsim.models.transformers import Config, Decoder


def make(num_classes=None, in_shape=None, kv_heads=2, positions="learned"):
    cfg = Config(layers=2, dim=32, heads=4, kv_heads=kv_heads, hidden=48, vocab=64, context=64,
                 positions=positions)
    return Decoder(cfg)


make.input_shape = "tokens:12"
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    p = tmp_path_factory.mktemp("dec") / "tiny.py"
    p.write_text(TINY)
    return f"{p}:make"


def _workload(spec, scheme="fp32", prompt=None, new_tokens=4, batch=1, seq=12, **kw):
    return Workload(model=spec, scheme=build_scheme(scheme), input_shape=Tokens((seq,)), num_classes=64,
                    batch=1, infer_batch=batch, steps_per_epoch=1, prompt=prompt, new_tokens=new_tokens, **kw)


def _metrics(w, acc="tpu_like"):
    ev = evaluate(w, resolve_accelerator(acc), load_tech("45nm"), Pricing())
    return ev, metrics(ev)


def _macs(tr):
    return sum(sum(r.macs.values()) for r in tr.records)


def test_decode_metrics_sum_every_step(tiny):
    """MACs per generated token and the cache at the end are the exact mean / size over all steps."""
    w = _workload(tiny, prompt=12, new_tokens=5, batch=2)
    _, m = _metrics(w)
    assert set(DECODE_METRICS) <= set(m) and all(k in METRICS for k in DECODE_METRICS)
    steps = [decode_trace(w.build_network(), "fp32", kv_len=k, batch=2, model_name="tiny") for k in range(12, 17)]
    assert m["macs_decode_per_token"] == sum(_macs(t) for t in steps) / 5 / 2
    per_token = 2 * 2 * 2 * 8 * 4          # K and V x layers x kv_heads x head_dim x 4 B (fp32)
    assert m["kv_cache_bytes_per_token"] == per_token
    assert m["kv_cache_bytes"] == per_token * (12 + 5)
    # the prompt is the workload's input: the inference pass is the prefill
    assert m["prefill_energy_pj"] == m["infer_energy_pj"] and m["macs_prefill"] == m["macs_infer"]
    assert m["generate_energy_pj"] == pytest.approx(m["prefill_energy_pj"] + 5 * m["decode_energy_pj_per_token"])
    assert m["generate_latency_us"] == pytest.approx(m["prefill_latency_us"] + 5 * m["decode_latency_us_per_token"])


def test_kv_cache_follows_the_scheme(tiny):
    _, m32 = _metrics(_workload(tiny, "fp32"))
    _, m8 = _metrics(_workload(tiny, "bitnet"))
    assert m32["kv_cache_bytes_per_token"] == 4 * m8["kv_cache_bytes_per_token"]     # fp32 vs 8-bit activations
    assert m8["decode_energy_pj_per_token"] < m32["decode_energy_pj_per_token"]


def test_a_longer_cache_costs_its_reads_on_the_accelerator(tiny):
    """Each decode step reads the whole KV cache: the accelerator runs attention's GEMMs with keys and
    values as the filter operand, so DRAM traffic per token grows by at least the cache's growth."""
    short = _metrics(_workload(tiny, prompt=4, new_tokens=1))[1]
    long = _metrics(_workload(tiny, prompt=52, new_tokens=1))[1]
    grown = long["dram_bytes_decode_per_token"] - short["dram_bytes_decode_per_token"]
    assert grown >= 48 * short["kv_cache_bytes_per_token"]
    assert long["decode_latency_us_per_token"] > short["decode_latency_us_per_token"]
    assert long["decode_energy_pj_per_token"] > short["decode_energy_pj_per_token"]


def test_grouped_query_heads_read_their_cache_once(tiny):
    """Query heads sharing a key/value head read its cache once: 4 query heads over 2 or 4 KV heads."""
    from hwsim.models import build_model

    dram = {}
    for kvh in (2, 4):
        tr = decode_trace(build_model(tiny, kv_heads=kvh), kv_len=40, model_name="tiny")
        rep = simulate_trace(tr, "tpu_like")
        dram[kvh] = sum(r.dram_reads_filter for r in rep.rows if r.layer.endswith(".attn"))
    assert dram[2] > 0 and dram[4] == pytest.approx(2 * dram[2], rel=0.05)


@pytest.mark.parametrize("mode", ["decode", "prefill", "train"])
def test_every_counted_mac_is_simulated(tiny, mode):
    """Attention (Q K^T, P V and their backward) runs on the array like the projections: the accelerator
    issues exactly the MACs the trace counts, in every phase."""
    from hwsim.count import trace
    from hwsim.models import build_model

    net = build_model(tiny)
    if mode == "decode":
        tr = decode_trace(net, kv_len=9, batch=2, model_name="tiny")
    else:
        tr = trace(net, "fp32", input_shape="tokens:12", batch=2, mode="infer" if mode == "prefill" else "train")
    rep = simulate_trace(tr, "tpu_like")
    phases = {r.phase for r in tr.records if r.total_macs}
    for ph in phases:
        sim = sum(r.macs for r in rep.rows if r.phase == ph and r.unit == "array")
        assert sim == sum(r.total_macs for r in tr.records if r.phase == ph) > 0, ph


def test_non_decoders_keep_their_figures():
    w = Workload(model="lenet300", scheme=build_scheme("fp32"), input_shape=(1, 28, 28), num_classes=10,
                 batch=2, steps_per_epoch=1)
    traces = trace_workload(w)
    assert traces.decode is None
    assert not set(DECODE_METRICS) & set(_metrics(w)[1])


def test_decode_mistakes_are_one_line(tiny):
    with pytest.raises(UserError, match="decoder"):
        trace_workload(Workload(model="lenet300", scheme=build_scheme("fp32"), input_shape=(1, 28, 28),
                                num_classes=10, new_tokens=4))
    with pytest.raises(UserError, match="learned positions"):      # 60 + 10 > the 64 positions
        trace_workload(_workload(tiny, prompt=60, new_tokens=10))
    with pytest.raises(UserError, match="new_tokens"):
        trace_workload(_workload(tiny, new_tokens=0))
    # rotary positions have no such limit
    assert trace_workload(_workload(tiny, prompt=60, new_tokens=10, model_args={"positions": "rope"})).decode


SWEEP = """
name: llm
accuracy: none
models: [{{name: gpt2_small, input: "tokens:16"}}, lenet300]
datasets: [none]
schemes: [fp32, bitnet]
accelerators: [tpu_like]
pricing: {{batch: 1, prompt: 16, new_tokens: {new}}}
"""


def _sweep_file(tmp_path, text):
    f = tmp_path / "s.yaml"
    f.write_text(textwrap.dedent(text))
    return f


@pytest.mark.parametrize("text,where,what", [
    (SWEEP.replace("prompt: 16, new_tokens: {new}", "prompt: 16"), "pricing", "give new_tokens too"),
    (SWEEP.replace("new_tokens: {new}", "new_tokens: 0"), "pricing.new_tokens", "greater than or equal to 1"),
    (SWEEP.replace("gpt2_small, input: \"tokens:16\"", "resnet20"), "pricing.new_tokens",
     "no model of this sweep is one"),
    (SWEEP.replace("{new}", "1009"), "pricing.new_tokens", "1024 learned positions"),
    (SWEEP.replace("accuracy: none", "accuracy: train"), "", "training needs a data set"),
    (SWEEP.replace("tokens:16", "tokens:x"), "models[0].input", "tokens:N"),
])
def test_sweep_decode_mistakes(tmp_path, text, where, what):
    from hwsim.sweep.expand import load_points

    with pytest.raises(UserError) as e:
        load_points(_sweep_file(tmp_path, text.replace("{new}", "4").replace("{{", "{").replace("}}", "}")))
    assert where in e.value.where and what in e.value.what and "\n" not in str(e.value)


def test_transformer_sweep_into_the_store_and_the_dashboard(tmp_path):
    """gpt2_small at 16 tokens under fp32 and BitNet, costs only, priced with prefill + decode; a
    non-decoder in the same sweep keeps its usual figures; the dashboard's data layer reads them."""
    from hwsim.store import Store
    from hwsim.sweep.expand import load_points
    from hwsim.sweep.runner import run_points
    from webapp.data import StoreData
    from webapp.pages.explore import pareto_for

    _, pts = load_points(_sweep_file(tmp_path, SWEEP.format(new=8)))
    assert len(pts) == 4
    db = tmp_path / "llm.db"
    summary = run_points(pts, db, workers=0)
    assert summary.failed == 0
    df = Store(db).points()
    gpt = df[df["model"] == "gpt2_small"].set_index("scheme")
    assert set(gpt.index) == {"fp32", "bitnet"} and (df["status"] == "done").all()
    for k in DECODE_METRICS:
        assert (gpt[k] > 0).all(), k
    assert gpt.loc["fp32", "kv_cache_bytes_per_token"] == 2 * 12 * 768 * 4          # 2 L kv_heads head_dim 4 B
    assert gpt.loc["bitnet", "kv_cache_bytes_per_token"] == 2 * 12 * 768 * 1
    assert gpt.loc["fp32", "kv_cache_bytes"] == 2 * 12 * 768 * 4 * (16 + 8)
    assert gpt.loc["bitnet", "decode_energy_pj_per_token"] < gpt.loc["fp32", "decode_energy_pj_per_token"]
    lenet = df[df["model"] == "lenet300"]
    assert lenet[list(DECODE_METRICS)].isna().all().all() and (lenet["infer_energy_pj"] > 0).all()
    cfg = Store(db).point(gpt.loc["fp32", "id"])["config"]
    assert cfg["pricing"]["new_tokens"] == 8 and cfg["input_shape"] == "tokens:16"
    assert "new_tokens" not in Store(db).point(lenet["id"].iloc[0])["config"]["pricing"]
    assert Store(db).blob(gpt.loc["fp32", "id"], "decode")["decode_last"]["kv_cache"]["tokens"] == 16 + 8 - 1

    data = StoreData(db)
    done = data.done_points()
    assert len(done) == 4 and set(DECODE_METRICS) <= set(data.metric_names())
    v = {"x": "decode_energy_pj_per_token", "y": "kv_cache_bytes"}
    frame, fig = pareto_for(data, v, {})
    drawn = frame.dropna(subset=[v["x"], v["y"]])
    assert set(drawn["id"]) == set(gpt["id"]) and len(fig.data) > 0
    assert done[done["model"] == "gpt2_small"]["generate_latency_us"].notna().all()
    # the Design point page draws a transformer point (attention rows included)
    from webapp.pages.point import point_figures

    figs = point_figures(data, gpt.loc["bitnet", "id"], "inference")
    assert {"pt-macs", "pt-energy", "pt-cycles"} <= set(figs)


def _cli(capsys, *argv):
    from hwsim.cli import main

    try:
        rc = main(list(argv))
    except SystemExit as e:
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def test_cost_shows_the_prefill_decode_split(tiny, capsys):
    """``hwsim cost --new-tokens`` prices prefill + decode through the route and prints the split."""
    rc, out, _ = _cli(capsys, "cost", tiny, "--phase", "infer", "-b", "2", "--new-tokens", "5", "--accelerator",
                      "tpu_like", "--json")
    assert rc in (0, None)
    dec = json.loads(out)["decode"]
    _, m = _metrics(_workload(tiny, new_tokens=5, batch=2))
    assert {k: dec[k] for k in DECODE_METRICS} == pytest.approx({k: m[k] for k in DECODE_METRICS})
    rc, out, _ = _cli(capsys, "cost", tiny, "--phase", "infer", "--new-tokens", "5", "--prompt", "8")
    assert rc in (0, None) and "prefill (8 tokens)" in out and "first step (8 cached)" in out
    assert "last step (12 cached)" in out and "at the end (13 tokens)" in out


@pytest.mark.parametrize("args,msg", [
    (["lenet300", "--new-tokens", "4"], "error: --new-tokens: "),
    (["TINY", "--prompt", "8"], "error: --prompt: "),
    (["TINY", "--new-tokens", "60", "--prompt", "10"], "error: --new-tokens: prompt + new tokens = 70"),
])
def test_cost_decode_mistakes(tiny, capsys, args, msg):
    rc, out, err = _cli(capsys, "cost", *[tiny if a == "TINY" else a for a in args])
    assert rc == 2 and err.startswith(msg) and err.count("\n") == 1, err
