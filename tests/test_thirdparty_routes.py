"""Third-party-style networks (tests/thirdparty_nets.py) through every model route: the user's file,
an importable module, a torch.export program and an ONNX file give the same MACs per phase, in
training and inference, and agree with hand-derived formulas; nothing is counted as a silent 0."""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import thirdparty_nets as T
import torch
from torch import nn

from hwsim.count import summary, trace
from hwsim.errors import UserError
from hwsim.models import spec as specs

HERE = Path(__file__).resolve().parent
NETS = HERE / "thirdparty_nets.py"
HAS_HF = importlib.util.find_spec("transformers") is not None
need_hf = pytest.mark.skipif(not HAS_HF, reason="transformers is a test extra")


def _has_onnx() -> bool:
    try:
        specs._onnx_modules("test")
    except UserError:
        return False
    return True


need_onnx = pytest.mark.skipif(not _has_onnx(), reason="onnx / onnx2torch not installed")


def macs(tr) -> dict[str, int]:
    return {p: sum(v.values()) for p, v in summary(tr)["macs_by_phase"].items() if p != "update"}


def count(spec: str, mode: str = "train", device: str = "meta", batch: int = 2, scheme=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return trace(spec, scheme, batch=batch, mode=mode, device=device)


def _example(name: str):
    torch.manual_seed(0)      # the same weights whenever the network is built
    net = getattr(T, name)().eval()
    shape = specs.default_input(f"{NETS}:{name}")
    x = torch.randint(0, 50, (2, *shape)) if isinstance(shape, specs.Tokens) else torch.randn(2, *shape)
    return net, x


@functools.cache
def _exported(name: str, kind: str, folder: str) -> Path:
    net, x = _example(name)
    path = Path(folder) / f"{name}.{kind}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "pt2":
            torch.export.save(torch.export.export(net, (x,)), str(path))
        elif name in T.HF:
            torch.onnx.export(T.LogitsOnly(net), (x,), str(path), dynamo=False, opset_version=17,
                              input_names=["input_ids"], dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}})
        else:   # the exporter's defaults: constant folding on
            torch.onnx.export(net, (x,), str(path), dynamo=False, opset_version=17, input_names=["x"],
                              dynamic_axes={"x": {0: "batch"}})
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("thirdparty"))
    return lambda name, kind: str(_exported(name, kind, folder))


@pytest.fixture()
def on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))


# -- every route, the same figures -------------------------------------------------------------
ONNX_OK = [*T.VISION, *T.RECURRENT, *T.LANGUAGE]


@pytest.mark.parametrize("name", [*T.VISION, *T.RECURRENT, *T.LANGUAGE, "bilinear"])
def test_every_route_counts_the_same_training_step(name, files, on_path):
    ref = count(f"{NETS}:{name}")
    assert ref.meta.unsupported_ops == {}
    assert all(v > 0 for v in macs(ref).values()), macs(ref)
    routes = [f"thirdparty_nets:{name}", files(name, "pt2")]
    if name in ONNX_OK and _has_onnx():
        routes.append(files(name, "onnx"))
    for spec in routes:
        tr = count(spec)
        assert macs(tr) == macs(ref), spec
        assert tr.meta.unsupported_ops == {}, spec
        want = _onnx_params(getattr(T, name)()) if spec.endswith(".onnx") else ref.param_count
        assert tr.param_count == want, spec


