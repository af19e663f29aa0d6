"""The trace cache (hwsim.trace_cache): keys that change with the workload and the counting code,
entries that are regular JSON files written whole, misses for anything damaged or out of place, a
size bound, an off switch, identical figures from a warm cache, and no torch in a worker whose traces
all come from it.

This module imports nothing that loads torch at its top: a spawned sweep worker imports it for
:func:`torch_logging_evaluate`.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SWEEP = """\
name: cached
models: [lenet300]
datasets: [digits]
schemes: [fp32, {name: kbit, weight_bits: 4, act_bits: 4}]
accuracy: none
pricing: {batch: 16}
accelerators:
  - name: tpu_like
    clock_mhz: 500
    vary:
      array.rows: [8, 16]
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The trace cache on, in a folder of this test."""
    from hwsim import trace_cache

    monkeypatch.setenv("HWSIM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HWSIM_TRACE_CACHE", "1")
    monkeypatch.delenv("HWSIM_TRACE_CACHE_MB", raising=False)
    return trace_cache


def _workload(**kw):
    from hwsim.schemes import build_scheme
    from hwsim.workload import Workload

    scheme = kw.pop("scheme", "fp32")
    base = dict(model="lenet300", scheme=build_scheme(scheme), input_shape=(1, 8, 8), num_classes=10,
                batch=4, infer_batch=2)
    return Workload(**(base | kw))


def _counted(traces) -> dict:
    """The traces' JSON form without the wall time each count took."""
    d = traces.to_dict()
    for t in d.values():
        if t is not None:
            t["meta"].pop("seconds", None)
    return d


def _entry(tc, w, train=True, infer=True) -> Path:
    return tc.traces_dir() / (tc.key_digest(tc.workload_key(w, train, infer)) + tc.SUFFIX)


def test_a_second_trace_of_a_workload_is_read_from_the_cache_and_equal(cache):
    from hwsim.evaluate import trace_workload

    w = _workload()
    fresh = trace_workload(w)
    assert _entry(cache, w).is_file()
    hits = cache.counts.hits
    again = trace_workload(w)
    assert cache.counts.hits == hits + 1
    assert again is not fresh and again.to_dict() == fresh.to_dict()
    # a regular gzipped JSON file holding its own key; no pickle anywhere
    doc = json.loads(gzip.decompress(_entry(cache, w).read_bytes()))
    assert doc["key"] == cache.workload_key(w) and set(doc["traces"]) == {"train", "infer", "decode"}


@pytest.mark.parametrize("change", [
    {"batch": 8}, {"infer_batch": 4}, {"input_shape": (1, 12, 12)}, {"num_classes": 7},
    {"optimizer": "adam"}, {"steps_per_epoch": 3}, {"scheme": {"name": "kbit", "weight_bits": 4, "act_bits": 4}},
    {"scheme": {"name": "kbit", "weight_bits": 2, "act_bits": 4}}, {"model": "lenet5"},
    {"model_args": {"hidden1": 32}},
])
def test_a_changed_workload_field_is_a_miss(cache, change):
    from hwsim.evaluate import trace_workload

    trace_workload(_workload())
    w = _workload(**change)
    assert cache.key_digest(cache.workload_key(w)) != cache.key_digest(cache.workload_key(_workload()))
    assert cache.get(cache.workload_key(w)) is None


def test_the_phases_asked_for_are_part_of_the_key(cache):
    w = _workload()
    keys = {cache.key_digest(cache.workload_key(w, t, i)) for t, i in ((True, True), (True, False), (False, True))}
    assert len(keys) == 3


def test_changed_counting_code_is_a_miss(cache, monkeypatch):
    from hwsim.evaluate import trace_workload

    w = _workload()
    trace_workload(w)
    key = cache.workload_key(w)
    assert cache.get(key) is not None
    monkeypatch.setattr(cache, "code_hash", lambda root=None: "0" * 64)   # what an edited file would give
    assert cache.workload_key(w)["code"] != key["code"] and cache.get(cache.workload_key(w)) is None
    counted = cache.counts.counted
    trace_workload(w)
    assert cache.counts.counted == counted + 1


