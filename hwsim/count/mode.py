"""The counting dispatch mode: every aten op of a real (or meta) step, priced and attributed to a layer.

Attribution follows the model's execution, as ``torch.utils.module_tracker`` does:
  forward   forward pre/post hooks keep a stack of running modules; an op belongs to the
            innermost one.
  backward  each module's forward post-hook walks the autograd nodes it created (from its
            outputs back to its inputs' producers) and tags the untagged ones with its name
            (inner modules run their post-hook first, so a node belongs to the innermost
            module); a pre-hook on each tagged node names the layer right before the node
            runs. Ops of untagged nodes (the loss) go to ``loss``.
  update    the optimizer's ops are attributed by tensor identity: parameters and their
            gradients belong to their layer, and so does every result computed from them.

A weight layer (Conv/Linear or anything carrying ``hwsim_precision``) prices its GEMMs at
``prec.mac_type(phase)``; the phase of a backward GEMM comes from the formula
(``convolution_backward``'s output mask; for ``mm`` whether it reads the layer's weight).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from hwsim.count import formulas as F
from hwsim.count import meta_outputs
from hwsim.count.stash import storage_key
from hwsim.count.traffic import elementwise_traffic, gemm_traffic
from hwsim.formats import FULL_PRECISION, INFERENCE, LayerPrecision
from hwsim.quant.stash import WEIGHT_ROLE
from hwsim.trace import CONV_DIMS

aten = torch.ops.aten

_WEIGHT_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)
# layer/RMS norms: whatever ops they decompose into (pow, mean, rsqrt, mul) are one "norm" kernel
_NORMS = (nn.LayerNorm, nn.RMSNorm)
_SKIP = {
    aten.sym_is_contiguous.default if hasattr(aten, "sym_is_contiguous") else None,
    aten.is_contiguous.default, aten.is_contiguous.memory_format, aten.is_strides_like_format.default,
    aten.is_non_overlapping_and_dense.default, aten.size.default, aten.sym_size.default, aten.stride.default,
    aten.sym_stride.default, aten.storage_offset.default, aten.sym_storage_offset.default, aten.numel.default,
    aten.sym_numel.default, aten.dim.default, torch.ops.prim.layout.default,
}

LOSS = "loss"
OPTIMIZER = "optimizer"




def conv_nd_shape(x: torch.Tensor, w: torch.Tensor, out: torch.Tensor, stride: Any, padding: Any,
                  transposed: bool, groups: int) -> tuple[str, dict[str, int]]:
    """(op, shape) of a Conv1d/Conv3d or a transposed convolution of any rank: ``convtranspose2d`` etc.

    K is the output channels: a transposed convolution's weight is (C, K / groups, kernel), so its
    dim 0 is the input channels."""
    nd = x.dim() - 2
    ins, outs, ks = CONV_DIMS[nd]
    k_out = int(w.shape[1]) * int(groups) if transposed else int(w.shape[0])
    shape = {"N": int(x.shape[0]), "C": int(x.shape[1]), "K": k_out, "groups": int(groups),
             "stride": int(stride[0]), "padding": int(padding[0])}
    shape.update({n: int(v) for n, v in zip(ins, x.shape[2:])})
    shape.update({n: int(v) for n, v in zip(outs, out.shape[2:])})
    shape.update({n: int(v) for n, v in zip(ks, w.shape[2:])})
    return ("convtranspose" if transposed else "conv") + f"{nd}d", shape


def is_weight_layer(m: nn.Module) -> bool:
    return isinstance(m, _WEIGHT_TYPES) or hasattr(m, "hwsim_precision")


def is_quantizer(name: str, m: nn.Module) -> bool:
    """A module that only quantizes: named ``*quantizer`` or defined in :mod:`hwsim.quant`, not a
    weight layer, a norm or an activation module."""
    if is_weight_layer(m) or isinstance(m, (nn.modules.batchnorm._NormBase, nn.ReLU)):
        return False
    return name.endswith("quantizer") or type(m).__module__.startswith("hwsim.quant.layers")


def is_fused(m: nn.Module | None) -> bool:
    """A scheme's own module run as one kernel (class attribute ``hwsim_fused``): Graham's
    batch-norm, the stash-keeping batch-norm, ReLU and pools of :mod:`hwsim.quant`."""
    return m is not None and bool(getattr(type(m), "hwsim_fused", False))


def _is_quantized_layer(m: nn.Module | None) -> bool:
    """A QConv2d/QLinear: every element-wise op it issues itself (quantizers run as submodules,
    stash packing inside its autograd function) is quantization work."""
    return m is not None and is_weight_layer(m) and type(m).__module__.startswith("hwsim.quant")


def layer_precision(m: nn.Module | None) -> LayerPrecision:
    p = getattr(m, "hwsim_precision", None) if m is not None else None
    return p if isinstance(p, LayerPrecision) else FULL_PRECISION


@dataclass
class LayerTally:
    """Everything counted for one layer (module) across phases."""

    name: str
    module: nn.Module | None
    order: int
    is_weight: bool = False
    precision: LayerPrecision = FULL_PRECISION
    op: str = ""
    shape: dict[str, int] = field(default_factory=dict)
    weight_key: Any = None
    weight_ref: Any = None       # keeps the weight operand's storage alive: a quantized weight is a temporary
    #   that the first layer's backward does not save, and a gradient allocated at its freed address
    #   would share its key and be taken for the weight (backward-weight counted as backward-data)
    weight_shape: tuple[int, ...] | None = None
    param_keys: frozenset = frozenset()      # storage keys / shapes of the module's parameters
    param_shapes: frozenset = frozenset()
    macs: dict[str, Counter] = field(default_factory=dict)          # phase -> mac_type -> MACs
    effectual: dict[str, Counter] = field(default_factory=dict)
    elementwise: dict[str, Counter] = field(default_factory=dict)
    traffic: dict[str, Counter] = field(default_factory=dict)
    zero_frac: dict[str, list[float]] = field(default_factory=dict)  # role -> samples
    input_numel: int = 0
    input_key: Any = None
    input_ref: Any = None        # keeps the input's storage alive so its key is not reused
    quantizer: bool = False      # a quantizer module: all its element-wise work is "quantize"

    def _c(self, d: dict[str, Counter], phase: str) -> Counter:
        c = d.get(phase)
        if c is None:
            c = d[phase] = Counter()
        return c

    def phases(self) -> list[str]:
        return [p for p in dict.fromkeys([*self.macs, *self.elementwise, *self.traffic])]


def _zero_frac(t: torch.Tensor) -> float:
    n = t.numel()
    return float((t == 0).sum().item()) / n if n else 0.0


def _exact_effectual_conv(x: torch.Tensor, w: torch.Tensor, args: tuple) -> int | None:
    """Exact MACs with both operands non-zero: one conv of the indicators with a kernel summed over K."""
    if x.dim() != 4 or (len(args) > 6 and args[6]):
        return None
    stride, padding, dilation, groups = args[3], args[4], args[5], args[8]
    k = w.shape[0]
    wi = (w != 0).to(torch.float32)
    wsum = wi.reshape(groups, k // groups, *w.shape[1:]).sum(1)
    xi = (x != 0).to(torch.float32).sum(0, keepdim=True)    # conv is linear: sum the batch first
    return int(round(torch.nn.functional.conv2d(xi, wsum, None, stride, padding, dilation, groups)
                     .to(torch.float64).sum().item()))


def _exact_effectual_mm(a: torch.Tensor, b: torch.Tensor) -> int:
    """sum_k nnz(a[:, k]) * nnz(b[k, :]) for a @ b."""
    return int(((a != 0).sum(0).to(torch.float64) @ (b != 0).sum(1).to(torch.float64)).item())


class CountingMode(TorchDispatchMode):
    """Counts one step of ``model``. Set :attr:`phase` to forward / backward / update / inference.

    ``probe`` measures operand sparsity on real tensors (zero fractions, exact effectual MACs
    in forward); leave it off on meta tensors.
    """

    def __init__(self, model: nn.Module, probe: bool = False, root_name: str = "model"):
        super().__init__()
        self.model = model
        self.probe = probe
        self.phase = "forward"
        self.layers: dict[str, LayerTally] = {}
        self.names: dict[int, str] = {}
        self.modules: dict[str, nn.Module] = {}
        for name, m in model.named_modules():
            self.names[id(m)] = name or root_name
            self.modules[name or root_name] = m
        self._stack: list[str] = []
        self._bw_current = LOSS
        self._node_tags: dict[Any, str] = {}
        self._handles: list[Any] = []
        self._stops: dict[int, list[set | None]] = {}
        self._owner: dict[int, tuple[str, torch.Tensor]] = {}
        self.stash_keys: set[Any] = set()
        self.unsupported: Counter = Counter()

    # -- attribution ---------------------------------------------------------------
    def current(self) -> str:
        if self.phase == "backward":
            return self._bw_current
        if self._stack:
            return self._stack[-1]
        return LOSS if self.phase in ("forward", INFERENCE) else OPTIMIZER

    def layer(self, name: str) -> LayerTally:
        lt = self.layers.get(name)
        if lt is None:
            m = self.modules.get(name)
            lt = self.layers[name] = LayerTally(name, m, len(self.layers))
            if m is not None:
                ps = list(m.parameters())
                lt.param_keys = frozenset(storage_key(p) for p in ps)
                lt.param_shapes = frozenset(tuple(p.shape) for p in ps if p.dim() == 2)
            if m is not None and is_quantizer(name, m):
                lt.quantizer = True
            if m is not None and is_weight_layer(m):
                lt.is_weight = True
                lt.precision = layer_precision(m)
                w = getattr(m, "weight", None)
                lt.weight_shape = tuple(w.shape) if isinstance(w, torch.Tensor) else None
        return lt

    def _pre(self, module: nn.Module, inputs: Any) -> None:
        name = self.names[id(module)]
        self._stack.append(name)
        stop = None
        if torch.is_grad_enabled():
            flat, _ = tree_flatten(inputs)
            stop = {t.grad_fn for t in flat if isinstance(t, torch.Tensor) and t.grad_fn is not None}
        self._stops.setdefault(id(module), []).append(stop)
        if is_weight_layer(module):
            lt = self.layer(name)
            flat, _ = tree_flatten(inputs)
            x = next((t for t in flat if isinstance(t, torch.Tensor)), None)
            if x is not None and lt.input_key is None:
                lt.input_numel, lt.input_key, lt.input_ref = int(x.numel()), storage_key(x), x.untyped_storage()

    def _post(self, module: nn.Module, inputs: Any, output: Any) -> None:
        name = self.names[id(module)]
        if is_fused(module):
            self._fused_traffic(self.layer(name), inputs, output)
        if self._stack and self._stack[-1] == name:
            self._stack.pop()
        elif name in self._stack:
            del self._stack[len(self._stack) - 1 - self._stack[::-1].index(name)]
        stops = self._stops.get(id(module))
        stop = stops.pop() if stops else None
        if stop is None:
            return
        flat, _ = tree_flatten(output)
        todo = [t.grad_fn for t in flat if isinstance(t, torch.Tensor) and t.grad_fn is not None]
        seen = set()
        while todo:
            node = todo.pop()
            if node is None or node in stop or node in seen:
                continue
            seen.add(node)
            if node not in self._node_tags:
                self._node_tags[node] = name
                self._handles.append(node.register_prehook(self._bw_enter(name)))
            todo.extend(n for n, _ in node.next_functions if n is not None)

    def _fused_traffic(self, lt: LayerTally, inputs: Any, output: Any) -> None:
        """A fused module's memory traffic, as one kernel: it reads its input and writes its output;
        its backward reads the output gradient and writes the input gradient (what it saved is
        stash, counted apart). Its element-wise ops count, their intermediates do not move."""
        x = next((t for t in tree_flatten(inputs)[0] if isinstance(t, torch.Tensor)), None)
        y = next((t for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)), None)
        if x is None or y is None:
            return
        nx, ny = x.numel() * x.element_size(), y.numel() * y.element_size()
        lt._c(lt.traffic, self.phase).update({"input": nx, "output": ny})
        if self.phase != INFERENCE and torch.is_grad_enabled() and y.requires_grad:
            lt._c(lt.traffic, "backward_data").update({"grad_output": ny, "grad_input": nx if x.requires_grad else 0})

    def _bw_enter(self, name: str):
        def hook(grad_outputs: Any) -> None:
            self._bw_current = name
        return hook

    def attach(self) -> None:
        for m in self.model.modules():
            self._handles.append(m.register_forward_pre_hook(self._pre))
            self._handles.append(m.register_forward_hook(self._post))

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._node_tags.clear()
        self._owner.clear()

    def own_parameters(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Before the update phase: map parameters, their gradients and optimizer state to layers."""
        for mname, m in self.model.named_modules():
            for p in m.parameters(recurse=False):
                name = mname or self.names[id(self.model)]
                self._owner[id(p)] = (name, p)
                if p.grad is not None:
                    self._owner[id(p.grad)] = (name, p.grad)
                if optimizer is not None:
                    for v in optimizer.state.get(p, {}).values():
                        if isinstance(v, torch.Tensor):
                            self._owner[id(v)] = (name, v)

    # -- counting --------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = meta_outputs.run(func, args, kwargs)   # on meta tensors, a call seen before is not run again
        if func in _SKIP:
            return out
        try:
            self._count(func, args, kwargs, out)
        except Exception:  # a formula bug must not break a training run; it is reported
            self.unsupported[str(func)] += 1
        return out

    def _count(self, func, args, kwargs, out) -> None:
        phase = self.phase
        if func._overloadpacket in F.NO_WORK:
            if phase == "update":
                self._taint(args, kwargs, out)
            return
        if phase == "update":
            name = self._taint(args, kwargs, out)
        else:
            name = self.current()
        lt = self.layer(name)
        keys = lt.param_keys
        if phase == "backward":
            # a quantized weight recomputed in backward is a new tensor: its flag names it the weight
            keys = keys | {storage_key(t) for t in args if isinstance(t, torch.Tensor) and getattr(t, WEIGHT_ROLE, False)}
        ctx = F.OpContext(phase=phase, weight_key=lt.weight_key, weight_shape=lt.weight_shape,
                          storage_key=storage_key, param_keys=keys, param_shapes=lt.param_shapes)
        for w in F.count_op(ctx, func, args, kwargs, out):
            if w.unknown:     # no formula: counted as element-wise work, and reported
                self.unsupported[str(func)] += 1
            if w.gemm is not None:
                self._gemm(lt, func, w, args, out)
            else:
                if phase == "backward" and self.stash_keys and "reads" in w.tensors:
                    # a stashed buffer read here is already counted as stash_read
                    w.read_bytes -= sum(t.numel() * t.element_size() for t in w.tensors["reads"]
                                        if storage_key(t) in self.stash_keys)
                    w.read_bytes = max(w.read_bytes, 0)
                self._elementwise(lt, w, out)

    def _taint(self, args, kwargs, out) -> str:
        name = OPTIMIZER
        for t in tree_flatten((args, kwargs))[0]:
            if isinstance(t, torch.Tensor) and id(t) in self._owner:
                name = self._owner[id(t)][0]
                break
        if name != OPTIMIZER:
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    self._owner[id(t)] = (name, t)
        return name

    def _gemm(self, lt: LayerTally, func, w: F.Work, args, out) -> None:
        phase = INFERENCE if self.phase == INFERENCE else w.gemm
        prec = lt.precision
        if self.phase == "backward" and w.gemm == F.GEMM_FWD:
            # a forward product run in backward: a layer's output recomputed from its stash
            # (bn_stash: recompute), priced at that layer's forward MAC type, in backward
            rp = prec if lt.is_weight else getattr(lt.module, "hwsim_recompute_precision", None) or FULL_PRECISION
            mt = rp.mac_type(F.GEMM_FWD)
            lt._c(lt.macs, F.GEMM_DATA)[mt] += w.macs
            lt._c(lt.effectual, F.GEMM_DATA)[mt] += w.macs
            lt._c(lt.traffic, F.GEMM_DATA).update(gemm_traffic(w, rp, F.GEMM_DATA, 4))
            return
        if w.gemm == F.GEMM_FWD and lt.is_weight:
            self._describe(lt, func, args, out, w)
        elif not lt.is_weight and not lt.shape and func._overloadpacket in F.ATTENTION_FWD:
            # the fused attention kernel's GEMMs (Q K^T, P V), for the accelerator model
            q, k, v = args[0], args[1], args[2]
            lt.op = "attention"
            lt.shape = {"N": int(q.shape[0]), "heads": int(math.prod(q.shape[1:-2])), "L": int(q.shape[-2]),
                        "S": int(k.shape[-2]), "D": int(q.shape[-1]), "Dv": int(v.shape[-1])}
        mt = prec.mac_type(phase) if lt.is_weight else ("fp32" if phase != INFERENCE else "fp32")
        lt._c(lt.macs, phase)[mt] += w.macs
        eff = w.macs
        if self.probe and w.tensors:
            eff = self._probe(lt, func, w, args)
        lt._c(lt.effectual, phase)[mt] += eff
        out_t = out[0] if isinstance(out, (tuple, list)) else out
        esize = out_t.element_size() if isinstance(out_t, torch.Tensor) else 4
        lt._c(lt.traffic, phase).update(gemm_traffic(w, prec, phase, esize))

    def _describe(self, lt: LayerTally, func, args, out, w: F.Work) -> None:
        weight = w.tensors.get("weight")
        if weight is not None and lt.weight_key is None:
            lt.weight_key, lt.weight_ref = storage_key(weight), weight.untyped_storage()
        if lt.shape:
            return
        packet = func._overloadpacket
        transposed = bool(args[6]) if packet in (aten.convolution, aten._convolution,
                                                   aten.convolution_overrideable) and len(args) > 6 else False
        if packet in (aten.convolution, aten._convolution, aten.convolution_overrideable,
                      aten._slow_conv2d_forward) and args[0].dim() == 4 and not transposed:
            x, wt = args[0], args[1]
            o = out
            stride, padding = args[3], args[4]
            groups = args[8] if len(args) > 8 else 1
            lt.op = "conv2d"
            lt.shape = {"N": x.shape[0], "C": x.shape[1], "H": x.shape[2], "W": x.shape[3], "K": wt.shape[0],
                        "R": wt.shape[2], "S": wt.shape[3], "stride": int(stride[0]), "padding": int(padding[0]),
                        "groups": int(groups), "P": o.shape[2], "Q": o.shape[3]}
        elif packet in (aten.convolution, aten._convolution, aten.convolution_overrideable) and 3 <= args[0].dim() <= 5:
            lt.op, lt.shape = conv_nd_shape(args[0], args[1], out, args[3], args[4], transposed,
                                            args[8] if len(args) > 8 else 1)
        elif packet in (aten.mm, aten.addmm):
            a, b = (args[0], args[1]) if packet is aten.mm else (args[1], args[2])
            lt.op = "linear"
            lt.shape = {"N": a.shape[0], "C": a.shape[1], "K": b.shape[1]}
        else:
            lt.op = getattr(packet, "__name__", str(packet))
        lt.shape = {k: int(v) for k, v in lt.shape.items()}

    def _probe(self, lt: LayerTally, func, w: F.Work, args) -> int:
        fr = {role: _zero_frac(t) for role, t in w.tensors.items() if isinstance(t, torch.Tensor)}
        for role, f in fr.items():
            lt.zero_frac.setdefault(f"{w.gemm}:{role}", []).append(f)
        if w.gemm == F.GEMM_FWD:
            packet = func._overloadpacket
            x, wt = w.tensors.get("input"), w.tensors.get("weight")
            if packet is aten.convolution and x is not None:
                exact = _exact_effectual_conv(x, wt, args)
                if exact is not None:
                    return exact
            if packet in (aten.mm, aten.addmm) and x is not None:
                return _exact_effectual_mm(x, wt)
        # independence of the two operands' zeros (backward, and ops without an exact rule)
        dens = 1.0
        for f in fr.values():
            dens *= 1.0 - f
        return int(round(w.macs * dens))

    def _elementwise(self, lt: LayerTally, w: F.Work, out) -> None:
        phase = self.phase
        cls = w.elementwise
        if phase != "update" and is_fused(lt.module):
            # one fused kernel: its traffic is booked once per call (_fused_traffic)
            lt._c(lt.elementwise, "backward_data" if phase == "backward" else phase)[cls] += w.elems
            return
        # An activation module of hwsim.quant (BNN's Htanh) keeps its activation op as such; the
        # rest of its work (packing its 1-bit STE mask) is quantization.
        own_act = cls == "activation" and isinstance(lt.module, nn.Hardtanh)
        if lt.quantizer and phase != "update" and not own_act:
            cls = "quantize"
        if isinstance(lt.module, _NORMS) and phase != "update":
            cls = "norm"
        if phase == "backward":
            phase = "backward_data"
            if w.weight_grad:
                phase = "backward_weight"
            elif (lt.is_weight or isinstance(lt.module, nn.MultiheadAttention)) and (
                    cls == "bias_grad" or self._is_param_grad(lt, out)):
                phase, cls = "backward_weight", "bias_grad" if cls in ("add", "bias_grad") else cls
        if cls != "bias_grad" and phase != "update" and not own_act and (
                lt.quantizer or _is_quantized_layer(lt.module)):
            # Quantizer and stash-codec work is fused into the operand fetch of the GEMM it feeds
            # (or into the stash write/read): its element operations count, its memory traffic does
            # not, because the GEMM already reads that operand at its quantized width.
            lt._c(lt.elementwise, phase)["quantize"] += w.elems
            return
        lt._c(lt.elementwise, phase)[cls] += w.elems
        tr = elementwise_traffic(w, phase)
        if cls == "bias_grad":  # the bias gradient is a weight gradient
            tr["grad_weight"] += tr.pop("grad_input", 0)
        lt._c(lt.traffic, phase).update(tr)

    @staticmethod
    def _is_param_grad(lt: LayerTally, out) -> bool:
        m = lt.module
        t = out[0] if isinstance(out, (tuple, list)) else out
        if m is None or not isinstance(t, torch.Tensor):
            return False
        if isinstance(m, nn.MultiheadAttention):     # its in/out projection biases' gradients
            return t.dim() >= 1 and any(b is not None and t.numel() == t.shape[-1] == b.numel()
                                        for b in (m.in_proj_bias, m.out_proj.bias))
        b = getattr(m, "bias", None)
        return isinstance(b, torch.Tensor) and t.numel() == b.numel() and b.dim() == 1 and t.dim() <= 2


class KernelAttention:
    """On meta tensors, run ``F.scaled_dot_product_attention`` as the fused CPU kernel a real CPU
    step picks (``_scaled_dot_product_flash_attention_for_cpu``), not the decomposed math path the
    meta backend falls back to: MACs, stash (no L x S matrix kept) and traffic then match a CPU run.

    The function is swapped in ``torch.nn.functional`` for the duration (a TorchFunctionMode would
    not see the call nested inside ``multi_head_attention_forward``)."""

    def __enter__(self) -> KernelAttention:
        self._orig = torch.nn.functional.scaled_dot_product_attention
        orig = self._orig

        def sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                 enable_gqa=False):
            if (query.device.type == "meta" and not dropout_p and not enable_gqa and query.dim() == 4
                    and query.shape[-3] == key.shape[-3]):
                return aten._scaled_dot_product_flash_attention_for_cpu(
                    query, key, value, 0.0, bool(is_causal), attn_mask=attn_mask, scale=scale)[0]
            return orig(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal,
                        scale=scale, enable_gqa=enable_gqa)

        torch.nn.functional.scaled_dot_product_attention = sdpa
        return self

    def __exit__(self, *exc: Any) -> None:
        torch.nn.functional.scaled_dot_product_attention = self._orig
