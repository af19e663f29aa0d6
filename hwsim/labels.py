"""Readable names of design points: one function for the CLI tables, the reports and the dashboard.

A point's name says what tells it apart: the model, the scheme with its distinguishing parameters
(``kbit W4A4``, ``twn+graham L4``, ``han 80%``) and the accelerator with the fields that vary in
this store (``tpu_like 32x32 WS 700 MHz``), then any other field of the config that varies among
the points shown together, in its own words (``cifar10``, ``lr 0.01``, ``batch 256``), seeds last
(``seed 3``). Values are written as a person reads them (:func:`hwsim.units.number`), never as a
Python ``repr`` (``compose=['twn', {'name': 'graham', ...}]``). Torch-free.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from hwsim import units

# Always part of a scheme's name: bit widths and sparsity define the variant.
ALWAYS = ("weight_bits", "act_bits", "sparsity", "quantizer")
_SKIP = ("name", "weight_bits", "act_bits", "compose", "start_epoch", "end_epoch", "seed", "vary")
# accelerator fields (config["hardware"] paths) a name may carry, in this order, with how to write them;
# any other accelerator field that varies follows them in its own words (``bits 4``)
HARDWARE_FIELDS = ("array", "dataflow", "pe.kind", "clock_mhz", "sram", "dram.bandwidth_bytes_per_cycle")
# accelerator leaves the fields above already write, or that name rather than define a design
_HW_WRITTEN = ("name", "description", "array.rows", "array.cols", "array.dataflow", "dataflow", "pe.kind",
               "clock_mhz", "dram.bandwidth_bytes_per_cycle")
# config parts named by their own rules (model, scheme, accelerator); every other field follows them
_OWN_PARTS = ("model", "scheme", "accelerator", "hardware", "literature")
# the other fields of a name, by importance: the workload's, then the recipe's, then the pricing's;
# fields of parts not listed come after these, and seeds (a replica of a design) last of all
FIELD_ORDER = ("dataset", "input_shape", "num_classes", "tech", "recipe", "pricing", "accuracy_source")
# fields written bare: their values say what they are (``cifar10``, ``45nm``)
_BARE = ("dataset", "tech")


def value_text(v: Any) -> str:
    """A parameter value as a person writes it: ``0.5``, ``L2``, ``twn+graham L4``, ``[3, 5]`` -> ``3,5``."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        return units.number(v)
    if isinstance(v, dict):
        return scheme_name(v) if "name" in v else ",".join(f"{k}={value_text(x)}" for k, x in sorted(v.items()))
    if isinstance(v, (list, tuple)):
        return "+".join(value_text(x) for x in v) if any(isinstance(x, dict) for x in v) else ",".join(
            value_text(x) for x in v)
    return "" if v is None else str(v)


def params_text(d: dict, varying: set[str] | None = None) -> list[str]:
    """A scheme's or model's distinguishing hyper-parameters, short: W4A4, L2, 80%, width=0.5.
    With ``varying``, parameters other than :data:`ALWAYS` appear only if they differ between points."""
    out: list[str] = []
    if isinstance(d.get("args"), dict):
        d = {**d["args"], **{k: v for k, v in d.items() if k != "args"}}
    wb, ab = d.get("weight_bits"), d.get("act_bits")
    if wb is not None or ab is not None:
        out.append("".join(f"{p}{v}" for p, v in (("W", wb), ("A", ab)) if v is not None))
    for k, v in d.items():
        # seeds are named with the other fields (last); epochs, compose etc. where they vary
        if k in ("name", "weight_bits", "act_bits", "compose", "seed") or (
                k in _SKIP if varying is None else k not in ALWAYS and k not in varying):
            continue
        if k == "sparsity" and isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(f"{100 * v:.0f}%")
        elif isinstance(v, str):
            out.append(v)
        elif isinstance(v, (int, float, bool)):
            out.append(f"{k}={value_text(v)}")
        elif v not in (None, [], {}):
            out.append(f"{k}={value_text(v)}")
    return out


