"""Model specs: every way a user names a network, resolved in one place.

A spec is one of

``resnet20``                a built-in name (``hwsim models``)
``path/to/file.py:make``    a callable in a Python file, returning an ``nn.Module``
``package.module:make``     a callable in an importable module
``model.onnx``              an ONNX file, converted by onnx2torch (optional extra ``onnx``) after
                            the clean-up of :mod:`hwsim.models._onnx`
``model.pt2``               a ``torch.export`` ExportedProgram (``torch.export.save``)

A factory gets the ``args`` of the sweep file's model entry as keyword arguments, plus
``num_classes`` and ``in_shape`` when its signature names them. A relative file path is resolved
against ``base`` (the sweep file's folder; the working directory on the CLI). Its default input
shape (without the batch) is read from the file for ONNX and pt2, and from an ``input_shape``
attribute of the factory or of the module it returns otherwise.

Every mistake is a one-line :class:`hwsim.errors.UserError`. This module imports torch only when
it builds a non-built-in network.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwsim.errors import UserError
from hwsim.jsondoc import Json

BUILTIN, FILE, MODULE, ONNX, PT2 = "builtin", "file", "module", "onnx", "pt2"


class Tokens(tuple):
    """An input of integer token ids, written ``tokens:N`` (sequence length N, without the batch).

    A tuple like any input shape; the ids are drawn below the vocabulary of the model's first
    ``nn.Embedding`` (:func:`token_vocab`)."""

    def __repr__(self) -> str:
        return "tokens:" + "x".join(map(str, self))

    __str__ = __repr__


def token_vocab(net: Any, where: str = "--input") -> int:
    """The vocabulary of ``net``'s first ``nn.Embedding``: where ``tokens:N`` ids are drawn from."""
    from torch import nn

    for m in net.modules():
        if isinstance(m, (nn.Embedding, nn.EmbeddingBag)):
            return int(m.num_embeddings)
    raise UserError(where, "tokens:N feeds token ids to the model's first nn.Embedding; this model has none "
                           "(give a float shape such as 3x224x224)")


class NeedsValues(RuntimeError):
    """Building or running the network on meta tensors failed because it needs real values
    (``.item()``, ``.tolist()``, constants on the CPU): the caller builds or counts it on the CPU."""


def needs_values(e: BaseException) -> bool:
    """Whether ``e`` is a failure of meta tensors (no data, or a meta/CPU device mix), not a bug or a
    user mistake: then the same work on CPU tensors succeeds."""
    if isinstance(e, NeedsValues):
        return True
    if not isinstance(e, (RuntimeError, NotImplementedError, ValueError, TypeError, AssertionError, IndexError)):
        return False
    text = str(e).lower()
    return "meta" in text or "data-dependent" in text or "no data" in text


@dataclass(frozen=True)
class Source:
    """A resolved spec: what kind, the text as given, and (for files) the absolute path."""

    kind: str
    spec: str
    path: Path | None = None
    module: str = ""          # MODULE: the dotted module name
    factory: str = ""         # FILE / MODULE: the callable's name

    @property
    def runs_code(self) -> bool:
        """Whether building it imports and calls Python code (a file or a module's factory)."""
        return self.kind in (FILE, MODULE)

    @property
    def canonical(self) -> str:
        """The spec with its file made absolute: the same network wherever it is named from."""
        if self.kind == FILE:
            return f"{self.path}:{self.factory}"
        if self.kind in (ONNX, PT2):
            return str(self.path)
        return self.spec

    @property
    def label(self) -> str:
        """A short name for tables: ``model.py:make``, ``net.onnx``, ``pkg.mod:make``."""
        if self.kind == FILE:
            return f"{self.path.name}:{self.factory}"
        if self.kind in (ONNX, PT2):
            return self.path.name
        return self.spec

    def digest(self) -> str | None:
        """sha256 of the file (first 16 hex digits), so an edited file is a new design point."""
        if self.path is None:
            return None
        return hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]


def is_builtin(spec: str) -> bool:
    from hwsim.models import MODELS, load_all

    load_all()
    return spec in MODELS


