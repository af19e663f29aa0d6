"""Give an exported graph its layers back.

``torch.export`` flattens a network into aten calls (``aten.linear(x, fc.weight, fc.bias)``);
``ExportedProgram.module()`` keeps the parameters at their original paths but no layer modules.
Schemes swap layer modules and the counter attributes work to modules, so each linear, embedding,
convolution, transposed convolution and batch-norm call on the program's own parameters becomes
a call of the ``torch.nn`` layer it came from, at the original path (``conv``, ``fc``), holding
the same Parameters. Numerics are unchanged.
"""

from __future__ import annotations

import types
from typing import Any

import torch
from torch import fx, nn

aten = torch.ops.aten

_CONV = {aten.conv1d.default: nn.Conv1d, aten.conv2d.default: nn.Conv2d, aten.conv3d.default: nn.Conv3d}
_CONV_PAD = {getattr(aten, f"conv{n}d").padding: m for n, m in ((1, nn.Conv1d), (2, nn.Conv2d), (3, nn.Conv3d))}
_CONVT = {aten.conv_transpose1d.default: nn.ConvTranspose1d, aten.conv_transpose2d.input: nn.ConvTranspose2d,
          aten.conv_transpose3d.input: nn.ConvTranspose3d}
_BN = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}


def _arg(node: fx.Node, i: int, name: str, default: Any) -> Any:
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def _param(gm: nn.Module, node: Any) -> nn.Parameter | None:
    if isinstance(node, fx.Node) and node.op == "get_attr":
        t = _get_attr(gm, node.target)
        return t if isinstance(t, nn.Parameter) else None
    return None


def _get_attr(gm: nn.Module, target: str) -> Any:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part, None)
    return obj


def _layer_for(gm: nn.Module, node: fx.Node) -> tuple[nn.Module, list[Any]] | None:
    """(a torch.nn layer holding the node's Parameters, the node's activation args) or None."""
    t = node.target
    if t is aten.addmm.default:
        return _addmm_for(gm, node)
    w = _param(gm, _arg(node, 1, "weight", None))
    if w is None:
        return None
    b_node = _arg(node, 2, "bias", None)
    b = _param(gm, b_node)
    if b_node is not None and b is None:
        return None
    x = node.args[0]
    if t is aten.linear.default:
        m = nn.Linear(w.shape[1], w.shape[0], bias=b is not None, device="meta")
    elif t in _CONV or t in _CONV_PAD:
        cls = _CONV.get(t) or _CONV_PAD[t]
        groups = int(_arg(node, 6, "groups", 1))
        m = cls(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), stride=_arg(node, 3, "stride", 1),
                padding=_arg(node, 4, "padding", 0), dilation=_arg(node, 5, "dilation", 1), groups=groups,
                bias=b is not None, device="meta")
    elif t in _CONVT:
        groups = int(_arg(node, 6, "groups", 1))
        m = _CONVT[t](w.shape[0], w.shape[1] * groups, tuple(w.shape[2:]), stride=_arg(node, 3, "stride", 1),
                      padding=_arg(node, 4, "padding", 0), output_padding=_arg(node, 5, "output_padding", 0),
                      groups=groups, bias=b is not None, dilation=_arg(node, 7, "dilation", 1), device="meta")
    else:
        return None
    m.weight = w
    if b is not None:
        m.bias = b
    return m, [x]


def _addmm_for(gm: nn.Module, node: fx.Node) -> tuple[nn.Module, list[Any]] | None:
    """``aten.addmm(bias, x, weight)`` on Parameters, a Hugging Face ``Conv1D`` (weight stored (in, out)):
    the ``nn.Linear`` it is, holding a transposed view of the same storage and the same bias."""
    if len(node.args) != 3 or node.kwargs.get("beta", 1) != 1 or node.kwargs.get("alpha", 1) != 1:
        return None
    b, w = _param(gm, node.args[0]), _param(gm, node.args[2])
    if w is None or b is None or w.dim() != 2 or b.shape != (w.shape[1],):
        return None
    m = nn.Linear(w.shape[0], w.shape[1], device="meta", dtype=w.dtype)
    m.weight = nn.Parameter(w.detach().t(), requires_grad=w.requires_grad)
    m.bias = b
    return m, [node.args[1]]