def scheme_name(scheme: Any, varying: dict[str, set[str]] | None = None) -> str:
    """``{"name": "graham", "quantizer": "L2"}`` -> ``graham L2``; ``kbit W4A4``; ``twn+graham L4``.

    ``varying`` (scheme name -> parameters that differ in the store) keeps resolved defaults
    (``clip=1.0``) out of the name unless they tell points apart."""
    if isinstance(scheme, str):
        return scheme
    if not isinstance(scheme, dict):
        return ""
    if isinstance(scheme.get("compose"), list):
        return "+".join(scheme_name(s, varying) for s in scheme["compose"])
    name = str(scheme.get("name", "?"))
    vary = (varying or {}).get(name, set()) if varying is not None else None
    return " ".join([name, *params_text(scheme, vary)])


def model_name(model: Any) -> str:
    """``{"name": "resnet20", "args": {"width": 0.5}}`` -> ``resnet20 width=0.5``."""
    if isinstance(model, str):
        return model
    if not isinstance(model, dict):
        return ""
    return " ".join([str(model.get("name", "?")), *params_text(model)])


def varying_scheme_params(schemes: Iterable[Any]) -> dict[str, set[str]]:
    """Per scheme name, the parameters whose value differs between the given schemes."""
    seen: dict[str, dict[str, set]] = {}
    for sc in schemes:
        for one in (sc.get("compose") if isinstance(sc, dict) and isinstance(sc.get("compose"), list) else [sc]):
            if isinstance(one, dict):
                per = seen.setdefault(str(one.get("name")), {})
                for k, v in _scheme_items(one):
                    per.setdefault(k, set()).add(json.dumps(v, sort_keys=True, default=str))
    return {name: {k for k, vals in per.items() if len(vals) > 1} for name, per in seen.items()}


def _scheme_items(one: dict) -> Iterable[tuple[str, Any]]:
    """A scheme's parameters as :func:`params_text` reads them (``args`` merged in)."""
    args = one.get("args")
    return {**args, **{k: v for k, v in one.items() if k != "args"}}.items() if isinstance(args, dict) \
        else one.items()


def _hw_value(hw: dict, path: str) -> Any:
    if path == "array":
        a = hw.get("array") or {}
        return f"{a.get('rows')}x{a.get('cols')}" if a.get("rows") is not None else None
    if path == "dataflow":
        return (hw.get("array") or {}).get("dataflow") or hw.get("dataflow")
    if path == "sram":
        sram = hw.get("sram") or {}
        total = sum(float(v) for v in sram.values() if isinstance(v, (int, float)))
        return f"{units.number(total)} kB SRAM" if sram else None
    cur: Any = hw
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if path == "clock_mhz" and cur is not None:
        return f"{value_text(cur)} MHz"
    if path == "pe.kind" and cur is not None:
        return f"{cur} PE"
    if path == "dram.bandwidth_bytes_per_cycle" and cur is not None:
        return f"DRAM {value_text(cur)} B/cycle"
    if path.startswith("sram.") and cur is not None:
        return f"{path.removeprefix('sram.').removesuffix('_kb')} {value_text(cur)} kB"
    if path not in HARDWARE_FIELDS and cur is not None:   # any other field: in its own words
        return f"{_words(path.rsplit('.', 1)[-1])} {value_text(cur)}"
    return cur


def _words(key: str) -> str:
    return key.replace("_", " ")


_SCALARS = (str, int, float, bool)