def _onnx_params(net: nn.Module) -> int:
    """The parameters an ONNX export keeps (constant folding in eval mode): each BatchNorm after a
    bias-free convolution is folded into it (its C scales and C shifts become the convolution's C
    biases), and a table gathered by a constant index (Swin's relative-position bias) is stored
    gathered, (N*N, heads) instead of the table."""
    n = sum(p.numel() for p in net.parameters())
    n -= sum(m.num_features for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    for m in net.modules():
        if isinstance(m, T.WindowAttention):
            n += m.relative_position_index.numel() * m.heads - m.relative_position_bias_table.numel()
    return n


@pytest.mark.parametrize("name", ["vit", "lstm_classifier", "tiny_lm", "unet"])
def test_inference_same_on_every_route_and_device(name, files):
    ref = macs(count(f"{NETS}:{name}", mode="infer"))
    assert ref == {"inference": macs(count(f"{NETS}:{name}"))["forward"]}
    assert macs(count(files(name, "pt2"), mode="infer")) == ref
    assert macs(count(f"{NETS}:{name}", mode="infer", device="cpu")) == ref


@need_hf
@pytest.mark.parametrize("name", T.HF)
def test_hugging_face_models_from_configs(name, files):
    ref = count(f"{NETS}:{name}")
    assert ref.meta.unsupported_ops == {}
    pt2 = count(files(name, "pt2"))
    assert macs(pt2) == macs(ref) and pt2.param_count == ref.param_count
    assert macs(count(f"{NETS}:{name}", device="cpu")) == macs(ref)


@need_hf
@need_onnx
@pytest.mark.parametrize("name", T.HF)
def test_hugging_face_onnx_counts_as_the_factory(name, files):
    """An ONNX file of a Hugging Face model (exported through T.LogitsOnly, its sequence length symbolic)
    counts the factory's MACs and parameters in both modes; GPT-2's head is tied to its token table."""
    tokens = specs.Tokens((16,))
    for mode in ("train", "infer"):
        ref = count(f"{NETS}:{name}", mode=mode)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tr = trace(files(name, "onnx"), None, batch=2, mode=mode, input_shape=tokens)
        assert macs(tr) == macs(ref), mode
        assert tr.param_count == ref.param_count and tr.meta.unsupported_ops == {}
    net = specs.load_onnx(Path(files(name, "onnx"))).eval()
    orig, x = _example(name)
    with torch.no_grad():
        torch.testing.assert_close(net(x), T.LogitsOnly(orig)(x), rtol=1e-4, atol=1e-4)


@need_hf
def test_gpt2_counts_by_hand():
    # tokens x weight-matrix parameters (two blocks of 32x96 + 32x32 + 32x128 + 128x32, head 32x100)
    # plus attention B*H*L*S*(D+Dv) per block; backward-weight = the weight GEMMs; backward-data adds
    # twice the attention and skips the embedding
    tokens, weights = 2 * 16, 2 * (32 * 96 + 32 * 32 + 32 * 128 + 128 * 32) + 32 * 100
    att = 2 * (2 * 4 * 16 * 16 * (8 + 8))
    tr = count(f"{NETS}:hf_gpt2")
    assert macs(tr) == {"forward": tokens * weights + att, "backward_weight": tokens * weights,
                        "backward_data": tokens * weights + 2 * att}
    # the head is tied to the token embedding: one parameter, counted once
    assert tr.param_count == 100 * 32 + 64 * 32 + 2 * (4 * 32 + 32 * 96 + 96 + 32 * 32 + 32 + 32 * 128 + 128
                                                       + 128 * 32 + 32) + 2 * 32


# -- recurrent layers, bilinear, attention fast paths ---------------------------------------------
def test_lstm_on_cpu_counts_what_meta_counts_and_the_hand_formula():
    # B=2, T=12, gates G=4*24, layer 1 input 16, layer 2 input 24, head 24->5
    g, fwd = 96, 2 * 12 * 96 * (16 + 24) + 2 * 12 * 96 * (24 + 24) + 2 * 24 * 5
    meta, cpu = count(f"{NETS}:lstm_classifier"), count(f"{NETS}:lstm_classifier", device="cpu")
    assert macs(cpu) == macs(meta) == {"forward": fwd, "backward_weight": fwd,
                                       "backward_data": fwd - 2 * (2 * g * 24)}   # no gradient for h0
    assert cpu.meta.unsupported_ops == {}
    assert macs(count(f"{NETS}:lstm_classifier", mode="infer", device="cpu")) == {"inference": fwd}


def test_bilinear_counts_its_products():
    # fc 8->6 on 2 rows, then x1^T W_k x2: N*O*I1*I2 + N*O*I2
    fwd = 2 * 8 * 6 + (2 * 4 * 6 * 8 + 2 * 4 * 8)
    for dev in ("meta", "cpu"):
        assert macs(count(f"{NETS}:bilinear", device=dev))["forward"] == fwd


class _MHA(nn.Module):
    def __init__(self):
        super().__init__()
        self.att = nn.MultiheadAttention(32, 4, batch_first=True)

    def forward(self, x):
        return self.att(x, x, x)[0]


class _Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, dropout=0.0), 2,
                                         enable_nested_tensor=False)

    def forward(self, x):
        return self.enc(x)