def resolve(spec: str, base: str | Path | None = None, where: str = "model") -> Source:
    """Classify ``spec`` and check that what it names exists (no import, no torch)."""
    if not isinstance(spec, str) or not spec.strip():
        raise UserError(where, f"a model is a built-in name or a spec such as file.py:factory, got {spec!r}")
    spec = spec.strip()
    if is_builtin(spec):
        return Source(BUILTIN, spec)
    low = spec.lower()
    if low.endswith((".onnx", ".pt2")):
        return Source(ONNX if low.endswith(".onnx") else PT2, spec, _existing(spec, base, where))
    target, sep, factory = spec.rpartition(":")
    if sep and factory.isidentifier() and target:
        if target.endswith(".py") or "/" in target or "\\" in target:
            return Source(FILE, spec, _existing(target, base, where), factory=factory)
        if all(part.isidentifier() for part in target.split(".")):
            top = target.split(".")[0]
            if top in sys.stdlib_module_names:   # os:system, shutil:rmtree
                raise UserError(where, f"{spec}: a model factory comes from your own module, not from {top!r}")
            return Source(MODULE, spec, module=target, factory=factory)
    # not a spec: report it as an unknown built-in name (with "did you mean")
    from hwsim.models import MODELS

    try:
        MODELS.get(spec, where=where)
    except UserError as e:
        raise UserError(where, f"{e.what} (or a spec: file.py:factory, package.module:factory, "
                               f"model.onnx, model.pt2)") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _existing(path: str, base: str | Path | None, where: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = Path(base or Path.cwd()) / p
    if not p.is_file():
        raise UserError(where, f"model file not found: {p}")
    return p.resolve()


# -- building -----------------------------------------------------------------------------
def factory_of(src: Source, where: str = "model") -> Any:
    """The callable a FILE / MODULE spec names (importing the file or module, contained): a
    ``torch.nn.Module`` class, or a Python function defined in that file or module (not a builtin,
    not a name it imported, not from the standard library), so a spec cannot call ``os:system``."""
    from hwsim.usercode import contained

    if src.kind == FILE:
        with contained(src.label, where):
            mod = _import_file(src.path, where)
        origin = src.path.name
    else:
        try:
            with contained(src.label, where):
                mod = importlib.import_module(src.module)
        except ImportError as e:
            raise UserError(where, f"cannot import module {src.module!r}: {_short(e)}") from None
        except UserError:
            raise
        except Exception as e:   # the user's module failed while importing
            raise UserError(where, f"importing {src.module!r} failed: {type(e).__name__}: {_short(e)}") from None
        origin = src.module
    fn = getattr(mod, src.factory, None)
    if fn is None:
        names = sorted(n for n, v in vars(mod).items() if callable(v) and not n.startswith("_")
                       and getattr(v, "__module__", None) == mod.__name__)
        raise UserError(where, f"{origin} has no factory {src.factory!r}; it defines {', '.join(names) or 'none'}")
    _check_factory(fn, mod, f"{origin}:{src.factory}", where)
    return fn


def _check_factory(fn: Any, mod: Any, name: str, where: str) -> None:
    """Only an nn.Module class or a function of the user's own file/module is a factory."""
    from torch import nn

    if inspect.isclass(fn):
        if issubclass(fn, nn.Module):
            return
        raise UserError(where, f"{name} is the class {fn.__name__}, not a torch.nn.Module class")
    if mod.__name__.split(".")[0] == "torch":   # torch's own functions (torch:save) are not factories
        raise UserError(where, f"{name} is not a torch.nn.Module class; from torch only layer classes are models")
    if not inspect.isfunction(fn):
        raise UserError(where, f"{name} is a {type(fn).__name__}, not a model factory (a function or an "
                               "nn.Module class)")
    if getattr(fn, "__module__", None) != mod.__name__:
        raise UserError(where, f"{name} is defined in {fn.__module__!r}, not in {mod.__name__!r}; a factory "
                               "must be defined where the spec names it")


def _import_file(path: Path, where: str) -> Any:
    name = "hwsim_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    mtime = path.stat().st_mtime_ns
    old = sys.modules.get(name)
    if old is not None and getattr(old, "__hwsim_mtime__", None) == mtime:
        return old
    ispec = importlib.util.spec_from_file_location(name, path)
    if ispec is None or ispec.loader is None:
        raise UserError(where, f"cannot load {path} as Python")
    mod = importlib.util.module_from_spec(ispec)
    mod.__hwsim_mtime__ = mtime
    sys.modules[name] = mod
    try:
        ispec.loader.exec_module(mod)
    except Exception as e:
        sys.modules.pop(name, None)
        raise UserError(where, f"importing {path.name} failed: {type(e).__name__}: {_short(e)}") from None
    return mod


def _call_factory(src: Source, fn: Any, args: dict[str, Json], num_classes: int | None,
                  in_shape: tuple[int, ...] | None, where: str) -> Any:
    from torch import nn

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kw = dict(args)
    for k in kw:
        if params and k not in params and not takes_kwargs:
            raise UserError(f"{where}.args.{k}", f"{src.label} takes no argument {k!r}; it takes "
                            f"{', '.join(p for p in params if p not in ('num_classes', 'in_shape')) or 'none'}")
    if "num_classes" in params and num_classes is not None and "num_classes" not in kw:
        kw["num_classes"] = num_classes
    if "in_shape" in params and in_shape is not None and "in_shape" not in kw:
        kw["in_shape"] = tuple(in_shape)
    from hwsim.usercode import contained

    try:
        with contained(src.label, where):
            net = fn(**kw)
    except UserError:
        raise
    except Exception as e:
        if needs_values(e) and _default_device() == "meta":
            raise NeedsValues(f"{src.label} needs real tensors to build: {_short(e)}") from None
        raise UserError(where, f"{src.label} failed: {type(e).__name__}: {_short(e)}") from None
    if not isinstance(net, nn.Module):
        raise UserError(where, f"{src.label} returned a {type(net).__name__}, not a torch.nn.Module")
    return net


def build(spec: str | Source, *, num_classes: int | None = None, in_shape: tuple[int, ...] | None = None,
          base: str | Path | None = None, where: str = "model", **args: Json) -> Any:
    """The ``nn.Module`` a spec names (a built-in goes through its registry entry)."""
    src = spec if isinstance(spec, Source) else resolve(spec, base, where)
    if src.kind == BUILTIN:
        from hwsim.models import build_builtin

        return build_builtin(src.spec, num_classes=num_classes, in_shape=in_shape, where=where, **args)
    if src.kind in (ONNX, PT2) and args:
        raise UserError(f"{where}.args", f"{src.label} is a saved network; it takes no args")
    if src.kind == ONNX:
        return load_onnx(src.path, where)
    if src.kind == PT2:
        return load_pt2(src.path, where)
    return _call_factory(src, factory_of(src, where), args, num_classes, in_shape, where)


def default_input(spec: str | Source, base: str | Path | None = None, where: str = "model",
                  **args: Any) -> tuple[int, ...] | None:
    """The input shape (without the batch) the spec declares, or None."""
    src = spec if isinstance(spec, Source) else resolve(spec, base, where)
    if src.kind == BUILTIN:
        from hwsim.models import MODELS

        shape = MODELS.get(src.spec).default_input
        return shape if isinstance(shape, Tokens) else tuple(shape)
    if src.kind == ONNX:
        return onnx_input_shape(src.path, where)
    if src.kind == PT2:
        return getattr(load_pt2(src.path, where), "input_shape", None) or None
    fn = factory_of(src, where)
    shape = getattr(fn, "input_shape", None)
    if shape is None:
        import torch

        try:
            with torch.device("meta"):
                shape = getattr(_call_factory(src, fn, args, None, None, where), "input_shape", None)
        except NeedsValues:
            with torch.device("cpu"):
                shape = getattr(_call_factory(src, fn, args, None, None, where), "input_shape", None)
    if shape is None:
        return None
    from hwsim.workload import parse_input_shape  # the one shape parser (sizes, or tokens:N)

    return parse_input_shape(shape, where=f"{where}: input_shape")


def default_classes(spec: str | Source, base: str | Path | None = None, where: str = "model") -> int | None:
    src = spec if isinstance(spec, Source) else resolve(spec, base, where)
    if src.kind == BUILTIN:
        from hwsim.models import MODELS

        return MODELS.get(src.spec).default_classes
    return None


# -- ONNX ---------------------------------------------------------------------------------
def _onnx_modules(where: str) -> tuple[Any, Any]:
    try:
        import onnx
    except ImportError:
        raise UserError(where, "reading .onnx files needs the 'onnx' extra: pip install onnx && "
                               "pip install --no-deps onnx2torch") from None
    had_tv = "torchvision" in sys.modules
    if not had_tv and importlib.util.find_spec("torchvision") is None:
        _torchvision_stand_in()
    try:
        import onnx2torch
    except ImportError:
        raise UserError(where, "reading .onnx files needs onnx2torch: pip install --no-deps onnx2torch") from None
    finally:
        if not had_tv and isinstance(sys.modules.get("torchvision"), _StandIn):
            for k in ("torchvision", "torchvision.ops"):
                sys.modules.pop(k, None)
    return onnx, onnx2torch


class _StandIn(type(sys)):
    pass


def _torchvision_stand_in() -> None:
    """onnx2torch imports torchvision for its NonMaxSuppression and RoiAlign converters only; hwsim
    does not depend on torchvision, so those two ops fail when used instead of at import."""
    def missing(*_a: Any, **_k: Any) -> Any:
        raise UserError("model", "this ONNX model uses NonMaxSuppression/RoiAlign, which need torchvision")

    tv, ops = _StandIn("torchvision"), _StandIn("torchvision.ops")
    ops.nms = ops.box_convert = ops.roi_align = missing
    tv.ops = ops
    sys.modules["torchvision"], sys.modules["torchvision.ops"] = tv, ops


MAX_ONNX_NODES = 20_000   # far above any real network's graph; 50,000 Relus took minutes to convert


def _load_onnx_proto(path: Path, where: str) -> Any:
    from hwsim.models.pt2_safe import check_model_file

    check_model_file(path, where)
    onnx, _ = _onnx_modules(where)
    try:
        proto = onnx.load(str(path))
    except Exception as e:
        raise UserError(where, f"{path.name} is not a readable ONNX file: {_short(e)}") from None
    n = len(proto.graph.node)
    if n > MAX_ONNX_NODES:
        raise UserError(where, f"{path.name} has {n:,} graph nodes, more than the {MAX_ONNX_NODES:,} hwsim reads")
    return proto


def onnx_input_shape(path: Path, where: str = "model") -> tuple[int, ...] | None:
    """The first graph input's shape without the batch; None if a dimension is symbolic."""
    proto = _load_onnx_proto(path, where)
    inits = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    if not inputs:
        raise UserError(where, f"{path.name} declares no graph input")
    ttype = inputs[0].type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else None for d in ttype.shape.dim]
    if any(s is not None and s < 0 for s in shape) or any(s == 0 for s in shape[1:]):
        raise UserError(where, f"{path.name}: input {inputs[0].name!r} has shape {shape}; sizes must be positive")
    if len(shape) < 2 or any(s is None for s in shape[1:]):
        return None
    out = tuple(int(s) for s in shape[1:])
    onnx, _ = _onnx_modules(where)
    integer = ttype.elem_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32)
    return Tokens(out) if integer else out


