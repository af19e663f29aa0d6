"""ONNX LSTM / GRU / RNN nodes converted to torch recurrent layers: the same outputs as onnx's own
reference evaluator (every output, both layouts, both directions, initial states, both GRU reset
forms, packed sequence lengths) and, for networks torch exported, the same MACs as the torch original."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from hwsim.count import summary, trace
from hwsim.errors import UserError
from hwsim.models import spec as specs

onnx = pytest.importorskip("onnx")
try:
    specs._onnx_modules("test")
except UserError:
    pytest.skip("onnx2torch not installed", allow_module_level=True)
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
B, S, IN, H = 3, 5, 4, 6


def _model(kind: str, *, dirs: int = 1, layout: int = 0, states: bool = False, lens: bool = False,
           opset: int = 17, **attrs) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    g = GATES[kind]
    direction = {1: attrs.pop("direction", "forward"), 2: "bidirectional"}[dirs]
    inits = [numpy_helper.from_array(rng.normal(0, 0.5, s).astype(np.float32), n) for n, s in
             (("W", (dirs, g * H, IN)), ("R", (dirs, g * H, H)), ("B", (dirs, 2 * g * H)))]
    x_shape = [B, S, IN] if layout else [S, B, IN]
    st_shape = [B, dirs, H] if layout else [dirs, B, H]
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)]
    node_in = ["X", "W", "R", "B", "", "", ""]
    if lens:
        inputs.append(helper.make_tensor_value_info("L", TensorProto.INT32, [B]))
        node_in[4] = "L"
    if states:
        inputs.append(helper.make_tensor_value_info("H0", TensorProto.FLOAT, st_shape))
        node_in[5] = "H0"
        if kind == "LSTM":
            inputs.append(helper.make_tensor_value_info("C0", TensorProto.FLOAT, st_shape))
            node_in[6] = "C0"
    node_in = node_in[: 7 if kind == "LSTM" else 6]
    while node_in[-1] == "":
        node_in.pop()
    outs = ["Y", "Y_h", "Y_c"][: 3 if kind == "LSTM" else 2]
    node = helper.make_node(kind, node_in, outs, hidden_size=H, direction=direction, layout=layout, **attrs)
    graph = helper.make_graph([node], "rnn", inputs, [helper.make_tensor_value_info(o, TensorProto.FLOAT, None)
                                                      for o in outs], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _feeds(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    out = {}
    for i in model.graph.input:
        shape = [d.dim_value for d in i.type.tensor_type.shape.dim]
        out[i.name] = (np.array([S, 2, 4][:B], dtype=np.int32) if i.name == "L"
                       else rng.normal(0, 1, shape).astype(np.float32))
    return out


CASES = {
    "lstm": dict(kind="LSTM"),
    "lstm_states_layout1": dict(kind="LSTM", layout=1, states=True),
    "lstm_bidirectional_states": dict(kind="LSTM", dirs=2, states=True),
    "lstm_opset7": dict(kind="LSTM", opset=11),
    "gru_linear_before_reset": dict(kind="GRU", linear_before_reset=1),
    "gru_reset_first": dict(kind="GRU", linear_before_reset=0),
    "gru_reset_first_bidirectional_layout1": dict(kind="GRU", dirs=2, layout=1, states=True, linear_before_reset=0),
    "gru_bidirectional_layout1": dict(kind="GRU", dirs=2, layout=1, linear_before_reset=1),
    "rnn_tanh_reverse": dict(kind="RNN", direction="reverse", states=True),
}


def _convert(model: onnx.ModelProto, tmp_path: Path) -> torch.nn.Module:
    path = tmp_path / "rnn.onnx"
    onnx.save(model, str(path))
    return specs.load_onnx(path).eval()


@pytest.mark.parametrize("case", CASES)
def test_outputs_match_onnx_reference(case, tmp_path):
    model = _model(**dict(CASES[case]))
    feeds = _feeds(model)
    want = ReferenceEvaluator(model).run(None, feeds)
    net = _convert(model, tmp_path)
    with torch.no_grad():
        got = net(*(torch.from_numpy(v) for v in feeds.values()))
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", [dict(kind="LSTM"), dict(kind="GRU", dirs=2, linear_before_reset=1)])
def test_sequence_lens_as_onnx_defines_them(case, tmp_path):
    """ONNX: steps past a sequence's length give zeros, and the states are those at its last step
    (the reference evaluator ignores sequence_lens, so each sequence is run alone, cut to its length)."""
    model = _model(**case, lens=True)
    feeds = _feeds(model)
    net = _convert(model, tmp_path)
    with torch.no_grad():
        y, h, *_ = net(*(torch.from_numpy(v) for v in feeds.values()))
    plain = _model(**case)
    ref = ReferenceEvaluator(plain)
    for b, n in enumerate(feeds["L"]):
        yb, hb, *_ = ref.run(None, {"X": feeds["X"][:n, b:b + 1]})
        np.testing.assert_allclose(y[:n, :, b].numpy(), yb[:, :, 0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(h[:, b].numpy(), hb[:, 0], rtol=1e-4, atol=1e-5)
        assert not y[n:, :, b].any()


def test_torch_layer_and_parameters(tmp_path):
    """Each node is one torch recurrent layer holding exactly the ONNX weights' values."""
    net = _convert(_model("LSTM", dirs=2), tmp_path)
    rnns = [m for m in net.modules() if isinstance(m, torch.nn.LSTM)]
    assert len(rnns) == 1 and rnns[0].bidirectional
    assert sum(p.numel() for p in rnns[0].parameters()) == 2 * 4 * H * (IN + H + 2)


@pytest.mark.parametrize("attrs", [dict(clip=1.0), dict(input_forget=1), dict(activations=["HardSigmoid", "Tanh",
                                                                                          "Tanh"])])
def test_forms_torch_has_not_are_one_line_errors(attrs, tmp_path):
    with pytest.raises(UserError, match="no torch equivalent"):
        _convert(_model("LSTM", **attrs), tmp_path)


def _macs(tr) -> dict[str, int]:
    return {p: sum(v.values()) for p, v in summary(tr)["macs_by_phase"].items() if p != "update"}


@pytest.mark.parametrize("fold", [True, False])
def test_exported_classifier_counts_as_the_original(fold, tmp_path):
    """A 2-layer bidirectional LSTM exported by torch, with and without constant folding (then W/R/B are
    Slice/Concat nodes of the parameters, evaluated into constants): outputs and MACs of the original."""
    import thirdparty_nets as T

    torch.manual_seed(0)
    net = T.bilstm_classifier().eval()
    x = torch.randint(0, 50, (2, 12))
    path = tmp_path / "bilstm.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), str(path), dynamo=False, opset_version=17, do_constant_folding=fold,
                          input_names=["x"], dynamic_axes={"x": {0: "batch"}})
        conv = specs.load_onnx(path).eval()
        with torch.no_grad():
            torch.testing.assert_close(conv(x), net(x), rtol=1e-5, atol=1e-6)
        assert sum(p.numel() for p in conv.parameters()) == sum(p.numel() for p in net.parameters())
        for mode in ("train", "infer"):
            ref = _macs(trace(net, None, batch=2, input_shape=specs.Tokens((12,)), mode=mode))
            assert _macs(trace(str(path), None, batch=2, mode=mode)) == ref