def test_the_code_hash_follows_every_counted_file_and_no_downstream_one(tmp_path):
    from hwsim import trace_cache

    here = Path(trace_cache.__file__).resolve().parent.parent
    root = tmp_path / "src"
    for pkg in ("hwsim", "accel_models"):
        shutil.copytree(here / pkg, root / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    h0 = trace_cache.code_hash(root)
    assert h0 == trace_cache.code_hash(here)
    files = {p.relative_to(root).as_posix() for p in trace_cache.code_files(root)}
    assert {"hwsim/count/api.py", "hwsim/quant/functions.py", "hwsim/schemes/kbit.py", "hwsim/trace.py",
            "hwsim/models/catalog.py", "hwsim/evaluate.py", "hwsim/trace_cache.py"} <= files
    assert not {f for f in files if f.startswith(trace_cache.DOWNSTREAM)}
    trace_cache._code_hash.cache_clear()
    for rel in ("hwsim/count/formulas.py", "hwsim/schemes/kbit.py", "accel_models/layers.py"):
        p = root / rel
        text = p.read_text()
        p.write_text(text[:-1] + ("#" if text[-1] != "#" else " "))   # one byte changed, same length
        trace_cache._code_hash.cache_clear()
        assert trace_cache.code_hash(root) != h0, rel
        p.write_text(text)
    (root / "hwsim/sweep/runner.py").write_text("# a runner edit does not change what a trace counts\n")
    trace_cache._code_hash.cache_clear()
    assert trace_cache.code_hash(root) == h0


def test_a_damaged_entry_is_a_miss_and_is_replaced(cache):
    from hwsim.evaluate import trace_workload

    w = _workload()
    fresh = _counted(trace_workload(w))
    path = _entry(cache, w)
    for junk in (b"", b"not gzip", gzip.compress(b"{not json"), gzip.compress(b'{"key": 1, "traces": {}}'),
                 path.read_bytes()[:-20]):
        path.write_bytes(junk)
        assert cache.get(cache.workload_key(w)) is None
        assert _counted(trace_workload(w)) == fresh         # counted again ...
        assert cache.get(cache.workload_key(w)) is not None   # ... and the entry replaced


def test_an_entry_filed_under_another_key_is_a_miss(cache):
    from hwsim.evaluate import trace_workload

    a, b = _workload(), _workload(batch=8)
    trace_workload(a)
    _entry(cache, a).rename(_entry(cache, b))
    assert cache.get(cache.workload_key(b)) is None


def test_links_in_the_cache_are_never_followed(cache, tmp_path):
    from hwsim.evaluate import trace_workload

    w = _workload()
    trace_workload(w)
    entry = _entry(cache, w)
    outside = tmp_path / "outside.json.gz"
    shutil.move(entry, outside)
    before = outside.read_bytes()
    entry.symlink_to(outside)
    assert cache.get(cache.workload_key(w)) is None         # a valid entry, but behind a link
    assert len(cache.entries()) == 0
    trace_workload(w)                                       # the fresh trace replaces the link ...
    assert not entry.is_symlink() and entry.is_file() and outside.read_bytes() == before   # ... not its target
    # the traces folder itself a link: nothing read or written through it
    folder = cache.traces_dir()
    shutil.rmtree(folder)
    (tmp_path / "elsewhere").mkdir()
    folder.symlink_to(tmp_path / "elsewhere")
    assert cache.put(cache.workload_key(w), trace_workload(w)) is None
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_the_cache_is_bounded_least_recently_used_first(cache, monkeypatch):
    from hwsim.evaluate import trace_workload

    ws = [_workload(batch=b) for b in (1, 2, 3)]
    for i, w in enumerate(ws):
        trace_workload(w)
        os.utime(_entry(cache, w), (1000.0 + i, 1000.0 + i))
    cache.get(cache.workload_key(ws[0]))                    # read now: the most recently used
    size = max(e.size for e in cache.entries())
    assert cache.prune(limit=2 * size) == 1
    assert not _entry(cache, ws[1]).exists() and _entry(cache, ws[0]).exists() and _entry(cache, ws[2]).exists()
    monkeypatch.setenv("HWSIM_TRACE_CACHE_MB", str(size / 2**20 * 1.5))   # room for one entry
    trace_workload(ws[1])                                   # a write prunes to the limit
    assert [e.path for e in cache.entries()] == [_entry(cache, ws[1])]
    assert cache.clear() == 1 and cache.entries() == []


WRITER = """
import sys
from hwsim import trace_cache
from hwsim.evaluate import WorkloadTraces
key, doc, n = eval(sys.argv[1]), sys.argv[2], int(sys.argv[3])
tr = WorkloadTraces.from_dict(__import__("json").loads(doc))
bad = 0
for i in range(n):
    trace_cache.put(key, tr)
    got = trace_cache.get(key)
    bad += got is None or got.to_dict() != tr.to_dict()
print(bad, "torch" in sys.modules)
"""


def test_concurrent_writers_leave_whole_entries(cache, cached_env):
    from hwsim.evaluate import trace_workload

    w = _workload()
    tr = trace_workload(w)
    key = cache.workload_key(w)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, repr(key), json.dumps(tr.to_dict()), "40"],
                              stdout=subprocess.PIPE, text=True, env=cached_env) for _ in range(3)]
    outs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs == [["0", "False"]] * 3          # every read whole; and reading and writing needs no torch
    assert [e.path.name for e in cache.entries()] == [_entry(cache, w).name]
    assert not [p for p in cache.traces_dir().iterdir() if p.name.startswith(".tmp-")]