def input_example(spec: str, where: str = "model") -> str:
    """An ``--input`` example for a model that declares none: token ids for an ONNX file whose first
    input is integer (its sequence length symbolic), an image shape otherwise."""
    src = resolve(spec, where=where)
    if src.kind == ONNX and src.path is not None:
        proto = _load_onnx_proto(src.path, where)
        onnx, _ = _onnx_modules(where)
        inits = {i.name for i in proto.graph.initializer}
        first = next((i for i in proto.graph.input if i.name not in inits), None)
        if first is not None and first.type.tensor_type.elem_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32):
            return "tokens:128"
    return "3x32x32"


def load_onnx(path: Path, where: str = "model") -> Any:
    """onnx2torch's GraphModule of ``path``; ops it cannot convert are named in one error."""
    proto = _load_onnx_proto(path, where)
    _, onnx2torch = _onnx_modules(where)
    from onnx2torch.node_converters.registry import get_converter

    from hwsim.models._onnx_ops import register

    register()      # ops onnx2torch does not convert (recurrent layers, opset-18 forms, ...)

    opsets = {o.domain: o.version for o in proto.opset_import}
    missing = []
    for node in proto.graph.node:
        try:
            get_converter(operation_type=node.op_type, version=opsets.get(node.domain, 1), domain=node.domain)
        except NotImplementedError:
            missing.append(f"{node.domain + '.' if node.domain else ''}{node.op_type}")
    if missing:
        ops = ", ".join(dict.fromkeys(missing))
        raise UserError(where, f"{path.name}: onnx2torch cannot convert op {ops} (opset {opsets.get('', '?')})")
    import torch

    from hwsim.models._onnx import clean_graph, fill_inputs, restore_layers

    try:
        with torch.device("cpu"):     # onnx2torch copies initializers into CPU tensors
            net = fill_inputs(restore_layers(onnx2torch.convert(clean_graph(proto))), proto, where)
    except UserError:
        raise
    except Exception as e:
        raise UserError(where, f"{path.name}: onnx2torch failed: {type(e).__name__}: {_short(e)}") from None
    shape = onnx_input_shape(path, where)
    if shape is not None:
        net.input_shape = shape
    inits = {i.name for i in proto.graph.initializer}
    first = next((i for i in proto.graph.input if i.name not in inits), None)
    dims = first.type.tensor_type.shape.dim if first is not None else []
    if len(dims) >= 2 and dims[0].HasField("dim_value") and dims[0].dim_value > 0:
        net.hwsim_export_batch = int(dims[0].dim_value)     # a batch the graph was exported at
    return net


