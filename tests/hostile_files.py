"""Hostile model files for the corpus, built when a case is written (torch and onnx are imported only
then): ``.pt2`` archives that would make ``torch.export.load`` unpickle code or unpack a zip bomb,
and ONNX graphs with a negative input size or too many nodes. A payload that runs writes the file
``marker`` next to the case, which the corpus checks is absent."""

from __future__ import annotations

import io
import json
import os
import zipfile


class _Touch:
    """Unpickling this runs ``os.system('touch marker')`` (in the case's folder, its working directory)."""

    def __reduce__(self):
        return (os.system, ("touch marker",))


def _valid_pt2() -> dict[str, bytes]:
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(x.flatten(1))

    buf = io.BytesIO()
    torch.export.save(torch.export.export(Net(), (torch.randn(2, 1, 8, 8),)), buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for k, v in entries.items():
            zf.writestr(k, v)
    return out.getvalue()


def _find(entries: dict[str, bytes], suffix: str) -> str:
    return next(k for k in entries if k.endswith(suffix))


def pt2_weight_pickle() -> bytes:
    """A weight marked ``use_pickle`` whose payload runs code when unpickled."""
    import pickle

    e = _valid_pt2()
    cfg_name = _find(e, "data/weights/model_weights_config.json")
    cfg = json.loads(e[cfg_name])
    fqn = next(iter(cfg["config"]))
    meta = cfg["config"][fqn]
    meta["use_pickle"] = True
    e[cfg_name] = json.dumps(cfg).encode()
    e[cfg_name.rsplit("/", 1)[0] + "/" + meta["path_name"]] = pickle.dumps(_Touch())
    return _zip(e)


def pt2_sample_inputs_pickle() -> bytes:
    """Sample inputs that a restricted load refuses, so torch falls back to a full unpickle."""
    import torch

    e = _valid_pt2()
    buf = io.BytesIO()
    torch.save((_Touch(),), buf)
    e[_find(e, "data/sample_inputs/model.pt")] = buf.getvalue()
    return _zip(e)


def pt2_zip_bomb() -> bytes:
    """A valid program whose first weight entry unpacks to 2 GiB of zeros (about 2 MB packed)."""
    e = _valid_pt2()
    name = _find(e, "data/weights/weight_0")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in e.items():
            if k != name:
                zf.writestr(k, v)
        chunk = bytes(1 << 20)
        with zf.open(name, "w", force_zip64=True) as f:
            for _ in range(2048):
                f.write(chunk)
    return out.getvalue()


def pt2_truncated() -> bytes:
    data = _zip(_valid_pt2())
    return data[: len(data) // 2]


def pt2_no_program() -> bytes:
    e = _valid_pt2()
    return _zip({k: v for k, v in e.items() if not k.endswith("models/model.json")})


def _onnx_model(nodes: int = 1, dims: tuple[int, ...] = (1, 4)) -> bytes:
    from onnx import TensorProto, helper

    names = ["x"] + [f"h{i}" for i in range(nodes)]
    graph = helper.make_graph(
        [helper.make_node("Relu", [names[i]], [names[i + 1]]) for i in range(nodes)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))],
        [helper.make_tensor_value_info(names[-1], TensorProto.FLOAT, list(dims))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def onnx_negative_dim() -> bytes:
    return _onnx_model(1, (1, -4))


def onnx_many_nodes() -> bytes:
    return _onnx_model(50_000, (1, 4))


def _sqlite(script: str) -> bytes:
    import sqlite3
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "x.db"
        con = sqlite3.connect(f)
        con.executescript(script)
        con.commit()
        con.close()
        return f.read_bytes()


def foreign_sqlite() -> bytes:
    """Someone else's SQLite database (a browser history, an app's settings)."""
    return _sqlite("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT); "
                   "INSERT INTO moz_places (url) VALUES ('https://example.org');")


def store_dropped_table() -> bytes:
    """A hwsim store whose metrics table was dropped by hand."""
    import tempfile
    from pathlib import Path

    from hwsim.store import Store

    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "s.db"
        Store(f).close()
        import sqlite3

        con = sqlite3.connect(f)
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("DROP TABLE metrics")
        con.commit()
        con.close()
        return f.read_bytes()
