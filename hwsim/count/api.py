"""``trace()``: count one training step (or one inference pass) of a model under a scheme.

The same code runs on real tensors (``device="cpu"``: real sparsity, real stash buffers) and
on meta tensors (``device="meta"``: shapes only, paper-scale networks in a second).
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections import Counter
from typing import Any

import torch
from torch import nn

from hwsim.count.mode import (
    LOSS,
    OPTIMIZER,
    CountingMode,
    KernelAttention,
    LayerTally,
    is_weight_layer,
    layer_precision,
)
from hwsim.count.stash import StashMeter, storage_key
from hwsim.count.traffic import per_epoch, state_bytes, update_traffic
from hwsim.errors import UserError
from hwsim.formats import (
    BACKWARD_DATA,
    BACKWARD_WEIGHT,
    FORWARD,
    INFERENCE,
    PHASES,
    UPDATE,
    Format,
    NormPrecision,
    bytes_for,
)
from hwsim.formats import BINARY as _ONE_BIT
from hwsim.models.spec import Tokens, token_vocab
from hwsim.trace import (
    LayerInfo,
    LayerRecord,
    StepCounts,
    Trace,
    TraceMeta,
    WeightStorage,
    summary,  # noqa: F401  (hwsim.count.summary: a trace's totals, torch-free)
)
from hwsim.workload import OPTIMIZERS, parse_input_shape  # noqa: F401  (the one vocabulary and parser)

# zero fractions kept per layer: GEMM operand role -> sparsity key
_SPARSITY_KEYS = {"forward:weight": "weight", "forward:input": "input", "backward_data:grad_output": "grad_output",
                  "backward_weight:grad_output": "grad_output", "backward_weight:stash": "stash"}


def _import_quant() -> None:
    """Import the quantizer modules before any ``torch.device("meta")`` block: module-level
    tensors (level tables) created inside one would land on meta."""
    import importlib
    import pkgutil

    import hwsim.quant as pkg

    for m in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"hwsim.quant.{m.name}")


def _named_model(model: str, sch: Any, input_shape: Any, num_classes: int, batch: int):
    """-> (make, check, model name, input shape) of a model given by name or spec (built-in,
    ``file.py:factory``, ``pkg.mod:factory``, ``.onnx``, ``.pt2``)."""
    from hwsim.models import build_model
    from hwsim.models import spec as specs

    src = specs.resolve(model, where="model")
    builtin = src.kind == specs.BUILTIN
    model_name = model if builtin else src.label
    given = bool(input_shape)
    input_shape = _shape(input_shape or specs.default_input(src) or ())
    if not input_shape:
        raise UserError("input_shape", f"{src.label} declares no input shape; give one "
                                       f"(e.g. --input {specs.input_example(model)})")

    def build(dev: str) -> nn.Module:
        with torch.device(dev):
            if builtin:
                return build_model(model, num_classes=num_classes,
                                   in_shape=input_shape[-3:] if len(input_shape) >= 3 else input_shape)
            return specs.build(src, num_classes=num_classes, in_shape=input_shape)

    def make(dev: str) -> nn.Module:
        net = build(dev)
        if sch is None:
            return net
        with torch.device(dev):
            return sch.convert(net)

    def check(dev: str) -> int | None:
        net = build(dev)
        specs.check_input(net, input_shape, where="input_shape", batch=batch, device=dev)
        return getattr(net, "hwsim_export_batch", None)

    # a built-in at its own shape: a failure is a bug, not the user's
    return make, (None if builtin and not given else check), model_name, input_shape


def _module_model(model: Any, sch: Any, input_shape: Any, model_name: str | None, convert: bool, batch: int):
    """-> (make, check, model name, input shape) of an ``nn.Module`` given in-process."""
    if not isinstance(model, nn.Module):
        raise UserError("model", f"expected a model name or an nn.Module, got {type(model).__name__}")
    if input_shape is None:
        raise UserError("input_shape", "give the input shape (C, H, W) when tracing a module")
    from hwsim.models.spec import check_input

    fixed = getattr(model, "hwsim_export_batch", None)

    def check(dev: str) -> int | None:
        probe = model if dev == "meta" else copy.deepcopy(model)
        if fixed is not None:       # a GraphModule's deepcopy drops the attributes set on it
            probe.hwsim_export_batch = fixed
        check_input(probe, _shape(input_shape), where="input_shape", batch=batch, device=dev)
        return fixed

    def make(dev: str) -> nn.Module:
        net = copy.deepcopy(model)
        if sch is not None and convert:
            if dev == "meta":
                with torch.device("meta"):
                    net = sch.convert(net.to("meta"))
            else:
                net = sch.convert(net)
        return net

    return make, check, model_name or type(model).__name__, input_shape


def _resolve_model(model: Any, scheme: Any, device: str, input_shape, num_classes, model_name, convert=True,
                   batch: int = 1):
    """-> (net on device, scheme instance or None, model name, input shape, notes, check): ``check(dev)``
    runs the float model alone on ``dev`` once the count's own pass has failed, turning an input the
    model rejects into the user's one-line error, and returns the batch an exported model was traced
    at (None if free; ``check`` is None where no such check applies)."""
    from hwsim.schemes import build_scheme

    sch = build_scheme(scheme) if scheme is not None else None
    _import_quant()
    notes: list[str] = []
    if isinstance(model, str):
        make, check, model_name, input_shape = _named_model(model, sch, input_shape, num_classes, batch)
    else:
        make, check, model_name, input_shape = _module_model(model, sch, input_shape, model_name, convert, batch)

    if device == "meta":
        try:
            net = move_to(make("meta"), "meta")
        except (RuntimeError, NotImplementedError, TypeError) as e:
            # a scheme whose conversion needs values (e.g. a scale from the weights) converts on CPU
            notes.append(f"converted on cpu, then moved to meta ({type(e).__name__}: {str(e)[:120]})")
            net = move_to(make("cpu"), "meta")
    else:
        net = move_to(make("cpu"), device)
    return net, sch, model_name, _shape(input_shape), notes, check


def move_to(net: nn.Module, device: str) -> nn.Module:
    """``net.to(device)`` keeping shared tensors shared: ``Module.to`` across devices gives each module
    its own copy of a Parameter two modules hold (GPT-2's head tied to its token embedding, a layer
    rebuilt from an exported graph holding its holder's weight), which would count it twice."""
    memo: dict[int, Any] = {}

    def moved(t: Any, param: bool) -> Any:
        if t is None or t.device.type == torch.device(device).type:
            return t
        new = memo.get(id(t))
        if new is None:
            data = t.detach().to(device)
            new = nn.Parameter(data, requires_grad=t.requires_grad) if param else data
            if param:
                new.__dict__.update(t.__dict__)
            memo[id(t)] = new
        return new

    for m in net.modules():
        for k, p in list(m._parameters.items()):
            m._parameters[k] = moved(p, True)
        for k, b in list(m._buffers.items()):
            m._buffers[k] = moved(b, False)
    return net


def _shape(shape: Any) -> tuple[int, ...]:
    """A tuple, keeping the token-input marker."""
    from hwsim.models.spec import Tokens

    return shape if isinstance(shape, Tokens) else tuple(shape)


def model_output(out: Any) -> torch.Tensor:
    """The tensor a training loss is taken of: the output itself; of a mapping (a dict, a Hugging Face
    ``ModelOutput``) its ``logits``, else its ``last_hidden_state``, else its first tensor; of a tuple
    or list its first tensor (searched depth first)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict) or (hasattr(out, "keys") and hasattr(out, "__getitem__")):
        for key in ("logits", "last_hidden_state"):
            if key in out.keys() and isinstance(out[key], torch.Tensor):
                return out[key]
        values = [out[k] for k in out.keys()]
    elif isinstance(out, (tuple, list)):
        values = list(out)
    else:
        values = []
    for v in values:
        try:
            return model_output(v)
        except UserError:
            continue
    raise UserError("model", f"the model returned a {type(out).__name__} with no tensor in it; a training step "
                             "needs a tensor output (or a tuple, dict or ModelOutput holding one)")


def _loss(out: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """Cross-entropy for a classifier's (N, classes) output; the mean square of any other output."""
    if out.dim() == 2 and y is not None:
        return nn.functional.cross_entropy(out, y)
    return out.float().square().mean()


def _module_op(m: nn.Module | None, lt: LayerTally) -> str:
    if lt.op:
        return lt.op
    if lt.name == LOSS:
        return "loss"
    if lt.name == OPTIMIZER:
        return "optimizer"
    if isinstance(m, nn.modules.batchnorm._NormBase) or hasattr(m, "hwsim_norm_precision"):
        return "batchnorm"
    if isinstance(m, nn.ReLU):
        return "relu"
    if isinstance(m, (nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.ELU)):
        return "activation"
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.MaxPool1d)):
        return "pool"
    ew: Counter = Counter()
    for ph, c in lt.elementwise.items():
        if ph != UPDATE:
            ew.update(c)
    return ew.most_common(1)[0][0] if ew else "none"