# -- torch.export --------------------------------------------------------------------------
def load_pt2(path: Path, where: str = "model") -> Any:
    """A saved ExportedProgram as a module whose linear and convolution calls are modules again
    (so schemes can swap them and the counter attributes per layer); ``input_shape`` is set from
    the program's first user input."""
    import torch

    ep = _load_program(path, where)
    from hwsim.models._export import modules_from_export

    with torch.device("cpu"):
        net = modules_from_export(ep)
    shape = None
    for spec in ep.graph_signature.input_specs:
        if spec.kind == torch.export.graph_signature.InputKind.USER_INPUT:
            node = next((n for n in ep.graph.nodes if n.op == "placeholder" and n.name == spec.arg.name), None)
            val = node.meta.get("val") if node is not None else None
            if val is not None and len(val.shape) >= 2:
                shape = tuple(int(s) for s in val.shape[1:])
                if isinstance(val.shape[0], int):     # a batch the program was specialised to
                    net.hwsim_export_batch = int(val.shape[0])
                if not val.dtype.is_floating_point:
                    shape = Tokens(shape)
            break
    if shape is not None:
        net.input_shape = shape
    return net


# output containers whose pytree registration a saved program may need: Hugging Face's ModelOutput
# classes register themselves when their module is imported (a library module, never the file's code)
_PYTREE_MODULES = ("transformers.modeling_outputs",)


