"""Make an ONNX graph convert to the network it was exported from.

``torch.onnx.export`` graphs trip onnx2torch in ways that change the figures:
  * with constant folding (the default), a weight used twice is folded into duplicate initializers
    behind ``Identity`` nodes; onnx2torch's converters look weights up among the initializers by
    name and fail (``KeyError``) or fall back to modules holding the weight as a fixed input
    (a BatchNormalization then keeps its scale and shift as constants);
  * a ``MatMul`` by a weight matrix (a Linear on 3-D activations) becomes a matmul by a buffer, and a
    ``Gather`` on a weight table (an embedding) an indexing op: no layer a scheme can convert, and
    weights that are no parameters (no gradient, no update, ``parameters: 0``);
  * position embeddings, class tokens and layer scales stay buffers.

:func:`clean_graph` rewrites the ONNX graph before conversion (consumers of an ``Identity`` of an
initializer read the initializer itself; then onnx's own shape inference), and
:func:`restore_layers` turns the converted module's weight matmuls into ``nn.Linear`` layers, weight
gathers into ``nn.Embedding`` layers, and its remaining float initializers into Parameters.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx, nn


def clean_graph(proto: Any) -> Any:
    """``proto`` with Identity nodes of initializers bypassed, and shapes inferred (onnx.shape_inference)."""
    import onnx

    g = proto.graph
    inits = {i.name for i in g.initializer}
    outputs = {o.name for o in g.output}
    alias: dict[str, str] = {}
    keep = []
    for node in g.node:
        src = alias.get(node.input[0], node.input[0]) if node.op_type == "Identity" and node.input else None
        if src is not None and src in inits and node.output[0] not in outputs:
            alias[node.output[0]] = src
            continue
        keep.append(node)
    if alias:
        for node in keep:
            for i, name in enumerate(node.input):
                if name in alias:
                    node.input[i] = alias[name]
        del g.node[:]
        g.node.extend(keep)
    _fold_recurrent_weights(proto)
    try:
        return onnx.shape_inference.infer_shapes(proto)
    except Exception:  # noqa: BLE001 - a graph shape inference cannot handle converts as it is
        return proto


# the weight inputs of the recurrent ops: W, R, B (and LSTM's peepholes P)
_RECURRENT_WEIGHTS = {"LSTM": (1, 2, 3, 7), "GRU": (1, 2, 3), "RNN": (1, 2, 3)}


def _fold_recurrent_weights(proto: Any) -> None:
    """Evaluate the recurrent ops' weights into initializers when they are computed from constants.

    Without constant folding, torch's exporter builds W/R/B from the parameters by Slice, Concat and
    Unsqueeze nodes; the recurrent layers need them as tensors. The constant cone of each weight is
    run by onnx's reference evaluator, and nodes left without a consumer are dropped.
    """
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    g = proto.graph
    inits = {i.name for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    inputs = {i.name for i in g.input} - inits
    todo = [(n, i) for n in g.node if n.domain in ("", "ai.onnx")
            for i in _RECURRENT_WEIGHTS.get(n.op_type, ()) if i < len(n.input) and n.input[i]
            and n.input[i] not in inits]
    if not todo:
        return
    folded: dict[str, str] = {}
    for node, i in todo:
        name = node.input[i]
        if name not in folded:
            cone, stack, ok = [], [name], True
            while stack and ok:
                v = stack.pop()
                if v in inits or not v:
                    continue
                src = producer.get(v)
                if src is None or v in inputs or src.op_type in _RECURRENT_WEIGHTS:
                    ok = False
                elif src not in cone:
                    cone.append(src)
                    stack.extend(src.input)
            if not ok:
                continue
            order = [n for n in g.node if n in cone]
            sub = helper.make_model(
                helper.make_graph(order, "weights", [], [helper.make_tensor_value_info(name, 0, None)],
                                  [t for t in g.initializer if any(t.name in n.input for n in order)]),
                opset_imports=proto.opset_import, ir_version=proto.ir_version)
            value = ReferenceEvaluator(sub).run(None, {})[0]
            new = f"{name}::folded"
            g.initializer.append(numpy_helper.from_array(value, new))
            inits.add(new)
            folded[name] = new
        node.input[i] = folded[name]
    _drop_unused(g)


def _drop_unused(g: Any) -> None:
    """Remove nodes none of whose outputs is read (by a node or as a graph output)."""
    while True:
        read = {o.name for o in g.output} | {v for n in g.node for v in n.input}
        keep = [n for n in g.node if any(o in read for o in n.output if o)]
        if len(keep) == len(g.node):
            return
        del g.node[:]
        g.node.extend(keep)


def _default_input(given: Any, x: Any, kind: str, dims: tuple[Any, ...], dtype: Any) -> Any:
    """The value a model's extra input takes when only the first is given (see :func:`fill_inputs`)."""
    if given is not None:
        return given
    shape = [x.shape[d[1]] if isinstance(d, tuple) else d for d in dims]
    if kind == "ones":
        return torch.ones(shape, dtype=dtype, device=x.device)
    if kind == "positions":
        return torch.arange(shape[-1], device=x.device, dtype=dtype).expand(shape)
    return torch.zeros(shape, dtype=dtype, device=x.device)