def _norm_precision(m: nn.Module | None) -> NormPrecision | None:
    p = getattr(m, "hwsim_norm_precision", None)
    return p if isinstance(p, NormPrecision) else None


def _stash_bits(cm: CountingMode):
    def bits(owner: str) -> int | None:
        lt = cm.layers.get(owner)
        if lt is None:
            return None
        if lt.is_weight:
            return lt.precision.stash.bits
        npr = _norm_precision(lt.module)
        return npr.stash.bits if npr else None
    return bits


def trace(model: Any, scheme: Any = None, *, batch: int = 1, input_shape: Any = None,
          num_classes: int | None = None, mode: str = "train", device: str = "meta",
          data: tuple[torch.Tensor, torch.Tensor] | None = None, optimizer: str = "sgd_momentum",
          model_name: str | None = None, steps_per_epoch: int = 0, convert: bool = True,
          fallback: bool = True) -> Trace:
    """Count one training step (``mode="train"``: forward, backward_data, backward_weight, update)
    or one inference pass (``mode="infer"``) of ``model`` under ``scheme``.

    ``device="meta"`` prices shapes without data; ``"cpu"`` runs a real step on ``data`` (x, y)
    or on random data, measuring operand sparsity (effectual MACs) and the real stash buffers.
    ``convert=False``: ``model`` is already converted by ``scheme`` (the scheme still names the
    trace and its ``on_step_end`` runs in the update phase).
    ``fallback``: a network that cannot run on meta tensors (it reads values: ``.item()``,
    ``.tolist()``, constants baked on the CPU) is counted on a real CPU step instead, with a note;
    the figures are the same, and sparsity is then measured.
    """
    kw = dict(batch=batch, input_shape=input_shape, num_classes=num_classes, mode=mode, data=data,
              optimizer=optimizer, model_name=model_name, steps_per_epoch=steps_per_epoch, convert=convert)
    if str(device) != "meta" or not fallback or _is_builtin(model):    # built-ins are written for meta
        return _trace(model, scheme, device=str(device), **kw)
    try:
        return _trace(model, scheme, device="meta", **kw)
    except Exception as e:
        from hwsim.models.spec import _short, needs_values

        if not needs_values(e):
            raise
        why = _short(e, 120)
    tr = _trace(model, scheme, device="cpu", **kw)
    tr.meta = tr.meta.with_note(f"counted on cpu: the model does not run on meta tensors ({why})")
    return tr