def test_off_reads_and_writes_nothing(cache, monkeypatch):
    from hwsim.evaluate import trace_workload

    monkeypatch.setenv("HWSIM_TRACE_CACHE", "0")
    trace_workload(_workload())
    assert not cache.traces_dir().exists()
    monkeypatch.setenv("HWSIM_TRACE_CACHE", "1")
    trace_workload(_workload())
    monkeypatch.setenv("HWSIM_TRACE_CACHE", "0")
    counted = cache.counts.counted
    trace_workload(_workload())
    assert cache.counts.counted == counted + 1


def test_a_model_from_user_code_is_not_cached(cache, tmp_path):
    net = tmp_path / "net.py"
    net.write_text("def make(num_classes=10, in_shape=None):\n    raise RuntimeError\n")
    assert cache.workload_key(_workload(model=f"{net}:make")) is None


def torch_logging_evaluate(points, key="", progress=None, emit=None, share=None, shared=None, keep=False):
    """hwsim.pipeline.evaluate_group, then whether this worker process has torch loaded, in a file."""
    from hwsim.pipeline import evaluate_group

    out = evaluate_group(points, key=key, progress=progress, emit=emit, share=share, shared=shared, keep=keep)
    log = Path(os.environ["HWSIM_TORCH_LOG"])
    (log / f"{os.getpid()}-{key[:12]}").write_text(str("torch" in sys.modules))
    return out


def _figures(db: Path) -> dict:
    from hwsim.store import Store

    with Store(db, readonly=True) as s:
        c = s.conn
        return {"points": sorted(c.execute("SELECT id, status, error FROM points").fetchall()),
                "metrics": sorted(c.execute("SELECT * FROM metrics").fetchall()),
                "layers": sorted(c.execute("SELECT * FROM layers").fetchall()),
                "blobs": sorted(c.execute("SELECT * FROM blobs").fetchall())}


