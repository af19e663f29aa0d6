"""The shared contracts: formats and the MAC-type rule table, registries, the results store."""

from __future__ import annotations

import pytest

from hwsim.errors import UserError
from hwsim.formats import (
    BACKWARD_DATA,
    BACKWARD_WEIGHT,
    FORWARD,
    FP32,
    INFERENCE,
    Format,
    LayerPrecision,
    bytes_for,
    mac_type,
)
from hwsim.store import PointResult, Store


@pytest.mark.parametrize("text,kind,bits", [
    ("float32", "float", 32), ("fp16", "float", 16), ("int4", "int", 4), ("binary", "binary", 1),
    ("ternary", "ternary", 2), ("log 8", "log", 8), ("lq2", "lq", 2), ("codebook4", "codebook", 4),
])
def test_format_parse(text, kind, bits):
    f = Format.parse(text)
    assert (f.kind, f.bits) == (kind, bits)
    assert Format.parse(str(f)) == f


@pytest.mark.parametrize("bad", ["int", "quux8", "binary2", "int0", ""])
def test_format_parse_rejects(bad):
    with pytest.raises(UserError):
        Format.parse(bad)


@pytest.mark.parametrize("a,b,expected", [
    ("float32", "float32", "fp32"), ("float16", "float16", "fp16"), ("float16", "float32", "fp32"),
    ("binary", "binary", "xnor_popcount"), ("binary", "float32", "sign_add"), ("float32", "binary", "sign_add"),
    ("ternary", "float32", "ternary"), ("ternary", "binary", "ternary"), ("log4", "float32", "shift_add"),
    ("binary", "log4", "sign_add"), ("int8", "int4", "int4x8"), ("int8", "int8", "int8x8"),
    ("lq2", "lq3", "lq2x3"), ("lq2", "float32", "lq2x32"), ("codebook4", "float32", "fp32"),
    ("int8", "float32", "fp32"),
])
def test_mac_type_rules(a, b, expected):
    assert mac_type(Format.parse(a), Format.parse(b)) == expected
    assert mac_type(Format.parse(b), Format.parse(a)) == expected


def test_layer_precision_phases():
    bc = LayerPrecision(weight=Format.parse("binary"))
    assert bc.mac_type(FORWARD) == "sign_add"
    assert bc.mac_type(BACKWARD_DATA) == "sign_add"
    assert bc.mac_type(BACKWARD_WEIGHT) == "fp32"
    mcd = LayerPrecision(stash=Format.parse("binary"), weight_infer=Format.parse("binary"))
    assert mcd.mac_type(FORWARD) == "fp32"
    assert mcd.mac_type(BACKWARD_WEIGHT) == "sign_add"
    assert mcd.mac_type(INFERENCE) == "sign_add"
    assert LayerPrecision.from_dict(mcd.to_dict()) == mcd


def test_bytes_for():
    assert bytes_for(8, Format.parse("binary")) == 1
    assert bytes_for(9, Format.parse("binary")) == 2
    assert bytes_for(3, FP32) == 12
    assert bytes_for(5, Format.parse("int4")) == 3


def test_store_roundtrip_and_atomic_rewrite(tmp_path):
    db = tmp_path / "r.db"
    s = Store(db)
    s.mark_running("abc", {"x": 1})
    assert s.status_of("abc") == "running"
    s.write(PointResult(id="abc", config={"x": 1}, columns={"model": "m", "scheme": "twn"},
                        metrics={"accuracy": 0.9}, layers=[("l1", "forward", "macs.fp32", 10)],
                        curves=[(1, "test_acc", 0.8)], blobs={"trace": {"a": [1, 2]}}))
    s.close()
    r = Store(db, readonly=True)
    assert r.has("abc")
    p = r.point("abc")
    assert p["metrics"] == {"accuracy": 0.9} and p["scheme"] == "twn"
    assert r.blob("abc", "trace") == {"a": [1, 2]}
    assert r.layers("abc").value.tolist() == [10]
    assert r.resolve("ab") == "abc"
    df = r.points()
    assert df.loc[0, "accuracy"] == 0.9


def test_store_missing_is_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        Store(tmp_path / "nope.db", readonly=True)
    bad = tmp_path / "bad.db"
    bad.write_text("this is not sqlite" * 100)
    with pytest.raises(UserError):
        Store(bad)