def _embedding_for(gm: nn.Module, node: fx.Node) -> tuple[nn.Module, list[Any]] | None:
    """``aten.embedding(weight, ids, padding_idx, ...)``: the weight comes first."""
    if node.target is not aten.embedding.default:
        return None
    w = _param(gm, node.args[0])
    if w is None:
        return None
    pad = _arg(node, 2, "padding_idx", -1)
    m = nn.Embedding(w.shape[0], w.shape[1], padding_idx=None if pad == -1 else pad, device="meta")
    m.weight = w
    return m, [node.args[1]]


def _batch_norm_for(gm: nn.Module, node: fx.Node) -> tuple[nn.Module, list[Any]] | None:
    if node.target is not aten.batch_norm.default:
        return None
    x, w_n, b_n, mean_n, var_n = node.args[:5]
    training, momentum, eps = node.args[5:8]
    w, b = _param(gm, w_n), _param(gm, b_n)
    mean = _get_attr(gm, mean_n.target) if isinstance(mean_n, fx.Node) and mean_n.op == "get_attr" else None
    var = _get_attr(gm, var_n.target) if isinstance(var_n, fx.Node) and var_n.op == "get_attr" else None
    val = x.meta.get("val") if isinstance(x, fx.Node) else None
    if w is None or b is None or mean is None or var is None or val is None or val.dim() not in _BN:
        return None
    m = _BN[val.dim()](w.shape[0], eps=eps, momentum=momentum, device="meta")
    m.weight, m.bias = w, b
    m.running_mean, m.running_var = mean, var
    m.train(bool(training))
    return m, [x]


# parameter-free ops that are modules in a torch.nn network (the BNN scheme swaps ReLU modules, and
# the counter attributes element-wise work per module): target -> (module class, its argument names)
_ACT: dict[Any, tuple[type[nn.Module], tuple[str, ...]]] = {
    aten.relu.default: (nn.ReLU, ()), aten.relu_.default: (nn.ReLU, ()),
    aten.gelu.default: (nn.GELU, ()), aten.silu.default: (nn.SiLU, ()), aten.sigmoid.default: (nn.Sigmoid, ()),
    aten.tanh.default: (nn.Tanh, ()), aten.hardtanh.default: (nn.Hardtanh, ("min_val", "max_val")),
    aten.max_pool2d.default: (nn.MaxPool2d, ("kernel_size", "stride", "padding", "dilation", "ceil_mode")),
    aten.avg_pool2d.default: (nn.AvgPool2d, ("kernel_size", "stride", "padding", "ceil_mode",
                                             "count_include_pad")),
    aten.adaptive_avg_pool2d.default: (nn.AdaptiveAvgPool2d, ("output_size",)),
    aten.flatten.using_ints: (nn.Flatten, ("start_dim", "end_dim")),
}


def _act_for(node: fx.Node) -> tuple[nn.Module, list[Any]] | None:
    entry = _ACT.get(node.target)
    if entry is None or node.kwargs or any(isinstance(a, fx.Node) for a in node.args[1:]):
        return None
    cls, names = entry
    kw = dict(zip(names, node.args[1:]))
    if cls is nn.MaxPool2d and not kw.get("stride"):
        kw.pop("stride", None)
    return cls(**kw), [node.args[0]]


