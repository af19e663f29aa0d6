"""The sweep file: pydantic models (unknown keys are errors) and a YAML loader that keeps line numbers.

A sweep file names the axes of a design space and how to combine them::

    name: quickstart
    combine: grid                 # grid | zip | list
    models: [lenet300, {name: resnet20, args: {width: 4}}]
    datasets: [digits]
    schemes: [fp32, twn, {name: graham, vary: {quantizer: [L2, L4]}}]
    recipes: [{epochs: 3, batch: 64, lr: 0.05}]
    tech: [45nm]
    accelerators: [eyeriss, {name: tpu_like, clock_mhz: 500, vary: {array.rows: [8, 16], array.dataflow: [ws, os]}}]
    literature: [../literature/graham2017.yaml]   # rows priced at paper scale
    include: [other_sweep.yaml]
    search: {objectives: [accuracy, train_energy_pj_per_step], budget: 20, constraints: ["area_mm2 <= 2"]}

Validation happens before anything runs. Every problem is a :class:`hwsim.errors.UserError`
whose ``where`` is ``FILE:LINE: yaml.path`` and whose ``what`` says what was expected.
Only ``yaml.safe_load`` semantics are used (SafeLoader composes the node tree, from which we
read both the values and the line of every key and item).
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from hwsim.errors import UserError
from hwsim.jsondoc import Json
from hwsim.schemes.base import SchemeSpec
from hwsim.store import METRICS
from hwsim.sweep.constraints import parse_constraint
from hwsim.yamlsafe import safe_load

Loc = tuple[Any, ...]

# ``datasets: [none]`` (costs only): each model takes its own input shape and class count
NO_DATASET = "none"

# Paper-scale input shapes for data sets that have no loader here (literature rows only).
PAPER_DATASETS: dict[str, tuple[tuple[int, int, int], int]] = {
    "imagenet": ((3, 224, 224), 1000),
    "svhn": ((3, 32, 32), 10),
}


# -- YAML with line numbers -------------------------------------------------------------
class LineMap:
    """YAML path (tuple of keys / indices) -> 1-based line of that node in the file."""

    def __init__(self, file: str):
        self.file = file
        self.lines: dict[Loc, int] = {}

    def line(self, loc: Loc) -> int | None:
        loc = tuple(loc)
        while True:
            if loc in self.lines:
                return self.lines[loc]
            if not loc:
                return None
            loc = loc[:-1]

    def where(self, loc: Loc) -> str:
        line = self.line(loc)
        path = dotted(loc)
        head = f"{self.file}:{line}" if line else self.file
        return f"{head}: {path}" if path else head


def dotted(loc: Loc) -> str:
    out = ""
    for k in loc:
        if isinstance(k, int):
            out += f"[{k}]"
        else:
            out += ("." if out else "") + str(k)
    return out


def _walk(node: yaml.Node, loc: Loc, lm: LineMap) -> None:
    lm.lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
            lm.lines[loc + (key,)] = k.start_mark.line + 1
            _walk(v, loc + (key,), lm)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            lm.lines[loc + (i,)] = v.start_mark.line + 1
            _walk(v, loc + (i,), lm)


def load_yaml(path: str | Path) -> tuple[Any, LineMap]:
    """Read a YAML file with StrictLoader; return (data, line map). Syntax errors are UserErrors."""
    p = Path(path)
    if "\x00" in str(p):
        raise UserError(repr(str(p)), "a file name cannot contain a NUL byte")
    if not p.is_file():
        raise UserError(str(p), "sweep file not found" if not p.exists() else "not a file")
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise UserError(str(p), f"file is larger than {MAX_FILE_BYTES // 2**20} MiB; a sweep file is a few KiB")
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(str(p), f"cannot read file ({e.__class__.__name__})") from None
    return parse_yaml(text, str(p))


MAX_FILE_BYTES = 8 * 2**20


def parse_yaml(text: str, file: str) -> tuple[Any, LineMap]:
    """The sweep file's data and the line of every path in it (for messages)."""
    lm = LineMap(file)
    data = safe_load(text, file, visit=lambda node: _walk(node, (), lm),
                     empty="empty file; expected a mapping with at least 'name' and the axes to sweep")
    return data, lm


# Integer fields are strict: YAML gives real types, so `epochs: true`, `epochs: 2.5` or `batch: "64"` is
# a mistake rather than 1, 2 or 64.
Int = StrictInt


# -- entries --------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