def test_a_warm_cache_gives_identical_figures_and_its_worker_never_imports_torch(cache, tmp_path, monkeypatch):
    from hwsim.sweep.expand import load_points
    from hwsim.sweep.runner import run_points

    f = tmp_path / "s.yaml"
    f.write_text(SWEEP)
    pts = load_points(f)[1]
    assert len(pts) == 4 and len({p.train_key for p in pts}) == 2
    log = tmp_path / "log"
    log.mkdir()
    monkeypatch.setenv("HWSIM_TORCH_LOG", str(log))
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    ev = "test_trace_cache:torch_logging_evaluate"
    cold = run_points(pts, tmp_path / "cold.db", workers=1, evaluator=ev)
    assert len(cache.entries()) == 2                        # one per group
    assert {f.read_text() for f in log.iterdir()} == {"True"}   # counting imported torch
    for f in log.iterdir():
        f.unlink()
    warm = run_points(pts, tmp_path / "warm.db", workers=1, evaluator=ev)
    assert (cold.done, warm.done, cold.failed, warm.failed) == (4, 4, 0, 0)
    assert [f.read_text() for f in log.iterdir()] == ["False", "False"]   # both groups priced without torch
    assert _figures(tmp_path / "warm.db") == _figures(tmp_path / "cold.db")


def test_the_command_line_shows_clears_and_turns_off_the_cache(cache, tmp_path, capsys):
    from hwsim.cli import main

    f = tmp_path / "s.yaml"
    f.write_text(SWEEP.replace("[fp32, {name: kbit, weight_bits: 4, act_bits: 4}]", "[fp32]"))
    assert main(["sweep", str(f), "--db", str(tmp_path / "a.db"), "--workers", "0", "--no-progress",
                 "--no-trace-cache"]) == 0
    assert not cache.traces_dir().exists() and os.environ["HWSIM_TRACE_CACHE"] == "1"
    assert main(["sweep", str(f), "--db", str(tmp_path / "b.db"), "--workers", "0", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["cache", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["entries"], info["enabled"], info["folder"]) == (1, True, str(cache.traces_dir()))
    assert main(["cache", "clear"]) == 0 and "removed 1 cached traces" in capsys.readouterr().out
    assert cache.entries() == []


def test_a_search_pool_whose_groups_came_from_the_cache_does_not_warm_torch(cache, tmp_path, monkeypatch):
    from hwsim import pipeline
    from hwsim.sweep import warm
    from hwsim.sweep.expand import load_points
    from hwsim.sweep.runner import WorkerPool

    f = tmp_path / "s.yaml"
    f.write_text(SWEEP)
    pts = load_points(f)[1]
    asked: list[bool] = []
    monkeypatch.setattr(warm, "warm", lambda count=True: asked.append(count))
    for _ in ("cold", "warm"):
        pipeline._KEPT.clear()
        monkeypatch.setattr(cache, "counts", cache.Counts())
        with WorkerPool(1) as pool:
            if not pool.start(prepare=lambda: pipeline.prepare_groups(pts)):
                pytest.skip("the pool cannot fork here")
    # first the groups were counted (torch warmed for the workers), then read from the cache (not)
    assert asked == [True, False]


def test_one_workload_spelled_two_ways_has_one_key_and_a_key_is_json(cache):
    assert cache.workload_key(_workload(input_shape="1x8x8")) == cache.workload_key(_workload(input_shape=(1, 8, 8)))
    assert cache.workload_key(_workload(model_args={"hidden1": object()})) is None   # not cached, not an error


def _without_seconds(doc):
    if isinstance(doc, dict):
        return {k: _without_seconds(v) for k, v in doc.items() if k != "seconds"}
    return [_without_seconds(v) for v in doc] if isinstance(doc, list) else doc


@pytest.mark.parametrize("verb", ["cost", "simulate"])
def test_cost_and_simulate_count_through_the_cache_unless_told_not_to(cache, verb, capsys):
    from hwsim.cli import main

    args = [verb, "lenet300", "--input", "1x8x8", "-b", "4", "--accelerator", "tpu_like", "--json"]
    capsys.readouterr()
    assert main([*args, "--no-trace-cache"]) == 0, capsys.readouterr().err
    assert cache.entries() == []
    fresh = json.loads(capsys.readouterr().out)
    assert main(args) == 0 and len(cache.entries()) == 1
    capsys.readouterr()
    hits = cache.counts.hits
    assert main(args) == 0 and cache.counts.hits == hits + 1
    assert _without_seconds(json.loads(capsys.readouterr().out)) == _without_seconds(fresh)