@pytest.mark.parametrize("scheme", [None, "fp32", "bitnet"])
def test_attention_fast_paths_count_in_full(scheme):
    # B=2, L=10, E=32, 4 heads: four projections 4*B*L*E^2 + B*H*L*L*(D+Dv); MLP 2*B*L*E*F
    att = 4 * 20 * 32 * 32 + 2 * 4 * 10 * 10 * 16
    for net, want in ((_MHA(), att), (_Encoder(), 2 * (att + 2 * 20 * 32 * 64))):
        for dev in ("meta", "cpu"):
            tr = trace(net, scheme, batch=2, input_shape=(10, 32), mode="infer", device=dev)
            assert macs(tr) == {"inference": want}, (type(net).__name__, dev)
            assert tr.meta.unsupported_ops == {}


def test_fast_path_formulas_are_the_kernels_own():
    from hwsim.count.formulas import FORMULAS

    aten = torch.ops.aten
    for op in (aten.mkldnn_rnn_layer, aten.mkldnn_rnn_layer_backward, aten._trilinear,
               aten._native_multi_head_attention, aten._transformer_encoder_layer_fwd, aten._thnn_fused_lstm_cell,
               aten._thnn_fused_gru_cell, aten.lstm_cell, aten.gru_cell):
        assert op in FORMULAS, op


# -- ops without a formula -------------------------------------------------------------------
class _Spectral(nn.Module):
    input_shape = (16,)

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc(torch.fft.rfft(x).abs().repeat(1, 2)[:, :16])


def test_an_op_without_a_formula_is_listed():
    tr = trace(_Spectral(), None, batch=2, input_shape=(16,))
    assert any("fft" in op for op in tr.meta.unsupported_ops), tr.meta.unsupported_ops