def _missing_pytree_modules() -> list[str]:
    return [m for m in _PYTREE_MODULES if m not in sys.modules
            and importlib.util.find_spec(m.partition(".")[0]) is not None]


def _load_program(path: Path, where: str) -> Any:
    """The one place a ``.pt2`` file is read: :func:`hwsim.models.pt2_safe.load_program` (no pickles,
    bounded archive, torch's log quietened) on the CPU, tried once more after importing the library
    modules (e.g. ``transformers.modeling_outputs``) whose classes the output spec names."""
    from hwsim.models.pt2_safe import load_program

    try:
        return load_program(path, where)
    except UserError:
        todo = _missing_pytree_modules()
        if not todo:
            raise
    for name in todo:
        importlib.import_module(name)
    return load_program(path, where)


# -- the shape check --------------------------------------------------------------------------
def check_input(net: Any, input_shape: tuple[int, ...], where: str = "--input", dtype: Any = None,
                high: int | None = None, batch: int = 1, device: str = "meta") -> None:
    """Run the float network once on a batch on ``device`` (a copy moved to meta for "meta"): a
    shape it rejects is the user's error, told with the model's own message (shortened)."""
    import copy
    import warnings

    import torch

    probe = net
    if device == "meta":
        try:
            with warnings.catch_warnings():   # deep-copying an exported graph warns about pytree internals
                warnings.simplefilter("ignore", FutureWarning)
                probe = copy.deepcopy(net).to("meta")
        except Exception:   # a module that cannot move to meta is checked by the real step instead
            return
    if isinstance(input_shape, Tokens):
        token_vocab(probe, where)
        x = torch.zeros((batch, *input_shape), dtype=torch.long, device=device)
    elif dtype is not None and not dtype.is_floating_point:
        x = torch.zeros((batch, *input_shape), dtype=dtype, device=device)
    else:
        x = torch.zeros((batch, *input_shape), device=device)
    try:
        with torch.no_grad():
            probe.eval()(x)
    except (RuntimeError, ValueError, TypeError, IndexError, AssertionError, NotImplementedError) as e:
        if device == "meta" and needs_values(e):   # it needs values (.item(), data-dependent shapes): not a shape fault
            return
        shape = str(input_shape) if isinstance(input_shape, Tokens) else "x".join(map(str, input_shape))
        fixed = getattr(net, "hwsim_export_batch", None)
        hint = f" (the exported model was traced at batch {fixed}; export with a dynamic batch " \
               "dimension to price others)" if fixed is not None and fixed != batch else ""
        raise UserError(where, f"the model rejects input {shape} at batch {batch}: {_short(e)}{hint}") from None


def _default_device() -> str:
    import torch

    return torch.get_default_device().type


def _short(e: BaseException, limit: int = 160) -> str:
    lines = [s.strip() for s in str(e).splitlines() if s.strip()]
    text = lines[0] if lines else type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