def fill_inputs(gm: fx.GraphModule, proto: Any, where: str = "model") -> fx.GraphModule:
    """Give every graph input after the first the value a tokenizer or caller gives by default, so the
    module can be called with the first input only (the others stay optional arguments): ``*mask*`` -> ones (nothing masked), ``position_ids``
    -> 0..L-1, others (``token_type_ids``, ``logits_to_keep``, ...) -> zeros. Each size is the first
    input's size of the same symbolic name (``batch``, ``sequence``), else the declared size."""
    import numpy as np
    import onnx

    from hwsim.errors import UserError

    inits = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    holders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(inputs) < 2 or len(holders) != len(inputs):
        return gm
    first = [d.dim_param or d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    for info, node in zip(inputs[1:], holders[1:]):
        tt = info.type.tensor_type
        dims: list[Any] = []
        for k, d in enumerate(tt.shape.dim):
            if d.dim_param and d.dim_param in first:
                dims.append(("x", first.index(d.dim_param)))
            elif d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
            elif k < len(first):
                dims.append(("x", k))
            else:
                raise UserError(where, f"ONNX input {info.name!r} has a size hwsim cannot derive from the first input")
        low = info.name.lower()
        kind = "ones" if "mask" in low else "positions" if "position" in low else "zeros"
        dtype = torch.from_numpy(np.zeros(0, onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type))).dtype
        node.args = (None,)         # an optional argument, None by default
        with gm.graph.inserting_after(holders[-1]):
            value = gm.graph.call_function(_default_input, (node, holders[0], kind, tuple(dims), dtype))
        node.replace_all_uses_with(value, delete_user_cb=lambda user, v=value: user is not v)
    gm.recompile()
    return gm


def _get_attr(gm: nn.Module, node: Any) -> torch.Tensor | None:
    if not isinstance(node, fx.Node) or node.op != "get_attr":
        return None
    obj: Any = gm
    for part in str(node.target).split("."):
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, torch.Tensor) else None


def _tie(gm: nn.Module) -> None:
    """A Linear whose weight equals an Embedding's table shares it: a head tied to the token embedding
    (GPT-2, T5, ...) is exported as a second, transposed copy of the table, but it is one parameter."""
    tables = [m for m in gm.modules() if isinstance(m, nn.Embedding)]
    for lin in (m for m in gm.modules() if isinstance(m, nn.Linear)):
        for emb in tables:
            if emb.weight.shape == lin.weight.shape and torch.equal(emb.weight, lin.weight):
                lin.weight = emb.weight
                break


def restore_layers(gm: fx.GraphModule) -> fx.GraphModule:
    """Weight matmuls -> ``nn.Linear``, weight gathers -> ``nn.Embedding``, float initializers -> Parameters."""
    g = gm.graph
    made = 0
    for node in list(g.nodes):
        if node.op != "call_module" or len(node.args) != 2:
            continue
        mod = gm.get_submodule(str(node.target))
        kind = type(mod).__name__
        if kind == "OnnxMatMul":
            w = _get_attr(gm, node.args[1])
            if w is None or w.dim() != 2 or not w.is_floating_point():
                continue
            layer = nn.Linear(w.shape[0], w.shape[1], bias=False)
            layer.weight = nn.Parameter(w.detach().t().contiguous())
            x = node.args[0]
        elif kind == "OnnxGather" and getattr(mod, "_axis", None) == 0:
            w = _get_attr(gm, node.args[0])
            if w is None or w.dim() != 2 or not w.is_floating_point():
                continue
            layer = nn.Embedding(w.shape[0], w.shape[1])
            layer.weight = nn.Parameter(w.detach().clone())
            x = node.args[1]
        else:
            continue
        name = str(node.target)
        parent, _, child = name.rpartition(".")
        setattr(gm.get_submodule(parent) if parent else gm, child, layer)
        node.args = (x,)
        made += 1
    _tie(gm)
    g.eliminate_dead_code()
    # initializers no node reads any more are dropped; the others that are float tensors are weights
    used = {str(n.target) for n in g.nodes if n.op == "get_attr"}
    holder = getattr(gm, "initializers", None)
    if isinstance(holder, nn.Module):
        for name, buf in list(holder._buffers.items()):
            full = f"initializers.{name}"
            if full not in used:
                del holder._buffers[name]
            # a tensor holding infinities is a mask (an attention mask's -inf), not a weight
            elif buf is not None and buf.is_floating_point() and buf.numel() > 1 and bool(buf.isfinite().all()):
                del holder._buffers[name]
                holder.register_parameter(name, nn.Parameter(buf.detach().clone()))
    gm.recompile()
    return gm