def _cli(*args: str, cwd: Path = HERE) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    return subprocess.run([sys.executable, "-m", "hwsim.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


def test_strict_fails_on_an_op_without_a_formula(tmp_path):
    src = tmp_path / "spectral.py"
    src.write_text("import torch\nfrom torch import nn\n\n\nclass Spectral(nn.Module):\n    input_shape = (16,)\n\n"
                   "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(16, 4)\n\n"
                   "    def forward(self, x):\n        return self.fc(torch.fft.rfft(x).abs().repeat(1, 2)[:, :16])\n\n\n"
                   "def make():\n    return Spectral()\n")
    ok = _cli("count", f"{src}:make")
    assert ok.returncode == 0 and "without a counting formula" in ok.stdout
    bad = _cli("count", f"{src}:make", "--strict")
    assert bad.returncode == 2 and "no counting formula" in bad.stderr and "Traceback" not in bad.stderr


# -- meta first, CPU when the network needs values ------------------------------------------------
def test_factory_that_needs_values_on_both_devices():
    meta, cpu = count(f"{NETS}:regnet"), count(f"{NETS}:regnet", device="cpu")
    assert macs(meta) == macs(cpu) and meta.param_count == cpu.param_count
    for dev in ("meta", "cpu"):
        r = _cli("count", f"{NETS}:regnet", "-b", "2", "--device", dev)
        assert r.returncode == 0, r.stderr[-500:]


def test_exported_recurrent_program_runs_on_meta(files):
    tr = count(files("gru_classifier", "pt2"))
    assert not tr.meta.notes, tr.meta.notes       # created tensors follow the input onto meta
    assert tr.meta.device == "meta"


# -- outputs of any common shape give a loss ------------------------------------------------------
class _Wrapped(nn.Module):
    input_shape = (8,)

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        y = self.fc(x)
        if self.kind == "tuple":
            return y, x
        if self.kind == "dict":
            return {"hidden": x, "logits": y}
        return {"last_hidden_state": y}


@pytest.mark.parametrize("kind", ["tuple", "dict", "hidden"])
def test_any_common_output_gives_a_training_loss(kind):
    tr = trace(_Wrapped(kind), None, batch=4, input_shape=(8,), device="cpu")
    m = macs(tr)
    assert m["forward"] == m["backward_weight"] == 4 * 8 * 3 and not m.get("backward_data")
    assert tr.meta.step.loss is not None


def test_model_output_from_api():
    from hwsim.count.api import model_output

    y = torch.zeros(2, 3)
    assert model_output((y, torch.ones(1))) is y
    assert model_output({"a": 1, "logits": y}) is y
    with pytest.raises(UserError):
        model_output({"a": 1})


# -- schemes ---------------------------------------------------------------------------------
@need_hf
def test_hf_conv1d_converts_as_a_linear():
    from hwsim.schemes import build_scheme

    net = build_scheme("bitnet").convert(T.hf_gpt2())
    assert not [n for n, m in net.named_modules() if type(m).__name__ == "Conv1D"]
    quantized = [n for n, m in net.named_modules() if type(m).__name__ == "QLinear"]
    assert len(quantized) == 8        # c_attn, c_proj, c_fc, mlp.c_proj of both blocks; the head kept
    x = torch.randint(0, 100, (1, 16))
    ref = T.hf_gpt2().eval()
    lin = build_scheme("fp32").convert(T.hf_gpt2()).eval()
    torch.testing.assert_close(lin(x).logits, ref(x).logits)


@pytest.mark.parametrize("scheme", ["bitnet", "kbit", "bnn", "twn", "mcdonnell"])
def test_strict_fails_on_exactly_the_layers_left_float(scheme):
    from hwsim.quant.layers import stays_float
    from hwsim.schemes import build_scheme

    for name in ("vit", "convnext", "swin"):      # class token, position embedding, layer scale, bias table
        assert stays_float(build_scheme(scheme).convert(getattr(T, name)())) == {}, name
    for name, layer in (("lstm_classifier", "rnn"), ("gru_classifier", "rnn"), ("bilinear", "bil")):
        assert list(stays_float(build_scheme(scheme).convert(getattr(T, name)()))) == [layer], name
    assert stays_float(build_scheme("fp32").convert(T.lstm_classifier())) == {}


@need_hf
def test_strict_cli_on_gpt2_and_rnn():
    assert _cli("count", f"{NETS}:hf_gpt2", "-s", "bitnet", "--strict").returncode == 0
    r = _cli("count", f"{NETS}:lstm_classifier", "-s", "kbit", "--strict")
    assert r.returncode == 2 and "rnn" in r.stderr and "Traceback" not in r.stderr


# -- ONNX -------------------------------------------------------------------------------------
@need_onnx
def test_onnx_weights_are_parameters_and_layers(files):
    vit = specs.load_onnx(Path(files("vit", "onnx")))
    assert sum(p.numel() for p in vit.parameters()) == sum(p.numel() for p in T.vit().parameters())
    assert sum(isinstance(m, nn.Linear) for m in vit.modules()) >= 4
    lm = specs.load_onnx(Path(files("tiny_lm", "onnx")))
    assert specs.token_vocab(lm) == 64
    tr = count(files("tiny_lm", "onnx"), mode="infer")
    assert macs(tr) == macs(count(f"{NETS}:tiny_lm", mode="infer"))


@need_onnx
def test_onnx_conversion_keeps_the_numerics(files):
    for name in ("mobilenet_v3", "unet", "vit", *T.RECURRENT):
        net, x = _example(name)
        conv = specs.load_onnx(Path(files(name, "onnx"))).eval()
        with torch.no_grad():
            torch.testing.assert_close(conv(x), net(x), rtol=1e-4, atol=1e-4)


# -- files as users make them: opsets, external data, dynamic batch; values-dependent and unused parts --
@need_onnx
@pytest.mark.parametrize("opset", [13, 18])
def test_onnx_opsets(opset, tmp_path):
    """Opset 18 moved the reductions' axes, Split's sizes and Pad's axes into inputs and extended
    Resize; each converts (UNet: Resize and ConvTranspose; ConvNeXt: LayerNorm, ReduceMean)."""
    for name in ("unet", "convnext"):
        net, x = _example(name)
        path = tmp_path / f"{name}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (x,), str(path), dynamo=False, opset_version=opset, input_names=["x"],
                              dynamic_axes={"x": {0: "batch"}})
        assert macs(count(str(path))) == macs(count(f"{NETS}:{name}")), name
        with torch.no_grad():
            torch.testing.assert_close(specs.load_onnx(path).eval()(x), net(x), rtol=1e-4, atol=1e-4)


@need_onnx
def test_onnx_with_external_data(files, tmp_path):
    import onnx

    folder = tmp_path / "ext"
    folder.mkdir()
    onnx.save(onnx.load(files("unet", "onnx")), str(folder / "unet.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="unet.data", size_threshold=0)
    assert (folder / "unet.data").stat().st_size > 10_000
    assert macs(count(str(folder / "unet.onnx"))) == macs(count(f"{NETS}:unet"))


def test_pt2_with_a_dynamic_batch(tmp_path):
    net, x = _example("vit")
    path = tmp_path / "vit.pt2"
    batch = torch.export.Dim("batch", min=1, max=1024)
    torch.export.save(torch.export.export(net, (x,), dynamic_shapes={"x": {0: batch}}), str(path))
    assert macs(count(str(path), batch=8)) == macs(count(f"{NETS}:vit", batch=8))


def test_packed_sequences_count_the_real_steps():
    tr = count(f"{NETS}:packed_lstm")
    assert tr.meta.unsupported_ops == {}
    # on the CPU with the drawn ids: each non-padding step costs 4H(I+H) (+ the head on both rows)
    torch.manual_seed(0)
    steps = macs(tr)["forward"] - 2 * 16 * 3
    assert steps > 0 and steps % (4 * 16 * (8 + 16)) == 0 and steps // (4 * 16 * (8 + 16)) <= 2 * 10
    assert macs(count(f"{NETS}:packed_lstm", device="cpu")) == macs(tr)


def test_unused_parameters_are_held_but_cost_no_work():
    tr = count(f"{NETS}:unused_head")
    assert macs(tr) == {"forward": 2 * (8 * 16 + 16 * 4), "backward_weight": 2 * (8 * 16 + 16 * 4),
                        "backward_data": 2 * 16 * 4}
    assert tr.param_count == 8 * 16 + 16 + 16 * 4 + 4 + 16 * 100 + 100
    for scheme in ("bnn", "kbit"):
        r = _cli("count", f"{NETS}:unused_head", "-b", "2", "-s", scheme, "--strict")
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-400:]


@need_onnx
def test_onnx_input_mistakes_are_one_line(files, tmp_path):
    net, x = _example("vit")
    fixed = tmp_path / "vit_fixed.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), str(fixed), dynamo=False, opset_version=17)   # batch 2, not dynamic
    r = _cli("count", str(fixed), "-b", "4")
    assert r.returncode == 2 and "traced at batch 2" in r.stderr and "Traceback" not in r.stderr, r.stderr[-400:]
    assert _cli("count", str(fixed), "-b", "2").returncode == 0
    if HAS_HF:        # a symbolic sequence length: the line suggests token ids
        r = _cli("count", files("hf_bert", "onnx"), "-b", "2")
        assert r.returncode == 2 and "--input tokens:" in r.stderr and "Traceback" not in r.stderr, r.stderr[-400:]


@need_hf
def test_ensemble_of_hugging_face_members():
    """benn's ensemble takes each member's logits from its ModelOutput, in training and inference."""
    for phase in ("train", "infer"):
        tr = count(f"{NETS}:hf_gpt2", scheme="benn", mode=phase)
        ref = count(f"{NETS}:hf_gpt2", scheme="bnn", mode=phase)
        assert tr.param_count == 5 * ref.param_count and tr.meta.unsupported_ops == {}
        assert macs(tr)["forward" if phase == "train" else "inference"] > 0


@need_hf
def test_exported_gpt2_conv1d_is_a_linear_schemes_convert(files):
    """In a .pt2, Hugging Face's Conv1D is an addmm on its (in, out) weight: it comes back as the Linear
    it is (a transposed view of the same weight), so --strict passes as on the factory route."""
    pt2 = files("hf_gpt2", "pt2")
    net = specs.load_pt2(Path(pt2))
    assert sum(isinstance(m, nn.Linear) for m in net.modules()) == 9     # 8 Conv1D + the head
    tr = count(pt2, scheme="bitnet")
    assert macs(tr) == macs(count(f"{NETS}:hf_gpt2", scheme="bitnet")) and tr.param_count == 30720
    r = _cli("count", pt2, "-b", "2", "-s", "bitnet", "--strict")
    assert r.returncode == 0, r.stderr[-400:]
    # bagging runs every member on the whole batch; subagging runs each at a share of it, which a
    # program traced at batch 2 cannot take
    assert _cli("count", pt2, "-b", "2", "-s", "benn").returncode == 0
    r = _cli("count", pt2, "-b", "2", "-s", "{name: benn, method: subagging}")
    assert r.returncode == 2 and "traced at batch 2" in r.stderr and "Traceback" not in r.stderr, r.stderr[-400:]