def _flat(v: Any, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
    """The leaves of a config part (``recipe.lr``, ``scheme.compose.1.seed``); scalars as they are,
    anything else as its JSON text."""
    if isinstance(v, dict) and v:
        for k, x in v.items():
            key = f"{prefix}.{k}" if prefix else k
            if x is None or type(x) in _SCALARS:   # most leaves: no call
                out[key] = x
            else:
                _flat(x, key, out)
    elif isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v):
        for i, x in enumerate(v):
            _flat(x, f"{prefix}.{i}" if prefix else str(i), out)
    elif v is None or isinstance(v, (str, int, float)):
        out[prefix] = v
    else:
        out[prefix] = v if v is None or isinstance(v, (str, int, float)) else json.dumps(v, sort_keys=True)
    return out


def field_leaves(config: dict) -> dict[str, Any]:
    """The config's fields a name writes after the model, scheme and accelerator: every leaf of the
    other parts (``dataset``, ``recipe.lr``, ``pricing.batch``), and the seeds of the model and scheme."""
    out: dict[str, Any] = {}
    if not isinstance(config, dict):
        return out
    for k, v in config.items():
        if k not in _OWN_PARTS:
            _flat(v, k, out)
    for part in ("model", "scheme"):
        p = config.get(part)
        if isinstance(p, dict):
            for where in (p, p.get("args")):
                if isinstance(where, dict) and "seed" in where:
                    out[f"{part}.seed" if where is p else f"{part}.args.seed"] = where["seed"]
            if part == "scheme" and isinstance(p.get("compose"), list):
                for i, one in enumerate(p["compose"]):
                    if isinstance(one, dict) and "seed" in one:
                        out[f"scheme.compose.{i}.seed"] = one["seed"]
    return out


def _is_seed(path: str) -> bool:
    return path.rsplit(".", 1)[-1] == "seed"


def order_fields(paths: Iterable[str]) -> list[str]:
    """Fields in the order a name writes them: by :data:`FIELD_ORDER` of their part, seeds last."""
    def key(p: str) -> tuple:
        top = p.split(".", 1)[0]
        return (_is_seed(p), FIELD_ORDER.index(top) if top in FIELD_ORDER else len(FIELD_ORDER), p)
    return sorted(paths, key=key)


@functools.lru_cache(maxsize=64)
def _field_words(fields: tuple[str, ...]) -> dict[str, str]:
    return field_words(fields)


def field_words(fields: Sequence[str]) -> dict[str, str]:
    """How a name writes each field: its last key (``lr``, ``seed``); where two fields shown together
    share it (the recipe's and the pricing's ``batch``), with their part (``recipe batch``)."""
    last = [f.rsplit(".", 1)[-1] for f in fields]
    out = {}
    for f, k in zip(fields, last):
        shared = last.count(k) > 1
        out[f] = _words(f.replace(".", " ") if shared else k)
    return out


def field_text(path: str, value: Any, words: str | None = None) -> str:
    """One field as a name writes it: ``lr 0.01``, ``seed 3``, ``cifar10``, ``input 3x32x32``."""
    if type(value) is int and path not in _BARE:   # the common case (seeds, epochs, batches): no detour
        return f"{words or _words(path.rsplit('.', 1)[-1])} {value:,}" if abs(value) >= 10_000 \
            else f"{words or _words(path.rsplit('.', 1)[-1])} {value}"
    if value is None or value == "" or value != value:   # missing (NaN from a table) writes nothing
        return ""
    if path in _BARE:
        return value_text(value)
    if path == "input_shape":
        shape = json.loads(value) if isinstance(value, str) and value.startswith("[") else value
        text = "x".join(value_text(x) for x in shape) if isinstance(shape, list) else value_text(shape)
        return f"input {text}"
    if isinstance(value, str) and value.startswith(("[", "{")):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    return f"{words or _words(path.rsplit('.', 1)[-1])} {value_text(value)}"


