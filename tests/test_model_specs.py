"""Model specs: a network from a user's file, an importable module, an ONNX file or a torch.export
program is counted like a built-in, and every bad spec is a one-line user error."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from hwsim.count import summary, trace
from hwsim.errors import UserError
from hwsim.models import build_model
from hwsim.models import spec as specs

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "user_model" / "tiny_net.py"

# tiny_net.make() at 1x8x8, batch 1, derived by hand (MACs = output elements x reduction length):
#   conv 1->8 3x3 pad 1 on 8x8: 8*8*8 * 1*9 = 4608      conv 8->16 3x3 pad 1 on 4x4: 16*4*4 * 8*9 = 18432
#   linear 256->32: 8192                                linear 32->10: 320
FWD = 4608 + 18432 + 8192 + 320
BWD_DATA = FWD - 4608          # the first layer's input needs no gradient
LAYER_MACS = [4608, 18432, 8192, 320]


def _tiny() -> nn.Module:
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        import tiny_net
    finally:
        sys.path.remove(str(EXAMPLE.parent))
    return tiny_net.make()


def _need_onnx():
    try:
        return specs._onnx_modules("test")
    except UserError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory) -> Path:
    _need_onnx()
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    torch.onnx.export(_tiny().eval(), (torch.randn(1, 1, 8, 8),), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    return path


@pytest.fixture(scope="module")
def pt2_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pt2") / "tiny.pt2"
    ep = torch.export.export(_tiny(), (torch.randn(2, 1, 8, 8),),
                             dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(ep, str(path))
    return path


def _weight_macs(tr, phase: str) -> list[int]:
    names = [li.name for li in tr.layers if li.depth >= 0]
    recs = {(r.layer, r.phase): r for r in tr.records}
    return [sum(recs[(n, phase)].macs.values()) if (n, phase) in recs else 0 for n in names]


def _per_layer(tr) -> list[tuple]:
    """Per-layer figures without the layer names (the routes name layers differently)."""
    recs = {(r.layer, r.phase): r for r in tr.records}
    out = []
    for li in tr.layers:
        for ph in ("forward", "backward_data", "backward_weight", "update", "inference"):
            r = recs.get((li.name, ph))
            if r is not None:
                out.append((li.op, ph, tuple(sorted(r.macs.items())), tuple(sorted(r.traffic_bytes.items())),
                            tuple(sorted(r.elementwise.items()))))
    return out


def test_file_factory_counts_hand_derived_totals():
    tr = trace(f"{EXAMPLE}:make", batch=1)
    assert tr.model == "tiny_net.py:make"
    assert tr.input_shape == [1, 8, 8]                       # from make.input_shape
    assert _weight_macs(tr, "forward") == LAYER_MACS
    s = summary(tr)
    assert sum(s["macs_by_phase"]["forward"].values()) == FWD
    assert sum(s["macs_by_phase"]["backward_data"].values()) == BWD_DATA
    assert sum(s["macs_by_phase"]["backward_weight"].values()) == FWD


def test_relative_file_spec_resolves_against_base(tmp_path, monkeypatch):
    monkeypatch.chdir(EXAMPLE.parent.parent)
    net = build_model("user_model/tiny_net.py:make", hidden=16)
    assert net[6].out_features == 16
    assert isinstance(build_model("tiny_net.py:make", base=EXAMPLE.parent, num_classes=3)[8], nn.Linear)
    assert build_model("tiny_net.py:make", base=EXAMPLE.parent, num_classes=3)[8].out_features == 3


def test_module_factory(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    tr = trace("examples.user_model.tiny_net:make", batch=1)
    assert tr.model == "examples.user_model.tiny_net:make"
    assert _weight_macs(tr, "forward") == LAYER_MACS
    lin = build_model("torch.nn:Linear", in_features=4, out_features=2)
    assert isinstance(lin, nn.Linear) and lin.out_features == 2
    with pytest.raises(UserError, match="torch.nn:Linear failed: TypeError"):
        build_model("torch.nn:Linear")


def test_onnx_and_user_file_give_identical_per_layer_figures(onnx_file):
    for mode in ("train", "infer"):
        a = trace(f"{EXAMPLE}:make", batch=2, mode=mode)
        b = trace(str(onnx_file), batch=2, mode=mode)
        assert b.input_shape == [1, 8, 8]                    # read from the ONNX file
        assert _per_layer(a) == _per_layer(b)
        assert a.stash_bytes == b.stash_bytes and a.param_count == b.param_count
    a = trace(f"{EXAMPLE}:make", "bnn")
    b = trace(str(onnx_file), "bnn")
    assert _per_layer(a) == _per_layer(b)
    fwd = summary(b)["macs_by_phase"]["forward"]
    assert fwd == {"sign_add": 4608, "xnor_popcount": 18432 + 8192 + 320}


def test_pt2_program_gets_its_layers_back(pt2_file):
    a = trace(f"{EXAMPLE}:make", batch=3)
    b = trace(str(pt2_file), batch=3)                         # exported at batch 2, batch dynamic
    assert b.input_shape == [1, 8, 8]
    assert _per_layer(a) == _per_layer(b)
    net = build_model(str(pt2_file))
    assert [type(m).__name__ for m in net.children()][:2] == ["Conv2d", "ReLU"] or \
        sum(isinstance(m, nn.Conv2d) for m in net.modules()) == 2
    assert summary(trace(str(pt2_file), "xnor"))["macs_by_phase"]["forward"]["xnor_popcount"] == FWD - 4608


def test_pt2_numerics_unchanged(pt2_file):
    ep = torch.export.load(str(pt2_file))
    x = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(build_model(str(pt2_file))(x), ep.module()(x))


@pytest.mark.parametrize("spec, text", [
    ("missing_file.py:make", "model file not found"),
    ("missing.onnx", "model file not found"),
    ("resnet2O", "did you mean"),
    ("no_such_pkg_xyz.mod:make", "cannot import module 'no_such_pkg_xyz.mod'"),
])
def test_bad_spec_names(spec, text):
    with pytest.raises(UserError, match=text):
        build_model(spec)


def _user_file(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "net.py"
    p.write_text("import torch\nfrom torch import nn\n" + textwrap.dedent(body))
    return p


def test_factory_missing_not_a_module_and_failing(tmp_path):
    p = _user_file(tmp_path, """
        def make():
            return nn.Linear(4, 2)
        def bad():
            return "a string"
        def boom(width=3):
            raise ValueError("width must be even\\nsecond line")
        """)
    with pytest.raises(UserError, match="has no factory 'nope'; it defines bad, boom, make"):
        build_model(f"{p}:nope")
    with pytest.raises(UserError, match="returned a str, not a torch.nn.Module"):
        build_model(f"{p}:bad")
    with pytest.raises(UserError, match="ValueError: width must be even$"):
        build_model(f"{p}:boom")
    with pytest.raises(UserError, match="takes no argument 'depth'"):
        build_model(f"{p}:boom", depth=2)
    with pytest.raises(UserError, match="declares no input shape"):
        trace(f"{p}:make")


def test_syntax_error_in_user_file(tmp_path):
    p = tmp_path / "broken.py"
    p.write_text("def make(:\n")
    with pytest.raises(UserError, match="importing broken.py failed: SyntaxError"):
        build_model(f"{p}:make")


def test_shape_the_model_rejects_is_one_line(tmp_path):
    p = _user_file(tmp_path, """
        def make():
            return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        """)
    with pytest.raises(UserError) as e:
        trace(f"{p}:make", input_shape=(3, 8, 8))
    assert "the model rejects input 3x8x8" in e.value.what and "\n" not in e.value.what
    assert len(e.value.what) < 260
    assert trace(f"{p}:make", input_shape=(1, 8, 8)).input_shape == [1, 8, 8]


@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize("scheme", [None, "bnn"])
def test_no_extra_forward_before_the_count(tmp_path, monkeypatch, device, scheme):
    """The count's own pass reports a shape the model rejects (one line, on either device, under a
    scheme too); the float model is run alone only after that pass failed, never before a count."""
    from hwsim.models import spec as specs

    p = _user_file(tmp_path, """
        def make():
            return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        """)
    calls = []
    real = specs.check_input
    monkeypatch.setattr(specs, "check_input", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    trace(f"{p}:make", scheme, input_shape=(1, 8, 8), device=device)
    trace(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)), scheme, input_shape=(64,), device=device)
    assert calls == []
    with pytest.raises(UserError) as e:
        trace(f"{p}:make", scheme, input_shape=(3, 8, 8), device=device)
    assert "the model rejects input 3x8x8" in e.value.what and "\n" not in e.value.what
    assert calls == [1]


def test_onnx_op_onnx2torch_cannot_convert_is_named(tmp_path):
    onnx, _ = _need_onnx()
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    g = helper.make_graph([helper.make_node("Det", ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / "det.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(UserError, match="onnx2torch cannot convert op Det"):
        build_model(str(path))
    path.write_bytes(b"not a protobuf at all")
    with pytest.raises(UserError, match="not a readable ONNX file"):
        build_model(str(path))


def test_no_torchvision_left_behind(onnx_file):
    build_model(str(onnx_file))
    if "torchvision" in sys.modules:
        assert not isinstance(sys.modules["torchvision"], specs._StandIn)


def test_cli_file_spec_and_error_lines(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    ok = subprocess.run([sys.executable, "-m", "hwsim.cli", "count", "user_model/tiny_net.py:make", "--json"],
                        cwd=EXAMPLE.parent.parent, env=env, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert '"model": "tiny_net.py:make"' in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "hwsim.cli", "count", f"{tmp_path}/none.py:make"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error: model: model file not found")
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_sweep_models_take_specs_relative_to_the_sweep_file(tmp_path):
    from hwsim.store import Store
    from hwsim.sweep.expand import load_points
    from hwsim.sweep.runner import run_points

    d = tmp_path / "proj"
    (d / "nets").mkdir(parents=True)
    (d / "nets" / "tiny_net.py").write_text(EXAMPLE.read_text())
    sweep = (ROOT / "examples" / "user_model" / "sweep.yaml").read_text()
    sweep = sweep.replace("tiny_net.py:make", "nets/tiny_net.py:make").replace("results/user_model.db", str(d / "u.db"))
    sweep = sweep.replace("schemes: [fp32, bnn, xnor, twn, {name: kbit, weight_bits: 4, act_bits: 4}]",
                          "schemes: [fp32, bnn]")
    (d / "sweep.yaml").write_text(sweep)
    with pytest.raises(UserError, match="--trust-code"):   # code a file names runs only when trusted
        load_points(d / "sweep.yaml")
    _, pts = load_points(d / "sweep.yaml", trust_code=True)
    assert len(pts) == 2
    m = pts[0].to_json()["model"]
    assert m["name"] == f"{(d / 'nets' / 'tiny_net.py').resolve()}:make"
    assert m["args"] == {"hidden": 32, "width": 8} and len(m["sha256"]) == 16
    assert pts[0].to_json()["input_shape"] == [1, 8, 8]
    assert pts[0].label.startswith("tiny_net.py:make(hidden=32,width=8)/digits/")
    # an edited model file is a new design point
    (d / "nets" / "tiny_net.py").write_text(EXAMPLE.read_text() + "\n# edited\n")
    assert load_points(d / "sweep.yaml", trust_code=True)[1][0].id != pts[0].id
    (d / "nets" / "tiny_net.py").write_text(EXAMPLE.read_text())
    s = run_points(pts, d / "u.db", workers=0, sweep="user_model")
    assert (s.done, s.failed) == (2, 0)
    with Store(d / "u.db", readonly=True) as st:
        assert st.counts() == {"done": 2}
    # a bad spec in a sweep file names the file and line
    (d / "bad.yaml").write_text(sweep.replace("nets/tiny_net.py:make", "nets/none.py:make"))
    with pytest.raises(UserError) as e:
        load_points(d / "bad.yaml", trust_code=True)
    assert "bad.yaml:" in e.value.where and "model file not found" in e.value.what


LM = """
from torch import nn