def _named(v: Any) -> Any:
    """``lenet300`` is short for ``{name: lenet300}``."""
    return {"name": v} if isinstance(v, str) else v


class ModelEntry(_Strict):
    """A model spec, its factory's ``args``, and optionally its ``input`` without the batch, spelled as on
    the CLI (``3x32x32``, ``tokens:128``); default: the data set's, a language model's own."""

    name: str
    args: dict[str, Json] = Field(default_factory=dict)    # as the file writes them; checked against the builder
    input: str | None = None

    @field_validator("input")
    @classmethod
    def _input(cls, v: str | None) -> str | None:
        from hwsim.workload import parse_input_shape

        if v is not None:
            try:
                parse_input_shape(v, where="input")
            except UserError as e:
                raise ValueError(e.what) from None
        return v

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return _named(v)


class _VaryEntry(_Strict):
    """A name, inline settings gathered into the field named by ``inline_field``, and ``vary``: a list of
    values per setting, one entry per combination."""

    inline_field: ClassVar[str] = "params"
    name: str
    vary: dict[str, list[Json]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _inline(cls, v: Any) -> Any:
        """Settings are written inline: {name, vary, k: v} -> {name, vary, <inline_field>: {k: v}}."""
        v = _named(v)
        if isinstance(v, dict) and cls.inline_field not in v:
            v = dict(v)
            v[cls.inline_field] = {k: v.pop(k) for k in list(v) if k not in ("name", "vary")}
        return v

    @field_validator("vary")
    @classmethod
    def _nonempty(cls, v: dict[str, list[Json]]) -> dict[str, list[Json]]:
        for k, vals in v.items():
            if not vals:
                raise ValueError(f"vary.{k} is an empty list; give at least one value")
        return v


class SchemeEntry(_VaryEntry):
    """A scheme name plus hyper-parameters; ``vary`` maps a parameter to the list of values to sweep."""

    inline_field: ClassVar[str] = "params"
    # as the file writes them: hwsim.sweep.expand resolves each combination into the typed scheme once
    params: dict[str, Json] = Field(default_factory=dict)


class AcceleratorEntry(_VaryEntry):
    """An accelerator (a name in configs/accelerators or a YAML path) with field overrides, written
    inline as dotted paths or nested mappings (``clock_mhz: 500``, ``array.rows: 64``,
    ``array: {rows: 64}``), and ``vary: {dotted.path: [values]}``: one accelerator per combination."""

    inline_field: ClassVar[str] = "overrides"
    # as the file writes them: hwsim.sweep.expand resolves each combination into an Accelerator once
    overrides: dict[str, Json] = Field(default_factory=dict)


class Recipe(_Strict):
    """A training recipe (passed to ``hwsim.train.TrainRecipe``; ``batch`` is its ``batch_size``).

    ``limit`` caps the examples loaded from the data set (None: all); ``max_steps`` caps the
    optimizer steps. Training always runs on the CPU with one thread per worker (deterministic).
    """

    epochs: Int = Field(3, ge=1, le=10_000)
    batch: Int = Field(64, ge=1, le=1_000_000)
    lr: float = Field(0.05, gt=0, le=100)
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0, le=1)
    schedule: Literal["constant", "cosine", "sgdr"] = "constant"
    restarts: list[Int] = Field(default_factory=list)   # sgdr: epochs at which the rate restarts
    restart_period: Int = Field(1, ge=1)                 # sgdr without restarts: T_0, T_0 x mult, ...
    restart_mult: Int = Field(2, ge=1)
    seed: Int = Field(0, ge=0)
    limit: Int | None = Field(None, ge=2)
    max_steps: Int | None = Field(None, ge=1)