def modules_from_export(ep: Any) -> nn.Module:
    """``ep.module()`` with its layer calls turned back into ``torch.nn`` layers (see module doc)."""
    gm = ep.module()
    _tie_shared(gm)
    g = gm.graph
    used: set[str] = set()
    for node in list(g.nodes):
        if node.op != "call_function":
            continue
        made = _layer_for(gm, node) or _embedding_for(gm, node) or _batch_norm_for(gm, node) or _act_for(node)
        if made is None:
            continue
        layer, args = made
        stack = node.meta.get("nn_module_stack") or {}
        path, kind = list(stack.values())[-1] if stack else ("", "")
        name = path.replace("L['self'].", "").strip(".")
        # a Conv1D rebuilt as a Linear replaces its holder (the Linear holds a view of its weight)
        conv1d = node.target is aten.addmm.default and str(kind).endswith(".Conv1D")
        if not conv1d and not str(kind).endswith("." + type(layer).__name__):
            name = f"{name}.{node.name}" if name else node.name   # an op called inside another module's forward
        if not _has_parent(gm, name):
            name = node.name
        if name in used:           # a layer called twice keeps one module per call
            i = 1
            while f"{name}_{i}" in used:
                i += 1
            name = f"{name}_{i}"
        used.add(name)
        _put(gm, name, layer)
        with g.inserting_before(node):
            new = g.call_module(name, tuple(args))
        new.meta = dict(node.meta)
        node.replace_all_uses_with(new)
        g.erase_node(node)
    # the export's shape guards pin its example batch size; hwsim prices other batches (a graph
    # that baked the batch into a reshape still fails, and that error is reported as a shape error)
    for node in list(g.nodes):
        if node.op == "call_module" and node.target == "_guards_fn" and not node.users:
            g.erase_node(node)
            delattr(gm, "_guards_fn")
    gm._forward_pre_hooks.clear()     # the same input-constraint check, as a hook
    # the bookkeeping add_ on num_batches_tracked is the BatchNorm module's own now
    for node in list(g.nodes):
        if node.op == "call_function" and node.target is aten.add_.Tensor and not node.users:
            a0 = node.args[0]
            if isinstance(a0, fx.Node) and a0.op == "get_attr" and a0.target.endswith("num_batches_tracked"):
                g.erase_node(node)
    _follow_input_device(gm)
    g.eliminate_dead_code()
    gm.recompile()
    # modules in the order the graph calls them (first/last-layer rules read registration order)
    called = [n.target for n in g.nodes if n.op == "call_module" and "." not in n.target]
    mods = dict(gm._modules)
    gm._modules.clear()
    for k in [*dict.fromkeys(called), *mods]:
        gm._modules.setdefault(k, mods[k])
    # an ExportedProgram's module refuses train()/eval(); the layers are modules again, so they follow
    gm.train = types.MethodType(nn.Module.train, gm)
    gm.eval = types.MethodType(nn.Module.eval, gm)
    return gm


def _tie_shared(gm: nn.Module) -> None:
    """Parameters the program stores once under two names (a tied embedding) become one Parameter again,
    as in the network that was exported, so that it is counted and trained once."""
    first: dict[tuple, nn.Parameter] = {}
    for m in gm.modules():
        for k, p in list(m._parameters.items()):
            if p is None or p.device.type == "meta":
                continue
            key = (p.untyped_storage().data_ptr(), p.storage_offset(), tuple(p.shape), p.stride(), p.dtype)
            m._parameters[k] = first.setdefault(key, p)


def _follow_input_device(gm: fx.GraphModule) -> None:
    """Tensors the program creates on the device it was exported on (``zeros(..., device=cpu)`` for an
    initial hidden state, ``arange`` for positions) are created on the input's device instead, and its
    tensor constants become buffers, so that ``.to("meta")`` moves the whole program."""
    g = gm.graph
    first = next((n for n in g.nodes if n.op == "placeholder"), None)
    for node in list(g.nodes):
        if node.op == "get_attr":
            obj = _get_attr(gm, node.target)
            if isinstance(obj, torch.Tensor) and not isinstance(obj, nn.Parameter):
                owner_name, _, attr = node.target.rpartition(".")
                owner = gm.get_submodule(owner_name) if owner_name else gm
                if attr not in owner._buffers:
                    delattr(owner, attr)
                    owner.register_buffer(attr, obj, persistent=False)
        elif first is not None and node.op == "call_function" and isinstance(node.kwargs.get("device"), torch.device):
            with g.inserting_before(node):
                dev = g.call_function(getattr, (first, "device"))
            node.kwargs = {**node.kwargs, "device": dev}


def _has_parent(gm: nn.Module, name: str) -> bool:
    parent = name.rpartition(".")[0]
    try:
        gm.get_submodule(parent) if parent else None
    except AttributeError:
        return False
    return True


def _put(gm: nn.Module, name: str, layer: nn.Module) -> None:
    """Install ``layer`` at ``name``, keeping any submodules of an empty holder that was there."""
    parent_name, _, child = name.rpartition(".")
    parent = gm.get_submodule(parent_name) if parent_name else gm
    old = getattr(parent, child, None)
    if isinstance(old, nn.Module):
        for cn, cm in old.named_children():
            layer.add_module(cn, cm)
        for bn, buf in old.named_buffers(recurse=False):
            if hasattr(layer, bn):
                delattr(layer, bn)
            layer.register_buffer(bn, buf)
    if hasattr(parent, child):
        delattr(parent, child)
    parent.add_module(child, layer)