class TinyLM(nn.Module):
    def __init__(self, vocab=100, dim=16):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, ids):
        return self.head(self.mix(self.emb(ids)).relu())


def make(vocab: int = 100):
    return TinyLM(vocab)


make.input_shape = "tokens:8"
"""


def test_token_inputs(tmp_path):
    from hwsim.count.api import parse_input_shape

    assert parse_input_shape("tokens:2048") == (2048,) and str(parse_input_shape("tokens:2048")) == "tokens:2048"
    assert parse_input_shape("50x192") == (50, 192) and parse_input_shape("4x64") == (4, 64)
    for bad in ("tokens:x", "tokens:0", "tokens:"):
        with pytest.raises(UserError, match="tokens"):
            parse_input_shape(bad)
    f = tmp_path / "lm.py"
    f.write_text(LM)
    for device in ("meta", "cpu"):
        tr = trace(f"{f}:make", batch=2, device=device)            # tokens:8 declared by the factory
        assert tr.meta.input == "tokens:8" and tr.input_shape == [8]
        fwd = summary(tr)["macs_by_phase"]["forward"]
        assert fwd == {"fp32": 2 * 8 * (16 * 16 + 16 * 100)}        # the embedding is a lookup: no MACs
    tr = trace(f"{f}:make", input_shape="tokens:32", mode="infer")
    assert sum(summary(tr)["macs_by_phase"]["inference"].values()) == 32 * (16 * 16 + 16 * 100)
    with pytest.raises(UserError, match="first nn.Embedding; this model has none"):
        trace(f"{EXAMPLE}:make", input_shape="tokens:8")


def test_declared_input_shape_read_by_the_one_parser(tmp_path):
    """A factory's declared ``input_shape`` is read as --input is: sizes or tokens:N, and a size that is not
    a positive integer is one error naming the model's input_shape, not a traceback or a zero-sized input."""
    f = tmp_path / "lm.py"
    for declared, want in (('"tokens:8"', (8,)), ('"3x8x8"', (3, 8, 8)), ("(3, 8, 8)", (3, 8, 8))):
        f.write_text(LM.replace('make.input_shape = "tokens:8"', f"make.input_shape = {declared}"))
        assert specs.default_input(f"{f}:make") == want
    for declared in ('"tokens:0"', "(3, 0, 8)", '"3xax8"'):
        f.write_text(LM.replace('make.input_shape = "tokens:8"', f"make.input_shape = {declared}"))
        with pytest.raises(UserError) as e:
            specs.default_input(f"{f}:make")
        assert e.value.where.endswith("input_shape")


def test_pt2_with_integer_input_is_a_token_input(tmp_path):
    ns: dict = {}
    exec(LM, ns)
    ep = torch.export.export(ns["make"](), (torch.zeros(2, 8, dtype=torch.long),),
                             dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(ep, str(tmp_path / "lm.pt2"))
    tr = trace(str(tmp_path / "lm.pt2"), batch=2)
    assert tr.meta.input == "tokens:8"
    assert summary(tr)["macs_by_phase"]["forward"] == {"fp32": 2 * 8 * (16 * 16 + 16 * 100)}
