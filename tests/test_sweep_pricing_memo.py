"""Pricing a group's hardware points reuses what they share, and the figures stay those of pricing
each point alone: hwsim.memo (trace-derived results inside a group's pricing), accel_models.sim's
rows kept per work item and accelerator, and a worker that prices a share without importing torch."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import accel_models as am
from hwsim import memo
from hwsim.pipeline import _group_state, evaluate_group, group_state_json, price_point, versions
from hwsim.sweep.expand import load_points

ROOT = Path(__file__).resolve().parents[1]

SWEEP = """\
name: memo
models: [lenet5]
datasets: [mnist]
schemes: [{scheme}]
accuracy: none
pricing: {{detail: {detail}, batch: 8}}
accelerators:
  - name: tpu_like
    vary:
      array.rows: [4, 16]
      array.dataflow: [ws, os, is]
      sram.ifmap_kb: [1, 4096]
      clock_mhz: [500, 1000]
  - name: eyeriss
  - name: mx_array
"""


def _points(tmp_path: Path, scheme: str = "fp32", detail: str = "full"):
    f = tmp_path / "s.yaml"
    f.write_text(SWEEP.format(scheme=scheme, detail=detail))
    return load_points(f)[1]


def _stored(r) -> tuple:
    return (r.id, r.status, r.error, json.dumps(r.metrics, sort_keys=True), sorted(r.layers),
            json.dumps(r.blobs, sort_keys=True, default=str))


def test_derived_is_remembered_only_inside_fixed():
    calls: list[int] = []

    def make() -> int:
        calls.append(1)
        return len(calls)

    a, b = object(), object()
    assert memo.derived(a, "k", make) == 1 and memo.derived(a, "k", make) == 2   # outside: afresh each call
    with memo.fixed():
        assert memo.derived(a, "k", make) == 3 == memo.derived(a, "k", make)
        assert memo.derived(b, "k", make) == 4                   # another object
        assert memo.derived(a, "other", make) == 5               # another key
        assert memo.derived((a, b), "k", make) == 6 == memo.derived((a, b), "k", make)
        assert memo.derived((b, a), "k", make) == 7              # objects in order
        with memo.fixed():                                       # nested: the outer scope's entries
            assert memo.derived(a, "k", make) == 3
    assert memo.derived(a, "k", make) == 8                       # the scope ended: forgotten


def test_a_group_priced_together_gives_each_point_s_own_figures(tmp_path):
    """Every stored figure of a group priced in one call (trace-derived results shared, rows kept across
    accelerators) equals the point priced on its own with nothing kept."""
    for scheme in ("fp32", "{name: kbit, weight_bits: 4, act_bits: 4}", "mxfp4"):
        pts = _points(tmp_path, scheme)
        together = evaluate_group(pts, key="g")
        st = _group_state(pts, "g", None)
        vers = versions()
        for p, r in zip(pts, together):
            am.sim._KNOWN.clear()
            alone = price_point(p, st.accuracy, st.curves, st.steps, st.traces, 0.0, vers)
            assert r.status == "done", r.error
            assert _stored(r) == _stored(alone), (scheme, p.label)


def test_simulated_rows_are_those_of_each_item_on_its_own():
    """A work item seen before (another name, another phase, or another accelerator that differs only where
    it does not matter) gets the row and accesses simulate_layer gives it."""
    acc = am.load_accelerator(str(ROOT / "configs/accelerators/tpu_like.yaml"))
    conv = am.ConvLayer("c1", ifmap_h=14, ifmap_w=14, filt_h=3, filt_w=3, channels=16, num_filters=32, padding=1)
    vec = am.VectorOp("relu1", "forward", ops=4096, bytes_in=16384, bytes_out=16384, fusable_in=16384,
                      fusable_out=16384, tensor_bytes=16384, detail={"relu": 4096})
    items = [conv, replace(conv, name="c2"), replace(conv, name="c1", phase="backward_data"), vec,
             replace(vec, name="relu2", detail={"relu": 4096})]
    for a in (acc, replace(acc, rows=8), replace(acc, clock_mhz=350.0), replace(acc, vector_lanes=7),
              replace(acc, dataflow="os"), replace(acc, ofmap_sram_bytes=1024)):
        for _ in range(2):   # the second time from the kept rows
            rep = am.simulate(items, a)
            for item, row in zip(items, rep.rows):
                own = am.MemoryAccesses()
                assert row == am.simulate_layer(item, a, own)
                assert rep.accesses.of(item.name, item.phase) == own.of(item.name, item.phase) or \
                    item.name in ("c1",)   # c1 forward and backward_data are two pairs: checked below
            fwd, bwd = am.MemoryAccesses(), am.MemoryAccesses()
            am.simulate_layer(items[0], a, fwd)
            am.simulate_layer(items[2], a, bwd)
            assert rep.accesses.of("c1", "forward") == fwd.of("c1", "forward")
            assert rep.accesses.of("c1", "backward_data") == bwd.of("c1", "backward_data")


def test_a_worker_pricing_a_share_does_not_import_torch(tmp_path):
    """A follower prices against the traces it was sent: torch (about 2 CPU-s to import) stays out."""
    pts = _points(tmp_path, detail="summary")[:4]
    state = group_state_json(_group_state(pts, "g", None))
    (tmp_path / "state.json").write_text(state)
    (tmp_path / "wire.json").write_text(json.dumps([p.wire() for p in pts]))
    code = ("import json, sys; from pathlib import Path; from hwsim.design import from_wire; "
            "from hwsim.pipeline import evaluate_group; d = Path(sys.argv[1]); "
            "out = evaluate_group(from_wire(json.loads((d / 'wire.json').read_text())), key='g', "
            "shared=(d / 'state.json').read_text()); "
            "print(json.dumps([[r.status for r in out], 'torch' in sys.modules, out[0].versions]))")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300,
                         cwd=ROOT)
    assert res.returncode == 0, res.stderr[-2000:]
    statuses, torch_loaded, vers = json.loads(res.stdout.strip().splitlines()[-1])
    assert statuses == ["done"] * 4
    assert not torch_loaded
    assert vers == versions()     # torch's version read from its metadata: what torch.__version__ says
