"""Sweep file -> resolved design points, each keyed by a stable hash of its resolved config.

Combination rules
  grid   every combination of models x datasets x schemes x recipes x tech x accelerators
  zip    the i-th entries go together; an axis of length 1 is repeated (broadcast), any other
         length must equal the longest
  list   the explicit ``points``; an axis a point leaves out takes the sweep's single value
Then, whatever ``combine`` says: every row of each ``literature`` file x tech x accelerators
(accuracy from the paper, priced at paper scale), and the points of every ``include`` file
(paths relative to the including file; cycles are errors). Points with the same id are kept once.

A scheme entry's ``vary: {param: [v1, v2]}`` expands to one scheme per combination of values; an
accelerator entry's ``vary: {array.rows: [8, 16]}`` likewise, to one resolved accelerator (every field
of the accelerator schema, in ``config["hardware"]``) per combination, its overrides applied.

Each point is a typed :class:`hwsim.design.DesignPoint` (a model reference, the scheme object, the
resolved accelerator, ...), built here once. Its id is ``sha256(canonical JSON of the resolved
config)[:16]``: names resolved, defaults filled in (scheme hyper-parameters included), keys sorted.
The sweep's name and labels are not part of it, so the same point in two sweeps is evaluated once.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import accel_models as am
from hwsim.configs import CONFIG_DIR, resolve
from hwsim.design import DesignPoint, Literature, ModelRef, PointPricing, PointRecipe, config_hash, shape_json
from hwsim.errors import UserError
from hwsim.sweep.schema import (
    NO_DATASET,
    PAPER_DATASETS,
    AcceleratorEntry,
    LineMap,
    ModelEntry,
    Recipe,
    SchemeEntry,
    SweepFile,
    load_literature,
    load_sweep,
)
from hwsim.workload import parse_input_shape

if TYPE_CHECKING:
    from hwsim.jsondoc import Json, JsonDocument
    from hwsim.schemes.base import Scheme, SchemeSpec

__all__ = ["DesignPoint", "config_hash", "load_points", "expand_sweep", "grid_axes", "point_from_axes",
           "count_axis_values"]

REPO_ROOT = CONFIG_DIR.parent


@dataclass(frozen=True)
class HardwareChoice:
    """One resolved accelerator of a sweep: the name as written, the accelerator, and a label."""

    name: str
    accelerator: am.Accelerator
    label: str


def _entry_line(lm: LineMap, loc: tuple, path: str, entry: AcceleratorEntry) -> str:
    """Where an overridden accelerator field is written: ``vary: {path: ...}``, ``path: v`` or nested."""
    if path in entry.vary:
        return lm.where(loc + ("vary", path))
    if loc + (path,) in lm.lines:
        return lm.where(loc + (path,))
    parts = tuple(path.split("."))
    return lm.where(loc + parts)


# Accelerator fields that load_accelerator checks each on its own value (no rule ties two of them): a
# combination of valid values of these is valid, so each value is resolved once and a combination is the
# resolved accelerator with those fields replaced. Any other field (pe.*, sparsity.*) is resolved in every
# combination, where its rules can depend on another (a PE parameter on the PE kind).
INDEPENDENT_SECTIONS = frozenset({"clock_mhz", "description", "array", "sram", "dram", "vector_unit", "operands"})


def expand_accelerator_entry(entry: AcceleratorEntry | str, lm: LineMap | None, loc: tuple,
                             base: Path | None = None) -> list[HardwareChoice]:
    """An accelerator entry -> one resolved accelerator per combination of its ``vary`` values.

    Every combination is checked before anything runs, at the cost of resolving only each value of an
    independent field once (:data:`INDEPENDENT_SECTIONS`) and each combination of the other varied
    fields: 1 + 5 + 5 + 2 + 2 + 1 = 16 resolutions for 6 x 6 x 3 x 3 x 2 = 648 accelerators. The
    accelerators are those a full resolution of each combination gives (tests/test_sweep_expand_hw.py)."""
    from hwsim.hardware import hardware_label, read_accelerator_yaml, resolve_accelerator

    if isinstance(entry, str):
        entry = AcceleratorEntry(name=entry)
    where = lm.where(loc) if lm else "accelerator"
    path = resolve_file("accelerators", entry.name, where, base)
    data = read_accelerator_yaml(str(path), where)   # once per entry, not once per combination
    fixed = am.flatten_overrides(entry.overrides)
    keys = list(entry.vary)
    where_field = (lambda k: _entry_line(lm, loc, k, entry)) if lm else None

    def resolve(ov: dict[str, Json]) -> am.Accelerator:
        return resolve_accelerator(data, ov, where=where, where_field=where_field)

    free = [k for k in keys if k.partition(".")[0] in INDEPENDENT_SECTIONS]
    tied = [k for k in keys if k not in free]
    first = {k: entry.vary[k][0] for k in free}
    # each combination of the tied fields' values (by index), resolved with the first value of every free one
    by_tied = {idx: resolve({**fixed, **first, **{k: entry.vary[k][i] for k, i in zip(tied, idx)}})
               for idx in itertools.product(*(range(len(entry.vary[k])) for k in tied))}
    ref = _fields(next(iter(by_tied.values())))
    t0 = {k: entry.vary[k][0] for k in tied}
    # the fields each other value of a free key sets, as the full resolution of a combination would: these
    # sections set plain values (sizes, counts, names); the PE and the other nested objects are the tied
    # fields' and compare by identity
    changes: dict[tuple[str, int], dict[str, Any]] = {}
    for k in free:
        for i, v in enumerate(entry.vary[k][1:], 1):
            got = _fields(resolve({**fixed, **first, **t0, k: v}))
            changes[(k, i)] = {f: x for f, x in got.items()
                               if isinstance(x, (int, float, str, type(None))) and x != ref[f]}
    out = []
    for combo in itertools.product(*(list(enumerate(entry.vary[k])) for k in keys)):
        pick = dict(zip(keys, combo))
        hw = by_tied[tuple(pick[k][0] for k in tied)]
        upd: dict[str, Any] = {}
        for k in free:
            if pick[k][0]:
                upd.update(changes[(k, pick[k][0])])
        if upd:
            hw = dataclasses.replace(hw, **upd)
        ov = {**fixed, **{k: v for k, (_, v) in pick.items()}}
        out.append(HardwareChoice(entry.name, hw, hardware_label(entry.name, ov)))
    return out


def _fields(acc: am.Accelerator) -> dict[str, Any]:
    """An accelerator's fields, by name (shallow: nested values are the accelerator's own)."""
    return {f.name: getattr(acc, f.name) for f in dataclasses.fields(acc)}


# -- name resolution ------------------------------------------------------------------
def resolve_file(kind: str, name: str, where: str, base: Path | None = None) -> Path:
    """A technology table or accelerator of a sweep file (:func:`hwsim.configs.resolve`, paths relative
    to the sweep file's folder ``base``)."""
    return resolve(kind, name, where, base)


def dataset_shape(name: str, where: str) -> tuple[list[int], int]:
    from hwsim.data import DATASETS, load_all

    load_all()
    if name == NO_DATASET:      # costs only: the model's own input shape and classes
        return [], 0
    if name in DATASETS:
        spec = DATASETS.get(name)
        return list(spec.in_shape), int(spec.num_classes)
    if name in PAPER_DATASETS:
        shape, n = PAPER_DATASETS[name]
        return list(shape), n
    known = sorted(list(DATASETS.names()) + list(PAPER_DATASETS)) + [NO_DATASET]
    raise UserError(where, f"unknown dataset {name!r}; known: {', '.join(known)}")


def resolve_model(entry: str | ModelEntry, where: str, base: Path | None = None) -> ModelRef:
    """A model entry -> its :class:`~hwsim.design.ModelRef`; a model spec's file path is made absolute
    (relative to ``base``, the sweep file's folder) and its content hash and declared input shape are added."""
    from hwsim.models import MODELS
    from hwsim.models import spec as specs

    if isinstance(entry, str):
        entry = ModelEntry(name=entry)
    src = specs.resolve(entry.name, base=base, where=where)
    given = shape_json(parse_input_shape(entry.input, where=f"{where}.input")) if entry.input else None
    if src.kind != specs.BUILTIN:
        if src.runs_code:   # named by a file: never imported while validating (docs/reliability.md)
            from hwsim.trust import check_code_allowed

            check_code_allowed(src.label, src.path, src.module, where)
        shape = specs.default_input(src, where=where, **entry.args) if given is None and not src.runs_code else None
        return ModelRef(name=src.canonical, args=dict(sorted(entry.args.items())),
                        sha256=src.digest() if src.path is not None else None,
                        input_shape=given if given is not None else shape_json(shape) if shape is not None else None)
    spec = MODELS.get(entry.name, where=where)
    # the catalogue's declared arguments (tests/test_models.py holds them to the builder's), so naming a
    # network imports neither it nor torch
    for k in entry.args:
        if k not in spec.args:
            raise UserError(f"{where}.args.{k}", f"model {entry.name!r} takes no argument {k!r}; "
                            f"it takes {', '.join(spec.args) or 'none'}")
    if given is None and isinstance(spec.default_input, specs.Tokens):
        given = shape_json(spec.default_input)   # a language model reads tokens, not the data set's images
    return ModelRef(name=entry.name, args=dict(sorted(entry.args.items())), input_shape=given)


def model_input(model: ModelRef, shape: tuple[list[int], int], where: str) -> tuple[Any, int]:
    """(input shape as stored, classes) of a resolved model on a data set's (shape, classes); on
    ``datasets: [none]`` the model's own (a built-in's default, a spec's declared shape)."""
    from hwsim.models import spec as specs

    in_shape = model.input_shape or shape[0]
    classes = shape[1]
    if not in_shape or not classes:
        src = specs.resolve(model.name, where=where)
        if not in_shape:
            default = None if src.runs_code else specs.default_input(src, where=where, **model.args)
            if default is None:
                raise UserError(where, f"{_model_label(model.name)} declares no input shape; give it one "
                                       "(input: 3x32x32) or a data set")
            in_shape = shape_json(default)
        classes = classes or specs.default_classes(src) or 10
    return in_shape, int(classes)


@functools.cache
def _decodes(name: str, args_json: str) -> bool:
    """Whether the model is a decoder that takes a KV cache (built on meta tensors, once per network)."""
    import torch

    from hwsim.count.decode import is_decoder
    from hwsim.models import build_model
    from hwsim.models import spec as specs

    if specs.resolve(name).runs_code:   # a file's code model is not imported while validating
        return False
    try:
        with torch.device("meta"):
            return is_decoder(build_model(name, **json.loads(args_json)))
    except Exception:    # a model that does not build is reported where it is checked
        return False


def model_decodes(model: ModelRef) -> bool:
    return _decodes(model.name, json.dumps(model.args, sort_keys=True))


def resolve_scheme(spec: SchemeSpec, where: str) -> Scheme:
    """A sweep file's scheme, as written -> the typed scheme (built once; every point of it shares it)."""
    from hwsim.schemes import build_scheme

    return build_scheme(spec, where=where)


_ELEMENT = re.compile(r"^(\w+)\[(\d+)\]$")


def scheme_with(entry: SchemeEntry, values: dict[str, Json], where: str) -> Scheme:
    """The entry's scheme with ``values`` for its varied keys; ``field[i]`` sets element i of a list
    parameter (``weight_bits_by_depth[2]``: one layer group's bits, a per-layer precision search)."""
    spec: dict[str, Json] = {"name": entry.name, **copy.deepcopy(entry.params)}   # the file's, until resolved
    for k, v in values.items():
        m = _ELEMENT.match(k)
        if m is None:
            spec[k] = v
            continue
        field, i = m.group(1), int(m.group(2))
        seq = spec.get(field)
        if not isinstance(seq, list) or i >= len(seq):
            raise UserError(f"{where}.vary.{k}", f"{field} must be a list with more than {i} entries in the scheme")
        seq[i] = v
    return resolve_scheme(spec, where)


def expand_scheme_entry(entry: SchemeEntry, where: str) -> list[Scheme]:
    keys = list(entry.vary)
    return [scheme_with(entry, dict(zip(keys, combo)), where)
            for combo in itertools.product(*(entry.vary[k] for k in keys))]


def scheme_label(scheme: Scheme) -> str:
    """``graham(quantizer=L4)``: the name plus the parameters that differ from the scheme's defaults.

    A point's label is its stable key in a sweep (stores and golden figures are keyed by it); what a
    person reads is :func:`hwsim.labels.design_name`."""
    spec = scheme.spec()
    name = spec["name"]
    defaults = _scheme_defaults(type(scheme))
    diff = {k: v for k, v in spec.items() if k != "name" and defaults.get(k) != v}
    return name + ("(" + ",".join(f"{k}={v}" for k, v in sorted(diff.items())) + ")" if diff else "")


@functools.cache
def _scheme_defaults(cls: type[Scheme]) -> JsonDocument:
    """A scheme class's spec with every parameter at its default (once per class)."""
    try:
        return cls().spec()
    except Exception:   # a scheme without defaults for every parameter: every parameter is shown
        return {}


# -- expansion ------------------------------------------------------------------------
def _point(sw: SweepFile, model: ModelRef, dataset: str, shape: tuple[list[int], int], scheme: Scheme,
           recipe: Recipe | None, tech: str, accel: HardwareChoice, source: str,
           literature: Literature | None = None) -> DesignPoint:
    batch = sw.pricing.batch
    if batch is None:
        batch = (literature.batch if literature is not None else None) or (recipe.batch if recipe else 128)
    # prefill + decode only where a decoder is priced (other points keep the configs, and ids, they had)
    decodes = sw.pricing.new_tokens is not None and model_decodes(model)
    pricing = PointPricing(batch=batch, infer_batch=sw.pricing.infer_batch, hierarchy=sw.pricing.hierarchy,
                           memory=sw.pricing.memory, detail=sw.pricing.detail,
                           prompt=sw.pricing.prompt if decodes else None,
                           new_tokens=sw.pricing.new_tokens if decodes else None)
    in_shape, classes = model_input(model, shape, "model")
    margs = ",".join(f"{k}={v}" for k, v in model.args.items())
    label = f"{_model_label(model.name)}{f'({margs})' if margs else ''}/{dataset}/{scheme_label(scheme)}/{accel.label}"
    if literature is not None:
        label = f"[{literature.id}] " + label
    return DesignPoint(model=model, dataset=dataset, input_shape=parse_input_shape(in_shape, where="model"),
                       num_classes=classes, scheme=scheme,
                       recipe=PointRecipe.from_json(recipe.model_dump()) if recipe is not None and source == "train"
                       else None,
                       tech=tech, accelerator_name=accel.name, accelerator=accel.accelerator,
                       accuracy_source=source, pricing=pricing, literature=literature, sweep=sw.name, label=label)


def _model_label(name: str) -> str:
    """``/abs/path/net.py:make`` -> ``net.py:make``, ``/abs/net.onnx`` -> ``net.onnx``; names as they are."""
    head, sep, factory = name.rpartition(":")
    if sep and factory.isidentifier() and "/" in head:
        return f"{Path(head).name}:{factory}"
    return Path(name).name if "/" in name else name


def machine_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_model(model: ModelRef, shape: tuple[list[int], int], where: str, base: Path | None,
                train_batch: int | None) -> None:
    """Build the network on meta tensors before anything runs: a bad argument (``width: -1``) is the
    user's error, told with the model's message; a point that trains must fit in this machine's memory
    (weights, gradients and Adam state at 4 bytes each, plus the activations of a batch, held twice)."""
    from hwsim.models import MODELS
    from hwsim.models import spec as specs

    stored, classes = model_input(model, shape, where)
    in_shape = parse_input_shape(stored, where=where)
    src = specs.resolve(model.name, where=where)
    if src.runs_code:   # checked when its point runs, not here
        return
    if src.kind == specs.BUILTIN and not train_batch and not model.args and model.input_shape in (
            None, shape_json(MODELS.get(model.name).default_input)):
        # nothing the file says about this network to check: a built-in at its catalogue defaults builds
        # (tests/test_models.py), and building it would cost torch's import and first meta operations
        # (about 2 CPU-s) in a process that may price traces read back from the trace cache only
        return
    import torch

    from hwsim.models import build_model
    try:
        with torch.device("meta"):
            net = build_model(model.name, num_classes=classes, in_shape=in_shape, base=base, where=where,
                              **model.args)
    except UserError as e:
        if e.where.startswith(where):
            raise
        raise UserError(f"{where}.args", f"{e.where}: {e.what}") from None
    except Exception as e:   # the builder's own complaint about its arguments
        msg = " ".join(str(e).split())[:200] or type(e).__name__
        raise UserError(f"{where}.args", f"model {model.name!r} cannot be built with these arguments: {msg}") from None
    if not train_batch:
        return
    params = sum(p.numel() for p in net.parameters())
    acts = 0

    def count(_m: Any, _i: Any, out: Any) -> None:
        nonlocal acts
        if isinstance(out, torch.Tensor):
            acts += out.numel()

    leaves = [m.register_forward_hook(count) for m in net.modules() if not list(m.children())]
    try:
        if not isinstance(stored, str):
            with torch.no_grad():
                net.eval()(torch.empty((1, *in_shape), device="meta"))
    except Exception:   # the shape check proper belongs to the trace; here only the size matters
        acts = 0
    finally:
        for h in leaves:
            h.remove()
    need = 16 * params + 2 * 4 * acts * train_batch
    have = machine_memory_bytes()
    if need > have:
        raise UserError(f"{where}", f"training {model.name!r} at batch {train_batch} needs about "
                        f"{need / 2**30:,.1f} GiB ({params:,} parameters, {acts:,} activations a sample), "
                        f"more than this machine's {have / 2**30:,.1f} GiB; use costs only (accuracy: none) "
                        "or a smaller model or batch")


def _check_decode(sw: SweepFile, lm: LineMap, models: list[ModelRef]) -> None:
    """``pricing: new_tokens`` prices a decoder's prefill + decode: at least one model must be one, and a
    model with learned positions (GPT-2) must have positions for prompt + new tokens."""
    if sw.pricing.new_tokens is None or not models:
        return
    where = lm.where(("pricing", "new_tokens"))
    decoders = [m for m in models if model_decodes(m)]
    if not decoders:
        raise UserError(where, "prefill + decode prices a decoder (gpt2_small, llama2_7b, llama3_8b); "
                               "no model of this sweep is one")
    import torch

    from hwsim.count.decode import check_context, decoder_config
    from hwsim.models import build_model

    for m in decoders:
        stored, _ = model_input(m, ([], 0), where)
        prompt = sw.pricing.prompt or parse_input_shape(stored)[-1]
        with torch.device("meta"):
            cfg = decoder_config(build_model(m.name, **m.args), where)
        check_context(cfg, prompt + sw.pricing.new_tokens, where)


def _check_files(sw: SweepFile, lm: LineMap, base: Path) -> None:
    """Every referenced technology table and hierarchy is read and validated before anything runs."""
    from hwsim.energy import load_hierarchy, load_tech

    for i, t in enumerate(sw.tech):
        load_tech(resolve_file("tech", t, lm.where(("tech", i)), base))
    if sw.pricing.hierarchy is not None:
        load_hierarchy(resolve_file("hierarchy", sw.pricing.hierarchy, lm.where(("pricing", "hierarchy")), base))


def _axis_values(sw: SweepFile, lm: LineMap, base: Path) -> dict[str, list[Any]]:
    models = [resolve_model(m, lm.where(("models", i)), base) for i, m in enumerate(sw.models)]
    datasets = [(d, dataset_shape(d, lm.where(("datasets", i)))) for i, d in enumerate(sw.datasets)]
    batch = max((r.batch for r in sw.recipes), default=None) if sw.accuracy == "train" else None
    for i, m in enumerate(models):
        for d in datasets:
            check_model(m, d[1], lm.where(("models", i)), base, batch)
    _check_decode(sw, lm, models)
    schemes: list[Scheme] = []
    for i, s in enumerate(sw.schemes):
        schemes += expand_scheme_entry(s, lm.where(("schemes", i)))
    _check_files(sw, lm, base)
    accels: list[HardwareChoice] = []
    for i, a in enumerate(sw.accelerators):
        accels += expand_accelerator_entry(a, lm, ("accelerators", i), base)
    return {"models": models, "datasets": datasets, "schemes": schemes, "recipes": list(sw.recipes),
            "tech": list(sw.tech), "accelerators": accels}


def _single(sw_axis: list[Any], axis: str, lm: LineMap, where_point: tuple) -> Any:
    if len(sw_axis) != 1:
        raise UserError(lm.where(where_point), f"point leaves out {axis!r} but the sweep lists "
                        f"{len(sw_axis)} values for it; name one in the point")
    return sw_axis[0]


def _grid_points(sw: SweepFile, ax: dict[str, list], source: str) -> list[DesignPoint]:
    """combine: grid, every combination of the axes."""
    return [_point(sw, m, d, shp, s, r, t, a, source)
            for m, (d, shp), s, r, t, a in itertools.product(ax["models"], ax["datasets"], ax["schemes"],
                                                             ax["recipes"], ax["tech"], ax["accelerators"])]


def _zip_points(sw: SweepFile, ax: dict[str, list], lm: LineMap, source: str) -> list[DesignPoint]:
    """combine: zip, the i-th entries together, an axis of one entry repeated."""
    lens = {k: len(v) for k, v in ax.items()}
    n = max(lens.values())
    for k, ln in lens.items():
        if ln not in (1, n):
            raise UserError(lm.where((k,)), f"combine: zip needs every axis to have 1 or {n} entries "
                            f"(after expanding 'vary'); {k} has {ln}")
    pick = {k: (v * n if len(v) == 1 else v) for k, v in ax.items()}
    pts = []
    for i in range(n):
        d, shp = pick["datasets"][i]
        pts.append(_point(sw, pick["models"][i], d, shp, pick["schemes"][i], pick["recipes"][i],
                          pick["tech"][i], pick["accelerators"][i], source))
    return pts


def _list_points(sw: SweepFile, ax: dict[str, list], lm: LineMap, base: Path, source: str) -> list[DesignPoint]:
    """combine: list, each point naming its own fields, the rest taken from axes of one value."""
    pts = []
    for i, p in enumerate(sw.points):
        w = ("points", i)
        model = resolve_model(p.model, lm.where(w + ("model",)), base) if p.model else _single(ax["models"], "model", lm, w)
        if p.dataset:
            ds = (p.dataset, dataset_shape(p.dataset, lm.where(w + ("dataset",))))
        else:
            ds = _single(ax["datasets"], "dataset", lm, w)
        if p.scheme is not None:
            sch = resolve_scheme(p.scheme, lm.where(w + ("scheme",)))
        else:
            sch = _single(ax["schemes"], "scheme", lm, w)
        rec = p.recipe or _single(ax["recipes"], "recipe", lm, w)
        tech = p.tech or _single(ax["tech"], "tech", lm, w)
        if p.tech:
            resolve_file("tech", p.tech, lm.where(w + ("tech",)), base)
        if p.accelerator:
            accs = expand_accelerator_entry(p.accelerator, lm, w + ("accelerator",), base)
        else:
            accs = [_single(ax["accelerators"], "accelerator", lm, w)]
        pts += [_point(sw, model, ds[0], ds[1], sch, rec, tech, acc, source) for acc in accs]
    return pts


def expand_sweep(sw: SweepFile, lm: LineMap, base: Path, _seen: tuple[Path, ...] = ()) -> list[DesignPoint]:
    """All design points of a validated sweep file (names resolved; errors carry file:line)."""
    ax = _axis_values(sw, lm, base)
    source = sw.accuracy
    pts: list[DesignPoint] = []
    if sw.combine == "grid" and ax["models"]:
        pts = _grid_points(sw, ax, source)
    elif sw.combine == "zip" and ax["models"]:
        pts = _zip_points(sw, ax, lm, source)
    elif sw.combine == "list":
        pts = _list_points(sw, ax, lm, base, source)
    for i, lit in enumerate(sw.literature):
        path = _rel(lit, base, lm.where(("literature", i)))
        pts += literature_points(sw, path, ax["tech"], ax["accelerators"])
    for sub, sub_lm, path in _includes(sw, lm, base, _seen):
        pts += expand_sweep(sub, sub_lm, path.parent, _seen + (path,))
    out: dict[str, DesignPoint] = {}
    for p in pts:
        out.setdefault(p.id, p)
    return list(out.values())


def _includes(sw: SweepFile, lm: LineMap, base: Path,
              seen: tuple[Path, ...]) -> Iterator[tuple[SweepFile, LineMap, Path]]:
    """The sweep files ``sw`` includes, loaded, each with its path; a file that includes itself is an error."""
    for i, inc in enumerate(sw.include):
        path = _rel(inc, base, lm.where(("include", i)))
        if path in seen:
            raise UserError(lm.where(("include", i)), f"include cycle: {path.name} includes itself")
        sub, sub_lm = load_sweep(path)
        yield sub, sub_lm, path


def _rel(name: str, base: Path, where: str) -> Path:
    for c in (base / name, Path(name)):
        if c.is_file():
            return c.resolve()
    raise UserError(where, f"file not found: {name} (paths are relative to the sweep file)")


def literature_points(sw: SweepFile, path: Path, techs: list[str], accels: list[HardwareChoice]) -> list[DesignPoint]:
    lf, lm = load_literature(path)
    pts = []
    for i, row in enumerate(lf.rows):
        w = ("rows", i)
        model = resolve_model(row.model, lm.where(w + ("model",)), path.parent)
        shape = dataset_shape(row.dataset, lm.where(w + ("dataset",)))
        sch = resolve_scheme(row.scheme, lm.where(w + ("scheme",)))
        lit = Literature(id=row.id, table=row.table, citation=lf.source.citation, accuracy=row.acc,
                         metric=row.metric, batch=row.batch, epochs=row.epochs, note=row.note, file=path.name)
        for t, a in itertools.product(techs, accels):
            pts.append(_point(sw, model, row.dataset, shape, sch, None, t, a, "literature", lit))
    return pts


MAX_POINTS = 100_000


def _vary_count(vary: dict[str, list[Any]]) -> int:
    return math.prod(len(v) for v in vary.values())


def count_points(sw: SweepFile, lm: LineMap, base: Path, _seen: tuple[Path, ...] = ()) -> int:
    """How many points the file would expand to (before duplicates are merged), from the validated
    file alone: nothing is resolved or built, so an absurd grid is refused in microseconds."""
    schemes = sum(_vary_count(s.vary) for s in sw.schemes)
    accels = sum(_vary_count(a.vary) for a in sw.accelerators)
    axes = [len(sw.models), len(sw.datasets), schemes, len(sw.recipes), len(sw.tech), accels]
    n = 0
    if sw.combine == "grid" and sw.models:
        n = math.prod(axes)
    elif sw.combine == "zip" and sw.models:
        n = max(axes)
    elif sw.combine == "list":
        n = sum(_vary_count(p.accelerator.vary) if p.accelerator else 1 for p in sw.points)
    for i, lit in enumerate(sw.literature):
        lf, _ = load_literature(_rel(lit, base, lm.where(("literature", i))))
        n += len(lf.rows) * len(sw.tech) * accels
    for sub, sub_lm, path in _includes(sw, lm, base, _seen):
        n += count_points(sub, sub_lm, path.parent, _seen + (path,))
    return n


def count_axis_values(sw: SweepFile) -> int:
    """How many schemes and accelerators a search resolves (its axes after ``vary``), from the validated
    file alone: a search builds no grid, but each value of its axes once."""
    return sum(_vary_count(s.vary) for s in sw.schemes) + sum(_vary_count(a.vary) for a in sw.accelerators)


def load_points(path: str | Path, max_points: int = MAX_POINTS,
                trust_code: bool = False) -> tuple[SweepFile, list[DesignPoint]]:
    """Validate a sweep file and expand it; the one entry point the CLI uses. A file that would expand
    to more than ``max_points`` points is refused before anything is expanded. A model the file names
    by Python code is refused unless ``trust_code`` or the user's allow-list (:mod:`hwsim.trust`); it is
    never imported here either way."""
    from hwsim.trust import code_trust

    with code_trust(trust_code):
        return _load_points(Path(path), max_points)


def _load_points(p: Path, max_points: int) -> tuple[SweepFile, list[DesignPoint]]:
    sw, lm = load_sweep(p)
    n = count_points(sw, lm, p.resolve().parent, (p.resolve(),))
    if n > max_points:
        raise UserError(str(p), f"the sweep expands to {n:,} points, more than the limit of {max_points:,}; "
                                f"narrow it, use search:, or raise the limit with --max-points")
    pts = expand_sweep(sw, lm, p.resolve().parent, (p.resolve(),))
    if not pts:
        raise UserError(str(p), "the sweep expands to no points")
    return sw, pts


def grid_axes(sw: SweepFile, lm: LineMap, base: Path, trust_code: bool = False) -> dict[str, list[Any]]:
    """The grid's axes as lists of resolved values (search picks one index per axis)."""
    from hwsim.trust import code_trust

    with code_trust(trust_code):
        return _axis_values(sw, lm, base)


def point_from_axes(sw: SweepFile, ax: dict[str, list[Any]], idx: dict[str, int]) -> DesignPoint:
    d, shp = ax["datasets"][idx["datasets"]]
    return _point(sw, ax["models"][idx["models"]], d, shp, ax["schemes"][idx["schemes"]],
                  ax["recipes"][idx["recipes"]], ax["tech"][idx["tech"]],
                  ax["accelerators"][idx["accelerators"]], sw.accuracy)