def field_texts(path: str, values: Iterable[Any], words: str | None = None) -> list[str]:
    """:func:`field_text` of many points' values of one field (a dashboard's seeds, one per point)."""
    w = words or _words(path.rsplit(".", 1)[-1])
    done: dict[Any, str] = {}
    out = []
    bare = path in _BARE
    for v in values:
        if type(v) is float and v.is_integer():   # an integer read as a float (the column has a gap: NaN)
            v = int(v)
        if type(v) is int and not bare:   # a seed: the common case, written as units.number writes an integer
            out.append(f"{w} {v:,}" if abs(v) >= 10_000 else f"{w} {v}")
        else:
            key = v if isinstance(v, (str, float, type(None))) else repr(v)
            out.append(done[key] if key in done else done.setdefault(key, field_text(path, v, words)))
    return out


def _lookup(config: Any, path: str) -> Any:
    cur = config
    for part in path.split("."):
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur if cur is None or isinstance(cur, (str, int, float)) else json.dumps(cur, sort_keys=True)


def _named_fields(vals: dict[str, set[object]]) -> list[str]:
    """The fields a name carries, given each field's values over the points: those that vary, in
    :data:`HARDWARE_FIELDS` order; where the SRAM varies, the buffers that vary (two designs with
    128 + 512 kB and 512 + 128 kB of filter and output buffer have one total)."""
    def varies(f: str) -> bool:
        return len(vals.get(f, ())) > 1

    out: list[str] = []
    for f in HARDWARE_FIELDS:
        buffers = [b for b in vals if b.startswith("sram.") and varies(b)] if f == "sram" else []
        out += buffers or ([f] if varies(f) else [])
    return out + sorted(f for f in vals if f not in HARDWARE_FIELDS and not f.startswith("sram.") and varies(f))


def hardware_of(config: dict) -> dict:
    """The resolved accelerator of a config (``hardware``), else the accelerator written inline."""
    hw = config.get("hardware") if isinstance(config, dict) else None
    if isinstance(hw, dict):
        return hw
    acc = config.get("accelerator") if isinstance(config, dict) else None
    return acc if isinstance(acc, dict) else {}


def varying_hardware(configs: Iterable[dict]) -> list[str]:
    """The accelerator fields (:data:`HARDWARE_FIELDS`) whose value differs between the configs."""
    v = Variation()
    for c in configs:
        v.add_hardware(hardware_of(c))
    return v.hardware_fields


def accelerator_name(config: dict, fields: Iterable[str] = ()) -> str:
    """``tpu_like 32x32 WS 700 MHz``: the accelerator's name plus the ``fields`` given (those that vary)."""
    name = config.get("accelerator")
    hw = hardware_of(config)
    name = name.get("name") if isinstance(name, dict) else name
    parts = [str(name)] if isinstance(name, str) and name else []
    parts += [value_text(v) for f in fields if (v := _hw_value(hw, f)) not in (None, "")]
    return " ".join(parts)


def design_name(config: dict, scheme_vary: dict[str, set[str]] | None = None, hw_fields: Iterable[str] = (),
                sep: str = " · ", fields: Sequence[str] = ()) -> str:
    """The one readable name of a design point from its config: ``lenet300 · kbit W4A4 · tpu_like 32x32``.
    ``scheme_vary``, ``hw_fields`` and ``fields`` (a :class:`Variation`'s ``scheme_params``,
    ``hardware_fields`` and ``fields`` over the points shown together) add what tells those points
    apart: scheme parameters, accelerator fields, then any other field (``lr 0.01 · seed 3``)."""
    return _name(config, scheme_vary, list(hw_fields), sep, fields, _fresh)


def _fresh(kind: object, obj: object, write: Callable[[], str]) -> str:
    return write()