def _is_builtin(model: Any) -> bool:
    if not isinstance(model, str):
        return False
    from hwsim.models.spec import is_builtin

    return is_builtin(model.strip())


def _trace(model: Any, scheme: Any, *, batch: int, input_shape: Any, num_classes: int | None, mode: str,
           device: str, data: Any, optimizer: str, model_name: str | None, steps_per_epoch: int,
           convert: bool) -> Trace:
    t0 = time.perf_counter()
    _check_args(mode, optimizer, batch)
    dev = str(device)
    if data is not None:
        batch = int(data[0].shape[0])
        input_shape = input_shape or tuple(data[0].shape[1:])
    input_shape = parse_input_shape(input_shape, where="input_shape")
    net, sch, model_name, input_shape, notes, check = _resolve_model(model, scheme, dev, input_shape, num_classes,
                                                                     model_name, convert, batch)
    from hwsim.quant.layers import changed_modules

    changed = changed_modules(net)
    if mode == "infer" and sch is not None:
        net = sch.for_inference(net)
    gen = None if dev == "meta" else torch.Generator(device=dev).manual_seed(0)
    x, y = _make_input(net, input_shape, batch, dev, data, gen)
    probe = dev != "meta"
    cm = CountingMode(net, probe=probe)
    meter = StashMeter(cm.current, exclude={storage_key(p) for p in [*net.parameters(), *net.buffers()]})
    opt, loss_value, failure = None, None, None
    cm.attach()
    try:
        with KernelAttention() if dev == "meta" else contextlib.nullcontext():
            if mode == "train":
                opt, loss_value = _run_train(cm, meter, net, sch, x, y, optimizer, num_classes, gen, notes)
            else:
                _run_infer(cm, net, x)
    except Exception as e:  # noqa: BLE001 - told apart below, then raised again
        failure = e
    finally:
        cm.detach()
    if failure is not None:
        from hwsim.models.spec import needs_values

        # no separate forward runs before the count: only when it fails is the float model run alone,
        # so that an input the model itself rejects is one line naming it
        if check is not None and not isinstance(failure, UserError) and not needs_values(failure):
            fixed = check(dev)
            if fixed is not None:       # the float model runs; the scheme runs it at another batch (an ensemble)
                from hwsim.models.spec import _short

                raise UserError("model", f"the exported model was traced at batch {fixed} and the scheme runs it "
                                         f"at another ({_short(failure)}); export with a dynamic batch dimension")
        raise failure
    memory = None
    if opt is not None:
        memory = _update_traffic(cm, net, opt, sch.optimizer_state_formats() if sch is not None else {})
    stash_bytes, stash_fp32 = _stash_traffic(cm, meter)
    seen = _weight_inputs(cm)
    wi_values = sum(n for n, _ in seen.values())

    tr = Trace(model=model_name or "model", scheme=(sch.name if sch is not None else "fp32"), batch=batch,
               input_shape=list(input_shape), mode=mode, steps_per_epoch=int(steps_per_epoch))
    stored = _records(tr, cm)
    tr.stash_bytes = int(stash_bytes)
    tr.stash_bytes_fp32 = int(stash_fp32)
    tr.param_count = int(sum(p.numel() for p in net.parameters()))
    tr.model_size_bytes = _model_size(net)
    tr.meta = TraceMeta(
        device=dev, notes=tuple(notes), unsupported_ops=dict(cm.unsupported),
        input=str(input_shape) if isinstance(input_shape, Tokens) else "x".join(map(str, input_shape)),
        seconds=round(time.perf_counter() - t0, 4),
        phases=tuple(p for p in PHASES if any(r.phase == p for r in tr.records)),
        step=StepCounts(
            optimizer=optimizer if mode == "train" else None, weight_storage=stored,
            stays_float={n: str(m.hwsim_stays_float) for n, m in net.named_modules()
                         if getattr(m, "hwsim_stays_float", None)},
            weight_input_values=int(wi_values), train_state_bytes=memory,
            weight_input_values_per_sample=int(wi_values // batch),
            weight_input_bytes_fp32=int(wi_values * 4),
            weight_input_bytes_1bit=int(bytes_for(wi_values, _ONE_BIT)),
            weight_input_stash_bytes=int(sum(bytes_for(n, f) for n, f in seen.values())),
            sparsity_source="measured on this step" if probe else "none (meta tensors: effectual = issued)",
            loss=loss_value, scheme_changes=len(changed),
            scheme_noop=bool(sch is not None and sch.name != "fp32" and not changed)),
        per_epoch=per_epoch(tr.totals(), int(steps_per_epoch)) if steps_per_epoch else None)
    return tr


# -- the phases of trace() -----------------------------------------------------------


def _check_args(mode: str, optimizer: str, batch: Any) -> None:
    if mode not in ("train", "infer"):
        raise UserError("mode", f"expected 'train' or 'infer', got {mode!r}")
    if optimizer not in OPTIMIZERS:
        raise UserError("optimizer", f"unknown optimizer {optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
    if not isinstance(batch, int) or batch < 1:
        raise UserError("batch", f"batch must be a positive integer, got {batch!r}")


def _make_input(net: nn.Module, input_shape: Any, batch: int, dev: str, data: Any, gen: Any):
    """(x, y): the given data, token ids below the first embedding's vocabulary, or random values."""
    if data is not None:
        return data[0].to(dev), (data[1].to(dev) if data[1] is not None else None)
    if isinstance(input_shape, Tokens):
        vocab = token_vocab(net, where="input_shape")
        if dev == "meta":
            return torch.zeros((batch, *input_shape), dtype=torch.long, device=dev), None
        return torch.randint(0, vocab, (batch, *input_shape), device=dev, generator=gen), None
    return torch.randn((batch, *input_shape), device=dev, generator=gen), None


def _run_train(cm: CountingMode, meter: StashMeter, net: nn.Module, sch: Any, x: torch.Tensor, y: Any,
               optimizer: str, num_classes: int | None, gen: Any, notes: list[str]):
    """Forward (stash measured), backward, optimizer step and the scheme's step end, under ``cm``."""
    dev = str(x.device)
    batch = int(x.shape[0])
    net.train()
    opt = OPTIMIZERS[optimizer].build(net.parameters())
    opt.zero_grad(set_to_none=True)
    loss_value = None
    with cm:
        cm.phase = FORWARD
        with meter:
            out = model_output(net(x))
            if y is None and out.dim() == 2:
                k = num_classes or int(out.shape[-1])
                y = torch.randint(0, k, (batch,), device=dev, generator=gen) if dev != "meta" else \
                    torch.zeros(batch, dtype=torch.long, device=dev)
            loss = _loss(out, y)
        if cm.probe:
            loss_value = float(loss.detach())
        cm.stash_keys = {k[0] for k in meter.saved}
        cm.phase = "backward"
        loss.backward()
        del loss, out
        cm.phase = UPDATE
        cm.own_parameters(opt)
        opt.step()
        if sch is not None:
            try:
                sch.on_optimizer_step(opt)
                sch.on_step_end(net, 0)
            except (RuntimeError, NotImplementedError) as e:
                if dev != "meta":
                    raise
                notes.append(f"on_step_end skipped on meta ({type(e).__name__})")
    return opt, loss_value


def _run_infer(cm: CountingMode, net: nn.Module, x: Any, **kwargs: Any) -> Any:
    net.eval()
    with torch.no_grad(), cm:
        cm.phase = INFERENCE
        return net(x, **kwargs)


def _update_traffic(cm: CountingMode, net: nn.Module, opt: torch.optim.Optimizer,
                    state_formats: dict[str, Format]) -> dict[str, int]:
    """Update-phase traffic from the parameters and the optimizer state they now have (its
    per-element states at the scheme's formats); -> the bytes kept between steps, each parameter
    once: master weights, weight gradients (both at the layer's master width for its weight, fp32
    otherwise) and optimizer state."""
    memory = {"weight_master": 0, "grad_weight": 0, "optimizer_state": 0}
    seen: set[int] = set()
    for mname, m in net.named_modules():
        own = list(m.parameters(recurse=False))
        if not own:
            continue
        lt = cm.layer(mname or "model")
        for p in own:
            st = opt.state.get(p, {})
            states = {k: (v.numel(), v.element_size()) for k, v in st.items() if isinstance(v, torch.Tensor)}
            sb = state_bytes(states, p.numel(), state_formats)
            is_w = lt.is_weight and p is getattr(m, "weight", None)
            tr = update_traffic(p.numel(), lt.precision, sb, is_w)
            lt._c(lt.traffic, UPDATE).update(tr)
            if id(p) not in seen:
                seen.add(id(p))
                memory["weight_master"] += tr["weight_master"] // 2
                memory["grad_weight"] += tr["grad_weight"]
                memory["optimizer_state"] += sb
    return memory


def _stash_traffic(cm: CountingMode, meter: StashMeter) -> tuple[int, int]:
    """Stash writes/reads per layer; -> (stash bytes, the same buffers at 32 bits)."""
    for owner, nbytes in meter.by_layer(lambda n: n in cm.layers and cm.layers[n].is_weight).items():
        lt = cm.layer(owner)
        lt._c(lt.traffic, FORWARD)["stash_write"] += nbytes
        lt._c(lt.traffic, BACKWARD_WEIGHT if lt.is_weight else BACKWARD_DATA)["stash_read"] += nbytes
    total, fp32 = meter.total_bytes, meter.fp32_bytes(_stash_bits(cm))
    meter.release()
    return total, fp32


def _weight_inputs(cm: CountingMode) -> dict[Any, tuple[int, Any]]:
    """The inputs of the weight layers (McDonnell's figure), each once, with the stash width its layer declares."""
    seen: dict[Any, tuple[int, Any]] = {}
    for lt in cm.layers.values():
        if lt.is_weight and lt.input_key is not None and lt.input_key not in seen:
            seen[lt.input_key] = (lt.input_numel, lt.precision.stash)
    for lt in cm.layers.values():
        lt.input_ref = lt.weight_ref = None
    return seen


def _records(tr: Trace, cm: CountingMode) -> dict[str, WeightStorage]:
    """Layers and per-phase records into ``tr``; -> the pruned layers stored in a sparse format."""
    depth = 0
    order = [FORWARD, BACKWARD_DATA, BACKWARD_WEIGHT, UPDATE, INFERENCE]
    stored: dict[str, WeightStorage] = {}
    for lt in sorted(cm.layers.values(), key=lambda t: t.order):
        m = lt.module
        nparams = sum(p.numel() for p in m.parameters(recurse=False)) if m is not None else 0
        prec: dict[str, str] = {}
        d = -1
        if lt.is_weight:
            prec = lt.precision.to_dict()
            d, depth = depth, depth + 1
        elif (npr := _norm_precision(m)) is not None:
            prec = {"stash": str(npr.stash), "grad": str(npr.grad)}
        tr.layers.append(LayerInfo(name=lt.name, op=_module_op(m, lt), shape=dict(lt.shape), precision=prec,
                                   params=int(nparams), depth=d,
                                   stays_float=str(getattr(m, "hwsim_stays_float", "") or "")))
        ratio = _storage_ratio(m, lt, stored) if lt.is_weight else None
        for ph in order:
            if ph not in lt.macs and ph not in lt.elementwise and ph not in lt.traffic:
                continue
            if ratio is not None and lt.traffic.get(ph, {}).get("weight"):
                lt.traffic[ph]["weight"] = int(round(lt.traffic[ph]["weight"] * ratio))
            tr.records.append(LayerRecord(
                layer=lt.name, phase=ph,
                macs={k: int(v) for k, v in lt.macs.get(ph, {}).items()},
                effectual_macs={k: int(v) for k, v in lt.effectual.get(ph, {}).items()},
                elementwise={k: int(v) for k, v in lt.elementwise.get(ph, {}).items()},
                traffic_bytes={k: int(v) for k, v in lt.traffic.get(ph, {}).items()}))
        if lt.zero_frac:
            sp: dict[str, list[float]] = {}
            for role_key, vals in lt.zero_frac.items():
                key = _SPARSITY_KEYS.get(role_key)
                if key:
                    sp.setdefault(key, []).extend(vals)
            tr.sparsity[lt.name] = {k: sum(v) / len(v) for k, v in sp.items()}
    return stored


def _model_size(net: nn.Module) -> int:
    """Deployed bytes: weights at their deployed width (or sparse storage), other parameters at fp32."""
    size = 0
    seen: set[int] = set()      # a tied weight (GPT-2's head is its token embedding) is stored once
    for m in net.modules():
        w = getattr(m, "weight", None)
        for p in m.parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            if is_weight_layer(m) and p is w:
                sparse = _stored_bytes(m)
                size += bytes_for(p.numel(), layer_precision(m).deployed_weight) if sparse is None else sparse
            else:
                size += p.numel() * 4
    return int(size)


def _stored_bytes(m: Any) -> int | None:
    """A pruned layer's weight bytes in its storage format (hwsim.schemes.pruning), else None."""
    if m is None or getattr(m, "hwsim_weight_storage", None) is None:
        return None
    from hwsim.quant.prune import stored_weight_bytes

    return stored_weight_bytes(m)


def _storage_ratio(m: Any, lt: LayerTally, stored: dict[str, WeightStorage]) -> float | None:
    """Stored / dense weight bytes of a layer kept in a sparse format (its weight reads scale by it)."""
    sparse = _stored_bytes(m)
    if sparse is None:
        return None
    dense = bytes_for(m.weight.numel(), lt.precision.weight)
    spec = m.hwsim_weight_storage
    stored[lt.name] = WeightStorage(storage=spec.storage, codebook_bits=spec.codebook_bits, huffman=spec.huffman,
                                    bytes=int(sparse), dense_bytes=int(dense), density=_density(m),
                                    nm=list(getattr(m, "hwsim_prune_nm", None) or []) or None)
    return sparse / dense if dense else None


def _density(m: Any) -> float:
    w = m.weight
    if w.device.type == "meta":
        return 1.0 - float(getattr(m, "hwsim_prune_target", 0.0))
    return float((w != 0).float().mean())