class Pricing(_Strict):
    """How points are priced: training-step batch (default: the recipe's), inference batch, and where
    memory accesses come from: ``accelerator`` (the accelerator model's SRAM/DRAM accesses and its
    buffer sizes, as ``hwsim cost --accelerator``) or ``hierarchy`` (hwsim.energy's placement model).
    ``detail: summary`` stores metrics, energy by phase and component, cycle totals, the hardware and its
    area, but no per-layer rows or full trace/energy/cycle documents: for large hardware sweeps."""

    batch: Int | None = Field(None, ge=1, le=1_000_000)
    infer_batch: Int = Field(1, ge=1, le=1_000_000)
    hierarchy: str | None = None
    memory: Literal["accelerator", "hierarchy"] = "accelerator"
    detail: Literal["full", "summary"] = "full"
    # a decoder's inference as prefill + decode with a KV cache: the prompt's tokens (default: the
    # model's input sequence) and the tokens generated after it
    prompt: Int | None = Field(None, ge=1, le=1_000_000)
    new_tokens: Int | None = Field(None, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _decode(self) -> Pricing:
        if self.prompt is not None and self.new_tokens is None:
            raise ValueError("prompt prices a decoder's prefill + decode: give new_tokens too")
        return self


class PointEntry(_Strict):
    """One explicit point (``combine: list``); axes left out take the sweep's single value."""

    model: ModelEntry | None = None
    dataset: str | None = None
    scheme: SchemeSpec | None = None
    recipe: Recipe | None = None
    tech: str | None = None
    accelerator: AcceleratorEntry | None = None


class SearchSection(_Strict):
    """Multi-objective search (optuna NSGA-II) over the grid's axes instead of running all of it."""

    objectives: list[str] = Field(min_length=2)
    budget: Int = Field(ge=1, le=100_000)
    population: Int = Field(8, ge=2, le=10_000)
    seed: Int = Field(0, ge=0)
    sampler: Literal["nsga2", "tpe", "random"] = "nsga2"
    constraints: list[str] = Field(default_factory=list)

    @field_validator("constraints")
    @classmethod
    def _constraints(cls, v: list[str]) -> list[str]:
        for c in v:
            parse_constraint(c)
        return v

    @field_validator("objectives")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in METRICS:
                close = difflib.get_close_matches(name, METRICS, n=2)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise ValueError(f"unknown objective {name!r}{hint}; expected one of {', '.join(METRICS)}")
        if len(set(v)) != len(v):
            raise ValueError("objectives repeat a name")
        return v


class SweepFile(_Strict):
    name: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    store: str | None = None
    combine: Literal["grid", "zip", "list"] = "grid"
    include: list[str] = Field(default_factory=list)
    models: list[ModelEntry] = Field(default_factory=list)
    datasets: list[str] = Field(default_factory=list)
    schemes: list[SchemeEntry] = Field(default_factory=list)
    recipes: list[Recipe] = Field(default_factory=lambda: [Recipe()])
    tech: list[str] = Field(default_factory=lambda: ["45nm"], min_length=1)
    accelerators: list[AcceleratorEntry] = Field(default_factory=list)
    points: list[PointEntry] = Field(default_factory=list)
    literature: list[str] = Field(default_factory=list)
    accuracy: Literal["train", "none"] = "train"
    pricing: Pricing = Field(default_factory=Pricing)
    search: SearchSection | None = None

    @field_validator("recipes")
    @classmethod
    def _recipes(cls, v: list[Recipe]) -> list[Recipe]:
        if not v:
            raise ValueError("give at least one recipe (or leave the key out for the default)")
        return v

    @model_validator(mode="after")
    def _shape(self) -> SweepFile:
        axes = {"models": self.models, "datasets": self.datasets, "schemes": self.schemes}
        if self.combine in ("grid", "zip"):
            given = [k for k, v in axes.items() if v]
            if given and len(given) < 3:
                missing = [k for k in axes if k not in given]
                raise ValueError(f"combine: {self.combine} needs models, datasets and schemes; missing {', '.join(missing)}")
            if given and not self.accelerators:
                raise ValueError("give at least one accelerator (accelerators: [tpu_like])")
            if self.points:
                raise ValueError(f"'points' is only read with combine: list (this file says combine: {self.combine})")
        if self.combine == "list" and not self.points and not self.literature and not self.include:
            raise ValueError("combine: list needs a 'points' list")
        if not (any(axes.values()) or self.points or self.literature or self.include):
            raise ValueError("the sweep names no points: give models/datasets/schemes, points, literature or include")
        if self.literature and not self.accelerators:
            raise ValueError("literature rows are priced on accelerators: give at least one")
        if self.accuracy == "train" and (NO_DATASET in self.datasets
                                         or any(p.dataset == NO_DATASET for p in self.points)):
            raise ValueError(f"dataset {NO_DATASET!r} prices costs only; training needs a data set "
                             "(or accuracy: none)")
        if self.search is not None and self.combine != "grid":
            raise ValueError("search: runs over the axes of a grid; use combine: grid")
        return self


# -- literature tables ----------------------------------------------------------------
class LiteratureSource(_Strict):
    citation: str = Field(min_length=1)
    url: str = ""


class LiteratureRow(_Strict):
    id: str = Field(min_length=1)
    table: str = Field(min_length=1)
    model: ModelEntry
    dataset: str
    scheme: SchemeSpec
    accuracy: float | None = Field(None, ge=0, le=1)
    error: float | None = Field(None, ge=0, le=1)
    metric: str = "top1"
    batch: Int = Field(128, ge=1)
    epochs: Int | None = Field(None, ge=1)
    note: str = ""

    @model_validator(mode="after")
    def _one_figure(self) -> LiteratureRow:
        if (self.accuracy is None) == (self.error is None):
            raise ValueError("give exactly one of accuracy or error (fractions in [0, 1])")
        return self

    @property
    def acc(self) -> float:
        return self.accuracy if self.accuracy is not None else 1.0 - float(self.error)


class LiteratureFile(_Strict):
    source: LiteratureSource
    rows: list[LiteratureRow] = Field(min_length=1)


# -- validation with locations ----------------------------------------------------------
def _pydantic_error(e: ValidationError, lm: LineMap, prefix: Loc = ()) -> UserError:
    err = e.errors()[0]
    loc: list[Any] = list(prefix)
    for part in err["loc"]:
        # str | Model unions add the member's name to the path; it is not a YAML key
        if isinstance(part, str) and (part in ("str", "int", "float", "bool", "list[any]", "dict[str,any]")
                                      or part[:1].isupper() or "[" in part or part.startswith("function-")):
            continue
        loc.append(part)
    msg = err["msg"]
    typ = err.get("type", "")
    if typ == "extra_forbidden":
        msg = "unknown key"
        parent = tuple(loc[:-1])
        model = _model_at(parent, prefix)
        if model is not None:
            msg += f"; expected one of {', '.join(model.model_fields)}"
    elif typ == "missing":
        msg = "required key missing"
    elif "input" in err and typ not in ("value_error", "assertion_error"):
        msg += f", got {_short(err['input'])}"
    msg = msg.removeprefix("Value error, ")
    return UserError(lm.where(tuple(loc)), msg)


def _short(v: Any) -> str:
    if isinstance(v, int) and v.bit_length() > 64:  # repr of a huge int is slow, or over Python's digit limit
        return f"an integer of {v.bit_length()} bits"
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


_MODELS_BY_KEY = {
    "recipes": Recipe, "pricing": Pricing, "search": SearchSection, "points": PointEntry,
    "schemes": SchemeEntry, "models": ModelEntry, "accelerators": AcceleratorEntry, "accelerator": AcceleratorEntry, "source": LiteratureSource, "rows": LiteratureRow,
}


def _model_at(parent: Loc, prefix: Loc) -> type[BaseModel] | None:
    keys = [k for k in parent[len(prefix):] if isinstance(k, str)]
    if not keys:
        return SweepFile if not prefix else None
    if keys[-1] == "recipe":
        return Recipe
    return _MODELS_BY_KEY.get(keys[-1])


def validate_sweep(data: Any, lm: LineMap) -> SweepFile:
    if not isinstance(data, dict):
        raise UserError(lm.where(()), f"a sweep file is a mapping of keys, got {type(data).__name__}")
    for k in data:
        if not isinstance(k, str):
            raise UserError(lm.where(()), f"keys must be strings, got {k!r}")
    try:
        return SweepFile.model_validate(data)
    except ValidationError as e:
        raise _pydantic_error(e, lm) from None


def load_sweep(path: str | Path) -> tuple[SweepFile, LineMap]:
    data, lm = load_yaml(path)
    return validate_sweep(data, lm), lm


def load_literature(path: str | Path) -> tuple[LiteratureFile, LineMap]:
    data, lm = load_yaml(path)
    if not isinstance(data, dict):
        raise UserError(lm.where(()), "a literature file is a mapping with 'source' and 'rows'")
    src = data.get("source")
    if isinstance(src, dict) and "seed" in src:
        # 'seed' once numbered the source document; the citation names it (authors, year)
        print(f"note: {lm.where(('source', 'seed'))}: 'seed' is deprecated and ignored; "
              "name the source in 'citation' (authors, year)", file=sys.stderr)
        data = {**data, "source": {k: v for k, v in src.items() if k != "seed"}}
    try:
        return LiteratureFile.model_validate(data), lm
    except ValidationError as e:
        raise _pydantic_error(e, lm) from None