def _name(config: dict, scheme_vary: dict[str, set[str]] | None, hw_fields: list[str], sep: str,
          fields: Sequence[str], part: Callable[[object, object, Callable[[], str]], str]) -> str:
    """:func:`design_name`, each of the model's, scheme's and accelerator's texts by ``part(kind, object,
    write)`` (:class:`Namer` writes a part object it met before once)."""
    if not isinstance(config, dict):
        return ""
    words = _field_words(tuple(fields))
    model, scheme, hw, acc = config.get("model"), config.get("scheme"), config.get("hardware"), config.get("accelerator")
    parts = [part("model", model, lambda: model_name(model)),
             part("scheme", scheme, lambda: scheme_name(scheme, scheme_vary)),
             part(("accelerator", acc if isinstance(acc, str) else None), hw if isinstance(hw, dict) else acc,
                  lambda: accelerator_name(config, hw_fields)),
             *(field_text(f, _lookup(config, f), words[f]) for f in fields)]
    lit = config.get("literature")
    head = f"[{lit['id']}] " if isinstance(lit, dict) and lit.get("id") else ""
    return head + sep.join(p for p in parts if p)


class Namer:
    """:func:`design_name` of many configs with what a :class:`Variation` found varying; configs that
    share their parts' objects (a reader that parses each distinct part once) have each part written once."""

    def __init__(self, variation: Variation, sep: str = " · ") -> None:
        self.vary, self.hw, self.fields = variation.scheme_params, variation.hardware_fields, variation.fields
        self.sep = sep
        self._texts: dict[tuple[object, int], tuple[object, str]] = {}

    def _part(self, kind: object, obj: object, write: Callable[[], str]) -> str:
        if not isinstance(obj, (dict, list)):
            return write()
        key = (kind, id(obj))
        hit = self._texts.get(key)
        if hit is not None and hit[0] is obj:   # the object itself is kept, so its id is not reused
            return hit[1]
        text = write()
        self._texts[key] = (obj, text)
        return text

    def name(self, config: dict) -> str:
        return _name(config, self.vary, self.hw, self.sep, self.fields, self._part)

    def scheme(self, scheme: Any) -> str:
        """:func:`scheme_name` with what varies (the text :meth:`name` writes for the scheme)."""
        return self._part("scheme", scheme, lambda: scheme_name(scheme, self.vary))


