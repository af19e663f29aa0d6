"""A corpus of hostile or malformed inputs: command lines and sweep files a new user or a hostile
reviewer would try. Every case must end in exactly one ``error:`` line and exit status 2 (3 for a
sweep whose points fail), with no traceback, within 10 s and 500 MB (tests/test_hostile_inputs.py).

A case is ``(id, argv, files)``: ``files`` (name -> text, or bytes) are written into the case's own
empty folder, which is the working directory while ``argv`` runs.
"""

from __future__ import annotations

GOOD = """\
name: ok
models: [lenet300]
datasets: [digits]
schemes: [fp32]
recipes: [{epochs: 1, batch: 32}]
accelerators: [tpu_like]
"""


def sweep(text: str, *extra: str) -> tuple[list[str], dict[str, str | bytes]]:
    return ["sweep", "s.yaml", "--dry-run", *extra], {"s.yaml": text}


def with_(key: str, value: str) -> str:
    """GOOD with one top-level key replaced (or added)."""
    lines = [ln for ln in GOOD.splitlines() if not ln.startswith(key + ":")]
    return "\n".join(lines + [f"{key}: {value}"]) + "\n"


def bomb(levels: int, width: int) -> str:
    out = ["a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    for i in range(1, levels):
        out.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return GOOD + "\n".join(out) + "\n"


NAN_MODEL = """\
import torch
from torch import nn


class Nan(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(x.flatten(1)) * float("nan")


def make(num_classes=10, in_shape=(1, 8, 8)):
    return Nan()
"""

CASES: list[tuple[str, list[str], dict[str, str | bytes]]] = []


def add(cid: str, argv: list[str], files: dict[str, str | bytes] | None = None) -> None:
    CASES.append((cid, argv, files or {}))


# -- the command line ------------------------------------------------------------------------------
for verb in ("schemes", "models", "count", "cost", "simulate", "train", "sweep", "pareto", "report", "serve"):
    add(f"unknown-flag-{verb}", [verb, "--no-such-flag"])
add("unknown-verb", ["frobnicate"])
add("unknown-verb-typo", ["sweeep", "x.yaml"])
add("unknown-root-flag", ["--no-such-flag"])
for verb in ("count", "cost", "sweep", "pareto", "report"):
    add(f"missing-argument-{verb}", [verb])
add("missing-option-value", ["train", "lenet300", "--epochs"])
add("count-batch-not-int", ["count", "lenet300", "--scheme", "fp32", "--batch", "abc"])
add("count-batch-float", ["count", "lenet300", "--scheme", "fp32", "--batch", "1.5"])
add("count-batch-zero", ["count", "lenet300", "--scheme", "fp32", "--batch", "0"])
add("count-batch-negative", ["count", "lenet300", "--scheme", "fp32", "--batch", "-3"])
add("count-batch-huge", ["count", "lenet300", "--scheme", "fp32", "--batch", "99999999999999999999999"])
add("count-unknown-model", ["count", "lenet301", "--scheme", "fp32"])
add("count-unknown-scheme", ["count", "lenet300", "--scheme", "binarycnnect"])
add("count-scheme-bad-yaml", ["count", "lenet300", "--scheme", "{name: twn"])
add("count-scheme-unknown-param", ["count", "lenet300", "--scheme", "{name: twn, delta: 3}"])
add("count-scheme-bad-value", ["count", "lenet300", "--scheme", "{name: graham, quantizer: L9}"])
add("count-scheme-list", ["count", "lenet300", "--scheme", "[twn, bnn]"])
add("count-scheme-number", ["count", "lenet300", "--scheme", "3"])
add("count-input-garbage", ["count", "lenet300", "--scheme", "fp32", "--input", "axb"])
add("count-input-zero", ["count", "lenet300", "--scheme", "fp32", "--input", "0x8x8"])
add("count-input-negative", ["count", "lenet300", "--scheme", "fp32", "--input", "1x-8x8"])
add("count-input-empty", ["count", "lenet300", "--scheme", "fp32", "--input", ""])
add("count-input-rejected", ["count", "resnet20", "--scheme", "fp32", "--input", "3x2x2x2x2"])
add("count-phase-unknown", ["count", "lenet300", "--scheme", "fp32", "--phase", "fly"])
add("count-device-unknown", ["count", "lenet300", "--scheme", "fp32", "--device", "tpu"])
add("count-optimizer-unknown", ["count", "lenet300", "--scheme", "fp32", "--optimizer", "lbfgs"])
add("count-classes-zero", ["count", "lenet300", "--scheme", "fp32", "--classes", "0"])
add("count-model-file-missing", ["count", "nosuch.py:make", "--scheme", "fp32"])
add("count-model-factory-missing", ["count", "m.py:nosuch", "--scheme", "fp32"], {"m.py": "def make():\n    pass\n"})
add("count-model-factory-not-module", ["count", "m.py:make", "--scheme", "fp32"],
    {"m.py": "def make(**kw):\n    return 42\n"})
add("count-model-file-syntax-error", ["count", "m.py:make", "--scheme", "fp32"], {"m.py": "def make(:\n"})
add("count-model-file-raises", ["count", "m.py:make", "--scheme", "fp32"],
    {"m.py": "def make(**kw):\n    raise ValueError('no')\n"})
add("count-onnx-garbage", ["count", "m.onnx", "--scheme", "fp32"], {"m.onnx": b"\x00\x01not onnx"})
add("count-pt2-garbage", ["count", "m.pt2", "--scheme", "fp32"], {"m.pt2": b"PK\x03\x04garbage"})
add("count-strict-float-layer", ["count", "m.py:make", "--scheme", "bnn", "--strict"],
    {"m.py": "from torch import nn\n\ndef make(**kw):\n    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10),"
             " nn.LSTM(10, 10))\n"})
add("cost-unknown-tech", ["cost", "lenet300", "--scheme", "fp32", "--tech", "3nm_magic"])
add("cost-bad-node", ["cost", "lenet300", "--scheme", "fp32", "--node", "banana"])
add("cost-unknown-accelerator", ["cost", "lenet300", "--scheme", "fp32", "--accelerator", "nosuch"])
add("cost-unknown-hierarchy", ["cost", "lenet300", "--scheme", "fp32", "--hierarchy", "nosuch"])
add("cost-negative-rate", ["cost", "lenet300", "--scheme", "fp32", "--rate", "-1"])
add("cost-set-without-accelerator", ["cost", "lenet300", "--scheme", "fp32", "--set", "array.rows=4"])
add("cost-set-bad-path", ["cost", "lenet300", "--scheme", "fp32", "--accelerator", "tpu_like", "--set", "array.rowz=4"])
add("cost-set-bad-value", ["cost", "lenet300", "--scheme", "fp32", "--accelerator", "tpu_like", "--set",
                           "array.rows=many"])
add("cost-set-no-equals", ["cost", "lenet300", "--scheme", "fp32", "--accelerator", "tpu_like", "--set", "array.rows"])
add("cost-trace-json-garbage", ["cost", "t.json"], {"t.json": "{not json"})
add("cost-trace-json-wrong", ["cost", "t.json"], {"t.json": "[1, 2, 3]"})
add("simulate-nothing", ["simulate"])
add("simulate-unknown-accelerator", ["simulate", "--topology", "t.csv", "--accelerator", "nosuch"],
    {"t.csv": "Layer,IFMAP Height,IFMAP Width,Filter Height,Filter Width,Channels,Num Filter,Strides,\n"
              "c1,8,8,3,3,1,4,1,\n"})
add("simulate-topology-missing", ["simulate", "--topology", "nosuch.csv", "--accelerator", "tpu_like"])
add("simulate-topology-garbage", ["simulate", "--topology", "t.csv", "--accelerator", "tpu_like"],
    {"t.csv": "this,is\nnot,a,topology\n"})
add("simulate-topology-negative", ["simulate", "--topology", "t.csv", "--accelerator", "tpu_like"],
    {"t.csv": "Layer,IFMAP Height,IFMAP Width,Filter Height,Filter Width,Channels,Num Filter,Strides,\n"
              "c1,-8,8,3,3,1,4,1,\n"})
add("simulate-cfg-missing", ["simulate", "--topology", "t.csv", "--cfg", "nosuch.cfg"],
    {"t.csv": "Layer,IFMAP Height,IFMAP Width,Filter Height,Filter Width,Channels,Num Filter,Strides,\n"
              "c1,8,8,3,3,1,4,1,\n"})
add("simulate-accelerator-yaml-garbage", ["simulate", "lenet300", "--scheme", "fp32", "--accelerator", "a.yaml"],
    {"a.yaml": "array: [unclosed\n"})
add("simulate-accelerator-yaml-bad-field", ["simulate", "lenet300", "--scheme", "fp32", "--accelerator", "a.yaml"],
    {"a.yaml": "name: a\narray: {rows: -4, cols: 8}\n"})
add("simulate-format-unknown", ["simulate", "lenet300", "--scheme", "fp32", "--accelerator", "tpu_like",
                                "--format", "pdf"])
add("train-unknown-dataset", ["train", "lenet300", "--scheme", "fp32", "--dataset", "imagenet22k"])
add("train-epochs-zero", ["train", "lenet300", "--scheme", "fp32", "--epochs", "0"])
add("train-epochs-negative", ["train", "lenet300", "--scheme", "fp32", "--epochs", "-2"])
add("train-lr-negative", ["train", "lenet300", "--scheme", "fp32", "--lr", "-0.1"])
add("train-lr-not-number", ["train", "lenet300", "--scheme", "fp32", "--lr", "fast"])
add("train-optimizer-unknown", ["train", "lenet300", "--scheme", "fp32", "--optimizer", "lbfgs"])
add("train-data-root-missing", ["train", "lenet300", "--scheme", "fp32", "--dataset", "mnist", "--data-root", "nosuch"])
add("train-diverges", ["train", "m.py:make", "--scheme", "fp32", "--epochs", "1", "--limit", "64", "--no-progress"],
    {"m.py": NAN_MODEL})
add("pareto-store-missing", ["pareto", "nosuch.db", "--x", "energy"])
add("pareto-store-not-sqlite", ["pareto", "x.db", "--x", "energy"], {"x.db": "just text\n"})
add("pareto-store-empty-file", ["pareto", "x.db", "--x", "energy"], {"x.db": ""})
add("pareto-store-is-folder", ["pareto", ".", "--x", "energy"])
add("report-store-missing", ["report", "nosuch.db", "--point", "abc"])
add("report-store-not-sqlite", ["report", "x.db", "--point", "abc"], {"x.db": "SQLite format 3\x00 but not really"})
add("report-format-unknown", ["report", "nosuch.db", "--point", "abc", "--format", "pdf"])
add("serve-store-missing", ["serve", "nosuch.db"])
add("serve-store-not-sqlite", ["serve", "x.db"], {"x.db": "text"})
add("serve-port-zero", ["serve", "nosuch.db", "--port", "0"])
add("serve-port-huge", ["serve", "nosuch.db", "--port", "70000"])
add("serve-refresh-tiny", ["serve", "nosuch.db", "--refresh-ms", "1"])
add("sweep-file-missing", ["sweep", "nosuch.yaml"])
add("sweep-file-is-folder", ["sweep", "."])
add("sweep-workers-negative", ["sweep", "s.yaml", "--workers", "-1"], {"s.yaml": GOOD})
add("sweep-backend-unknown", ["sweep", "s.yaml", "--backend", "slurm"], {"s.yaml": GOOD})
add("sweep-address-without-ray", ["sweep", "s.yaml", "--address", "auto"], {"s.yaml": GOOD})
add("sweep-evaluator-malformed", ["sweep", "s.yaml", "--evaluator", "nocolon"], {"s.yaml": GOOD})
add("sweep-max-points-zero", ["sweep", "s.yaml", "--max-points", "0"], {"s.yaml": GOOD})
add("sweep-db-is-folder", ["sweep", "s.yaml", "--db", "."], {"s.yaml": GOOD})
add("sweep-db-not-sqlite", ["sweep", "s.yaml", "--db", "x.db"], {"s.yaml": GOOD, "x.db": "text\n"})

# -- sweep files: YAML itself --------------------------------------------------------------------
add("yaml-empty", *sweep(""))
add("yaml-only-comment", *sweep("# nothing\n"))
add("yaml-scalar", *sweep("just a string\n"))
add("yaml-list", *sweep("- a\n- b\n"))
add("yaml-unclosed-bracket", *sweep("name: x\nmodels: [lenet300\n"))
add("yaml-unclosed-quote", *sweep("name: 'x\n"))
add("yaml-tab-indent", *sweep("name: x\nrecipes:\n\t- epochs: 1\n"))
add("yaml-bad-indent", *sweep("name: x\n  models: [a]\n bad: 1\n"))
add("yaml-two-documents", *sweep("name: x\n---\nname: y\n"))
add("yaml-undefined-alias", *sweep(GOOD + "x: *nowhere\n"))
add("yaml-alias-bomb-9x9", *sweep(bomb(9, 9)))
add("yaml-alias-bomb-30x2", *sweep(bomb(30, 2)))
add("yaml-alias-bomb-in-axis", *sweep(bomb(12, 4).replace("schemes: [fp32]", "schemes: *a11")))
add("yaml-self-alias-list", *sweep("name: x\nmodels: &a [*a]\n"))
add("yaml-self-alias-map", *sweep("name: x\nrecipes: &r {inner: *r}\n"))
add("yaml-deep-nesting-60", *sweep("name: x\nmodels: " + "[" * 60 + "]" * 60 + "\n"))
add("yaml-deep-nesting-5000", *sweep("name: x\nmodels: " + "[" * 5000 + "]" * 5000 + "\n"))
add("yaml-deep-mapping", *sweep("name: x\nrecipes: " + "{a: " * 80 + "1" + "}" * 80 + "\n"))
add("yaml-int-over-digit-limit", *sweep(with_("recipes", "[{epochs: " + "9" * 5000 + "}]")))
add("yaml-int-200-digits", *sweep(with_("recipes", "[{epochs: " + "9" * 200 + "}]")))
add("yaml-huge-scalar", *sweep(with_("name", "x" * 200_000)))
add("yaml-nul-byte", *sweep("name: x\x00\n"))
add("yaml-nul-in-value", *sweep(GOOD.replace("lenet300", "lenet\x00300")))
add("yaml-invalid-utf8", *sweep(b"name: \xff\xfe\xfa\n"))
add("yaml-binary-garbage", *sweep(bytes(range(256)) * 4))
add("yaml-duplicate-top-key", *sweep(GOOD + "name: again\n"))
add("yaml-duplicate-nested-key", *sweep(with_("recipes", "[{epochs: 1, epochs: 2}]")))
add("yaml-python-tag", *sweep(GOOD + "x: !!python/object/apply:os.system ['true']\n"))
add("yaml-custom-tag", *sweep(GOOD + "x: !evil {a: 1}\n"))
add("yaml-set-tag", *sweep(with_("models", "!!set {lenet300: null}")))
add("yaml-binary-tag", *sweep(with_("name", "!!binary aGVsbG8=")))
add("yaml-timestamp-name", *sweep(with_("name", "2026-11-28")))
# -- sweep files: structure -------------------------------------------------------------------------
add("sweep-no-name", *sweep(GOOD.replace("name: ok\n", "")))
add("sweep-name-list", *sweep(with_("name", "[a, b]")))
add("sweep-name-null", *sweep(with_("name", "null")))
add("sweep-unknown-key", *sweep(GOOD + "modles: [lenet300]\n"))
add("sweep-combine-unknown", *sweep(GOOD + "combine: cartesian\n"))
add("sweep-no-axes", *sweep("name: x\n"))
add("sweep-no-accelerators", *sweep(GOOD.replace("accelerators: [tpu_like]\n", "")))
add("sweep-models-number", *sweep(with_("models", "3")))
add("sweep-models-mapping", *sweep(with_("models", "{lenet300: 1}")))
add("sweep-models-empty", *sweep(with_("models", "[]")))
add("sweep-model-unknown", *sweep(with_("models", "[lenet301]")))
add("sweep-model-arg-unknown", *sweep(with_("models", "[{name: lenet300, args: {depth: 3}}]")))
add("sweep-model-arg-negative", *sweep(with_("models", "[{name: lenet300, args: {hidden1: -1}}]")))
add("sweep-model-arg-zero", *sweep(with_("models", "[{name: resnet20, args: {width: 0}}]")))
add("sweep-model-arg-wrong-type", *sweep(with_("models", "[{name: lenet300, args: {hidden1: many}}]")))
add("sweep-model-too-big-to-train", *sweep(with_("models", "[{name: lenet300, args: {hidden1: 100000000}}]")))
add("sweep-model-file-missing", *sweep(with_("models", "[nosuch.py:make]")))
add("sweep-model-args-not-mapping", *sweep(with_("models", "[{name: lenet300, args: [1, 2]}]")))
add("sweep-datasets-unknown", *sweep(with_("datasets", "[imagenet22k]")))
add("sweep-datasets-number", *sweep(with_("datasets", "42")))
add("sweep-schemes-unknown", *sweep(with_("schemes", "[binarycnnect]")))
add("sweep-schemes-unknown-param", *sweep(with_("schemes", "[{name: twn, delta: 3}]")))
add("sweep-schemes-bad-enum", *sweep(with_("schemes", "[{name: graham, quantizer: L9}]")))
add("sweep-schemes-bits-zero", *sweep(with_("schemes", "[{name: kbit, weight_bits: 0}]")))
add("sweep-schemes-bits-string", *sweep(with_("schemes", "[{name: kbit, weight_bits: four}]")))
add("sweep-schemes-bits-bool", *sweep(with_("schemes", "[{name: kbit, weight_bits: true}]")))
add("sweep-schemes-vary-empty", *sweep(with_("schemes", "[{name: kbit, vary: {weight_bits: []}}]")))
add("sweep-schemes-vary-not-list", *sweep(with_("schemes", "[{name: kbit, vary: {weight_bits: 4}}]")))
add("sweep-schemes-vary-bad-value", *sweep(with_("schemes", "[{name: kbit, vary: {weight_bits: [2, 99]}}]")))
add("sweep-schemes-vary-unknown-param", *sweep(with_("schemes", "[{name: kbit, vary: {wbits: [2]}}]")))
add("sweep-schemes-mixed-bad", *sweep(with_("schemes", "[{name: mixed, compose: [nosuch]}]")))
add("sweep-recipes-not-list", *sweep(with_("recipes", "5")))
add("sweep-recipe-epochs-zero", *sweep(with_("recipes", "[{epochs: 0}]")))
add("sweep-recipe-epochs-negative", *sweep(with_("recipes", "[{epochs: -1}]")))
add("sweep-recipe-epochs-bool", *sweep(with_("recipes", "[{epochs: yes}]")))
add("sweep-recipe-epochs-float", *sweep(with_("recipes", "[{epochs: 1.5}]")))
add("sweep-recipe-epochs-string", *sweep(with_("recipes", "[{epochs: ten}]")))
add("sweep-recipe-batch-zero", *sweep(with_("recipes", "[{batch: 0}]")))
add("sweep-recipe-batch-bool", *sweep(with_("recipes", "[{batch: false}]")))
add("sweep-recipe-lr-string", *sweep(with_("recipes", "[{lr: fast}]")))
add("sweep-recipe-lr-negative", *sweep(with_("recipes", "[{lr: -1}]")))
add("sweep-recipe-lr-nan", *sweep(with_("recipes", "[{lr: .nan}]")))
add("sweep-recipe-lr-inf", *sweep(with_("recipes", "[{lr: .inf}]")))
add("sweep-recipe-optimizer-unknown", *sweep(with_("recipes", "[{optimizer: lbfgs}]")))
add("sweep-recipe-unknown-key", *sweep(with_("recipes", "[{epochz: 1}]")))
add("sweep-recipe-limit-negative", *sweep(with_("recipes", "[{limit: -5}]")))
add("sweep-tech-unknown", *sweep(GOOD + "tech: [3nm_magic]\n"))
add("sweep-tech-file-missing", *sweep(GOOD + "tech: [nosuch.yaml]\n"))
add("sweep-accelerator-unknown", *sweep(with_("accelerators", "[nosuch]")))
add("sweep-accelerator-file-missing", *sweep(with_("accelerators", "[nosuch.yaml]")))
add("sweep-accelerator-override-bad-path", *sweep(with_("accelerators", "[{name: tpu_like, array.rowz: 4}]")))
add("sweep-accelerator-override-bad-value", *sweep(with_("accelerators", "[{name: tpu_like, array.rows: many}]")))
add("sweep-accelerator-override-negative", *sweep(with_("accelerators", "[{name: tpu_like, array.rows: -4}]")))
add("sweep-accelerator-vary-bad-path", *sweep(with_("accelerators", "[{name: tpu_like, vary: {array.rowz: [4]}}]")))
add("sweep-accelerator-vary-bad-dataflow", *sweep(with_("accelerators",
                                                         "[{name: tpu_like, vary: {array.dataflow: [ws, zz]}}]")))
add("sweep-accelerator-vary-empty", *sweep(with_("accelerators", "[{name: tpu_like, vary: {array.rows: []}}]")))
add("sweep-accelerator-yaml-garbage", ["sweep", "s.yaml", "--dry-run"],
    {"s.yaml": with_("accelerators", "[a.yaml]"), "a.yaml": "array: [unclosed\n"})
add("sweep-pricing-batch-zero", *sweep(GOOD + "pricing: {batch: 0}\n"))
add("sweep-pricing-memory-unknown", *sweep(GOOD + "pricing: {memory: cloud}\n"))
add("sweep-pricing-hierarchy-missing", *sweep(GOOD + "pricing: {hierarchy: nosuch}\n"))
add("sweep-pricing-unknown-key", *sweep(GOOD + "pricing: {bacth: 4}\n"))
add("sweep-accuracy-unknown", *sweep(GOOD + "accuracy: guess\n"))
add("sweep-zip-mismatch", *sweep(GOOD.replace("schemes: [fp32]", "schemes: [fp32, twn, bnn]")
                                 .replace("models: [lenet300]", "models: [lenet300, lenet5]") + "combine: zip\n"))
add("sweep-list-without-points", *sweep("name: x\ncombine: list\naccelerators: [tpu_like]\n"))
add("sweep-points-with-grid", *sweep(GOOD + "points: [{model: lenet300}]\n"))
add("sweep-point-unknown-key", *sweep("name: x\ncombine: list\naccelerators: [tpu_like]\ndatasets: [digits]\n"
                                      "schemes: [fp32]\nrecipes: [{epochs: 1}]\npoints: [{modle: lenet300}]\n"))
add("sweep-point-leaves-out-axis", *sweep("name: x\ncombine: list\naccelerators: [tpu_like]\ndatasets: [digits]\n"
                                          "recipes: [{epochs: 1}]\npoints: [{model: lenet300}]\n"))
add("sweep-literature-missing", *sweep(GOOD + "literature: [nosuch.yaml]\n"))
add("sweep-literature-garbage", ["sweep", "s.yaml", "--dry-run"],
    {"s.yaml": GOOD + "literature: [lit.yaml]\n", "lit.yaml": "rows: [unclosed\n"})
add("sweep-literature-no-figure", ["sweep", "s.yaml", "--dry-run"],
    {"s.yaml": GOOD + "literature: [lit.yaml]\n",
     "lit.yaml": "source: {citation: x}\nrows: [{id: a, model: lenet300, dataset: digits, scheme: fp32}]\n"})
add("sweep-include-missing", *sweep(GOOD + "include: [nosuch.yaml]\n"))
add("sweep-include-self", *sweep(GOOD + "include: [s.yaml]\n"))
add("sweep-include-cycle", ["sweep", "s.yaml", "--dry-run"],
    {"s.yaml": GOOD + "include: [b.yaml]\n", "b.yaml": GOOD.replace("ok", "b") + "include: [s.yaml]\n"})
add("sweep-include-garbage", ["sweep", "s.yaml", "--dry-run"],
    {"s.yaml": GOOD + "include: [b.yaml]\n", "b.yaml": "name: [\n"})
add("sweep-grid-over-limit", *sweep(GOOD.replace("schemes: [fp32]", "schemes: [{name: kbit, vary: {weight_bits: "
                                                 "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}}]")
                                    .replace("accelerators: [tpu_like]", "accelerators: [{name: tpu_like, vary: "
                                             "{array.rows: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20], "
                                             "array.cols: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20], "
                                             "clock_mhz: [100,200,300,400,500,600,700,800,900,1000,1100,1200,1300,"
                                             "1400,1500,1600,1700,1800,1900,2000]}}]")))
add("sweep-grid-over-max-points", *sweep(GOOD.replace("schemes: [fp32]", "schemes: [fp32, twn, bnn]"),
                                         "--max-points", "2"))
add("sweep-search-unknown-objective", *sweep(GOOD + "search: {objectives: [joules, accuracy], budget: 4}\n"))
add("sweep-search-budget-zero", *sweep(GOOD + "search: {objectives: [accuracy, train_energy_pj_per_step], "
                                              "budget: 0}\n"))
add("sweep-search-with-zip", *sweep(GOOD + "combine: zip\nsearch: {objectives: [accuracy, macs_infer], budget: 4}\n"))
add("sweep-search-unknown-key", *sweep(GOOD + "search: {objectives: [accuracy, macs_infer], budjet: 4}\n"))
# -- runs whose points fail: every other point finishes, the exit status is 3 -------------------------
add("sweep-point-diverges", ["sweep", "s.yaml", "--db", "r.db", "--workers", "0", "--no-progress"],
    {"s.yaml": GOOD.replace("models: [lenet300]", "models: [m.py:make]")
               .replace("recipes: [{epochs: 1, batch: 32}]", "recipes: [{epochs: 1, batch: 32, limit: 64}]"),
     "m.py": NAN_MODEL})

# exit status expected when it is not 2
EXIT = {"sweep-point-diverges": 3}
