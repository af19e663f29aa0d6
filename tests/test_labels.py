"""Names that identify a design: every field of the stored config that varies among the points shown
together is named (model, scheme, accelerator first; then dataset, recipe, pricing; seeds last), only
when it varies; identical configs say so. The CLI tables, the reports and the dashboard name alike."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest

from hwsim import labels

BASE = {"model": {"name": "lenet300", "args": {}}, "dataset": "digits", "input_shape": [1, 28, 28],
        "num_classes": 10, "scheme": {"name": "bnn"},
        "recipe": {"epochs": 10, "batch": 64, "lr": 0.01, "optimizer": "sgd", "seed": 0},
        "tech": "45nm", "accelerator": "tpu_like",
        "hardware": {"name": "tpu_like", "array": {"rows": 16, "cols": 16, "dataflow": "ws"}, "clock_mhz": 700.0,
                     "pe": {"kind": "int", "bits": 8}, "sram": {"ifmap_kb": 64.0, "filter_kb": 64.0}},
        "accuracy_source": "train", "literature": None, "pricing": {"batch": 64, "detail": "layer"}}


def with_(path: str, value) -> dict:
    cfg = copy.deepcopy(BASE)
    *head, last = path.split(".")
    d = cfg
    for k in head:
        d = d[k]
    d[last] = value
    return cfg


@pytest.mark.parametrize("path,values,words", [
    ("recipe.lr", [0.01, 0.001, 0.0001], ["lr 0.01", "lr 0.001", "lr 0.0001"]),
    ("recipe.seed", [0, 3, 12345], ["seed 0", "seed 3", "seed 12,345"]),
    ("dataset", ["digits", "cifar10"], ["digits", "cifar10"]),
    ("pricing.batch", [64, 256], ["batch 64", "batch 256"]),
    ("recipe.optimizer", ["sgd", "adam"], ["optimizer sgd", "optimizer adam"]),
    ("pricing.detail", ["layer", "whole"], ["detail layer", "detail whole"]),
    ("hardware.pe.bits", [8, 4], ["bits 8", "bits 4"]),
    ("input_shape", [[1, 28, 28], [3, 32, 32]], ["input 1x28x28", "input 3x32x32"]),
])
def test_points_differing_in_one_field_get_distinct_names_that_say_it(path, values, words):
    names = labels.design_names([with_(path, v) for v in values])
    assert len(set(names)) == len(values), names
    for name, w in zip(names, words):
        assert name.startswith("lenet300 · bnn · tpu_like"), name   # model, scheme, accelerator first
        assert name.endswith(w), (name, w)
        assert "e-" not in name and "e+" not in name


def test_a_store_where_only_the_scheme_varies_keeps_the_short_names():
    cfgs = [with_("scheme", s) for s in ({"name": "bnn"}, {"name": "kbit", "weight_bits": 4, "act_bits": 4},
                                         {"name": "graham", "quantizer": "L2"})]
    assert labels.design_names(cfgs) == ["lenet300 · bnn · tpu_like", "lenet300 · kbit W4A4 · tpu_like",
                                         "lenet300 · graham L2 · tpu_like"]


def test_fields_are_ordered_by_importance_and_seeds_come_last():
    cfgs = [BASE, with_("recipe.seed", 1), with_("pricing.batch", 8), with_("dataset", "cifar10"),
            with_("hardware.clock_mhz", 500.0), with_("recipe.lr", 0.1), with_("recipe.batch", 128)]
    name = labels.design_names(cfgs)[0]
    # the two batches share their word, so each says whose it is
    assert name == ("lenet300 · bnn · tpu_like 700 MHz · digits · recipe batch 64 · lr 0.01 · pricing batch 64"
                    " · seed 0"), name


def test_identical_configs_say_so():
    names = labels.design_names([BASE, with_("recipe.lr", 0.1), copy.deepcopy(BASE)])
    assert names[0].endswith(" #1") and names[2].endswith(" #2"), names
    assert names[0].removesuffix(" #1") == names[2].removesuffix(" #2")
    assert "#" not in names[1]


def test_a_varying_scheme_parameter_outside_the_usual_ones_is_named():
    names = labels.design_names([with_("scheme", {"name": "graham", "quantizer": "L2", "start_epoch": e})
                                 for e in (0, 5)])
    assert names == ["lenet300 · graham L2 start_epoch=0 · tpu_like", "lenet300 · graham L2 start_epoch=5 · tpu_like"]


def test_names_kept_one_config_at_a_time_equal_names_made_at_once():
    cfgs = [with_("recipe.seed", s) for s in range(3)] + [with_("dataset", "cifar10"), with_("pricing.batch", 1),
                                                            with_("hardware.array.rows", 32)]
    v = labels.Variation()
    seen = []
    for c in cfgs:
        v.add(c)
        seen.append(c)
        assert [v.name(x) for x in seen] == labels.design_names(seen)
    assert len({v.name(c) for c in cfgs}) == len(cfgs)
    # the key changes exactly when what varies changes
    before = v.key()
    v.add(with_("recipe.seed", 7))
    assert v.key() == before
    v.add(with_("recipe.epochs", 20))
    assert v.key() != before


def test_a_field_some_configs_lack_varies():
    lit = with_("recipe", None)
    names = labels.design_names([BASE, lit])
    assert len(set(names)) == 2, names
    assert names[1] == "lenet300 · bnn · tpu_like", names   # what it lacks writes nothing


# -- the dashboard names with the same function --------------------------------------------------------
def _write(db, cfgs):
    from hwsim.store import PointResult, Store

    with Store(db) as s:
        for i, cfg in enumerate(cfgs):
            pid = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]
            s.write(PointResult(id=pid, config=cfg, sweep="t", label=None, columns={
                "model": "lenet300", "dataset": cfg["dataset"], "scheme": cfg["scheme"]["name"], "family": "binary",
                "accelerator": "tpu_like"}, metrics={"accuracy": 0.9 - 0.01 * i, "train_energy_pj_per_step": 1e9 + i,
                                                     "macs_train_step": 1e6, "infer_energy_pj": 1e6 + i,
                                                     "macs_infer": 1e4}))
            yield pid, cfg


def test_dashboard_names_points_that_differ_only_in_recipe_dataset_or_pricing(tmp_path):
    from webapp.data import StoreData

    db = tmp_path / "s.db"
    first = [with_("recipe.seed", s) for s in range(4)] + [with_("recipe.lr", 0.1)]
    ids = dict(_write(db, first))
    data = StoreData(db)
    df = data.done_points().set_index("id")
    assert df["name"].nunique() == len(first)
    # the one function: the dashboard's names are labels.design_names of the configs
    assert [df.loc[i, "name"] for i in ids] == labels.design_names(list(ids.values()))
    # a commit adds points that differ in dataset and pricing: old and new rows renamed alike
    more = dict(_write(db, [with_("dataset", "cifar10"), with_("pricing.batch", 256)]))
    ids.update(more)
    df = data.done_points().set_index("id")
    want = labels.design_names(list(ids.values()))
    assert [df.loc[i, "name"] for i in ids] == want
    assert len(set(want)) == len(ids)
    assert df.loc[next(iter(more)), "name"].endswith("tpu_like · cifar10 · lr 0.01 · batch 64 · seed 0")
    fresh = StoreData(db).done_points().set_index("id")
    assert [fresh.loc[i, "name"] for i in ids] == want


def test_dashboard_keeps_short_names_where_only_the_scheme_varies(tmp_path):
    from webapp.data import StoreData

    db = tmp_path / "s.db"
    cfgs = [with_("scheme", {"name": n}) for n in ("bnn", "xnor", "twn")]
    list(_write(db, cfgs))
    names = sorted(StoreData(db).done_points()["name"])
    assert names == ["lenet300 · bnn · tpu_like", "lenet300 · twn · tpu_like", "lenet300 · xnor · tpu_like"]


def test_benchmark_store_every_drawn_marker_has_its_own_name(tmp_path):
    """The dashboard benchmark's store (a sweep replicated with different learning rates and seeds): the
    drawn markers' hover names are distinct, and hover writes pJ/MAC and TOPS/W through hwsim.units."""
    from benchmarks.dashboard_scale import make_store
    from webapp.data import StoreData
    from webapp.pages.explore import DEFAULT_VIEW, pareto_for

    db = tmp_path / "scale.db"
    make_store(db, 400)
    data = StoreData(db)
    df = data.done_points()
    assert df["name"].nunique() == len(df) == 400
    _, fig = pareto_for(data, dict(DEFAULT_VIEW), {})
    # the traces that draw markers (the trace a live sweep's commits append to starts empty and hidden)
    marked = [t for t in fig.data if t.mode == "markers" and t.customdata is not None and len(t.customdata)]
    drawn = [(c[0], c[1]) for t in marked for c in t.customdata]
    assert len(drawn) > 10
    assert len({n for _, n in drawn}) == len({i for i, _ in drawn})
    tmpl = marked[0].hovertemplate
    assert "energy per MAC" in tmpl and "efficiency" in tmpl
    row = marked[0].customdata[0]
    assert any(str(x).endswith(" pJ/MAC") for x in row) and any(str(x).endswith(" TOPS/W") for x in row), row


def test_field_texts_writes_each_value_as_field_text_does():
    """The many-points form writes what the one-value form writes, for integers read as floats (a seed
    column with a gap is read as floats) and for the fields written bare."""
    values = [1, 2.0, 3.5, None, float("nan"), "x", 10_000, 12_345.0, 0.001, 49_999.0]
    for path in ("recipe.seed", "recipe.lr", "recipe.batch", "dataset", "tech"):
        assert labels.field_texts(path, values) == [labels.field_text(path, v) for v in values], path
    assert labels.field_texts("recipe.seed", [5.0, 12_345.0]) == ["seed 5", "seed 12,345"]