class Variation:
    """What varies among the configs added so far (scheme parameters per scheme name, accelerator fields);
    added to one config at a time, so a reader that appends points keeps it without a second pass."""

    def __init__(self) -> None:
        self._scheme: dict[str, dict[str, set[str]]] = {}
        self._hw: dict[str, set[object]] = {f: set() for f in HARDWARE_FIELDS}   # and each SRAM buffer
        self._n_hw = 0
        # other fields: the first value seen, and which fields have shown a second (absent counts as None)
        self._first: dict[str, object] = {}
        self._varies: set[str] = set()
        self._n = 0
        self._columns: dict[str, object] = {}   # fields added as columns (add_values): their first value
        self._objects: dict[int, object] = {}   # part objects added (id -> the object)

    def _again(self, obj: object) -> bool:
        """Whether this very object was added before (a reader that parses each distinct part once hands
        the same object again): adding it again would change nothing."""
        if not isinstance(obj, dict) or not obj:
            return False
        hit = self._objects.get(id(obj))
        if hit is obj:
            return True
        self._objects[id(obj)] = obj   # kept, so its id is not reused
        return False

    def add(self, config: dict) -> None:
        sc = config.get("scheme") if isinstance(config, dict) else None
        hw = hardware_of(config)
        if not self._again(hw):
            self.add_hardware(hw)
        self.add_fields(field_leaves(config))
        if self._again(sc):
            return
        for one in (sc.get("compose") if isinstance(sc, dict) and isinstance(sc.get("compose"), list) else [sc]):
            if isinstance(one, dict):
                per = self._scheme.setdefault(str(one.get("name")), {})
                for k, v in _scheme_items(one):
                    per.setdefault(k, set()).add(v if v is None or isinstance(v, (str, int, float))
                                                 else json.dumps(v, sort_keys=True, default=str))

    def add_fields(self, leaves: dict[str, Any]) -> None:
        """The other fields of one config (:func:`field_leaves`); a field it lacks counts as None."""
        first, varies = self._first, self._varies
        for p, v in leaves.items():
            if p not in first:
                first[p] = v
                if self._n and v is not None:
                    varies.add(p)
            elif p not in varies and first[p] != v:
                varies.add(p)
        if len(first) > len(leaves):   # some field seen before is missing here
            for p in first:
                if p not in leaves and p not in varies and first[p] is not None:
                    varies.add(p)
        self._n += 1

    def add_values(self, path: str, values: Iterable[Any]) -> None:
        """Many points' values of one field at once (a dashboard reads seeds as a column)."""
        vals = set(values)
        if not vals:
            return
        first = self._columns.setdefault(path, next(iter(vals)))
        if len(vals) > 1 or first not in vals:
            self._varies.add(path)

    @property
    def fields(self) -> list[str]:
        """The other fields that vary, in the order a name writes them (:func:`order_fields`)."""
        return order_fields(self._varies)

    def add_hardware(self, hw: dict) -> None:
        flat = _flat(hw, "", {}) if hw else {}
        known, n = self._hw, self._n_hw
        # every leaf but those HARDWARE_FIELDS write: each SRAM buffer, and any other field (``pe.bits``);
        # a buffer or field one accelerator lacks counts as a value (None) of it
        for f, v in flat.items():
            if f not in _HW_WRITTEN:
                seen = known.get(f)
                if seen is None:
                    seen = known[f] = {None} if n else set()
                seen.add(v)
        for f, seen in known.items():
            if f in HARDWARE_FIELDS:   # what tells values apart, read off the leaves (no text made)
                seen.add((flat.get("array.rows"), flat.get("array.cols")) if f == "array"
                         else flat.get("array.dataflow") or flat.get("dataflow") if f == "dataflow"
                         else None if f == "sram" else flat.get(f))   # the SRAM: by its buffers
            elif f not in flat:
                seen.add(None)
        self._n_hw += 1

    @property
    def scheme_params(self) -> dict[str, set[str]]:
        return {name: {k for k, vals in per.items() if len(vals) > 1} for name, per in self._scheme.items()}

    @property
    def hardware_fields(self) -> list[str]:
        return _named_fields(self._hw)

    def key(self) -> tuple:
        """Changes exactly when a name would change: what varies, not the values seen."""
        return (sorted((n, sorted(v)) for n, v in self.scheme_params.items()), self.hardware_fields, self.fields)

    def name(self, config: dict, sep: str = " · ") -> str:
        """:func:`design_name` of ``config`` with what varies among the configs added."""
        return design_name(config, self.scheme_params, self.hardware_fields, sep, self.fields)


def design_names(configs: list[dict], sep: str = " · ") -> list[str]:
    """:func:`design_name` of each config, with what varies among exactly these configs. Configs that
    are identical (the same point twice) say so: ``... #1``, ``... #2``."""
    v = Variation()
    for c in configs:
        if isinstance(c, dict):
            v.add(c)
    vary, hw, fields = v.scheme_params, v.hardware_fields, v.fields
    return numbered([_name(c, vary, hw, sep, fields, _fresh) for c in configs])


def numbered(names: list[str]) -> list[str]:
    """Names that occur more than once get their occurrence: ``... #1``, ``... #2`` (in order)."""
    count: dict[str, int] = {}
    for n in names:
        count[n] = count.get(n, 0) + 1
    if all(c == 1 for c in count.values()):
        return names
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if count[n] > 1:
            seen[n] = seen.get(n, 0) + 1
            n = f"{n} #{seen[n]}"
        out.append(n)
    return out


def config_of(text: Any) -> dict:
    """A point's stored config (JSON text or already a dict) as a dict; ``{}`` if unreadable."""
    if isinstance(text, dict):
        return text
    try:
        cfg = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        cfg = {}
    return cfg if isinstance(cfg, dict) else {}
