"""Converters for ONNX ops onnx2torch 1.5.15 lacks, registered in its converter registry.

* comparisons and small ops torch's exporter writes for Hugging Face models and newer opsets:
  ``GreaterOrEqual``, ``LessOrEqual``, ``Trilu``, ``Gelu``, ``Mish``, ``Size``, ``CastLike``,
  ``GlobalMaxPool``, and ``Flatten`` past axis 1 (onnx2torch's flattens wrongly there);
* opset 18 versions of ops whose change onnx2torch never picked up: the reductions take their axes
  as an input (as ``ReduceSum`` did from 13), ``Split`` may name ``num_outputs``, ``Pad`` may take
  ``axes`` and ``Resize`` gains attributes; each is read into the form the older converter takes,
  and an attribute the older form cannot express is one error line;
* ``LSTM`` / ``GRU`` / ``RNN`` (:mod:`hwsim.models._onnx_rnn`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from hwsim.errors import UserError


class _Fn(nn.Module):
    """An element-wise op as a module (onnx2torch maps each node to one module)."""

    def __init__(self, name: str, fn: Any, **kw: Any):
        super().__init__()
        self.name, self.fn, self.kw = name, fn, kw

    def forward(self, *xs: Any) -> Any:
        return self.fn(*[x for x in xs if x is not None], **self.kw)

    def extra_repr(self) -> str:
        return self.name


def _size(x: torch.Tensor) -> torch.Tensor:
    return torch.tensor(x.numel(), dtype=torch.int64, device=x.device)


def _trilu(x: torch.Tensor, k: torch.Tensor | None = None, *, upper: bool) -> torch.Tensor:
    d = 0 if k is None else int(k)
    return torch.triu(x, d) if upper else torch.tril(x, d)


def _global_max(x: torch.Tensor) -> torch.Tensor:
    return x.amax(dim=tuple(range(2, x.dim())), keepdim=True)


def _simple(node: Any, graph: Any) -> Any:
    from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node

    op, at = node.operation_type, node.attributes
    if op == "GreaterOrEqual":
        mod = _Fn(op, torch.ge)
    elif op == "LessOrEqual":
        mod = _Fn(op, torch.le)
    elif op == "Trilu":
        mod = _Fn(op, _trilu, upper=bool(at.get("upper", 1)))
    elif op == "Gelu":
        mod = _Fn(op, F.gelu, approximate=at.get("approximate", "none"))
    elif op == "Mish":
        mod = _Fn(op, F.mish)
    elif op == "Size":
        mod = _Fn(op, _size)
    elif op == "CastLike":
        mod = _Fn(op, lambda x, like: x.to(like.dtype))
    else:       # GlobalMaxPool
        mod = _Fn(op, _global_max)
    return OperationConverterResult(mod, onnx_mapping_from_node(node))


_SIMPLE = {"GreaterOrEqual": (12, 16), "LessOrEqual": (12, 16), "Trilu": (14,), "Gelu": (20,), "Mish": (18,),
           "Size": (1, 13, 19, 21), "CastLike": (15, 19, 21), "GlobalMaxPool": (1,)}

_REDUCE = ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
           "ReduceLogSumExp", "ReduceSumSquare")


def _reduce18(node: Any, graph: Any) -> Any:
    """Reductions from opset 18: axes are an optional constant input."""
    from onnx2torch.node_converters.reduce import OnnxReduceStaticAxes
    from onnx2torch.utils.common import OnnxMapping, OperationConverterResult, get_const_value

    axes = None
    if len(node.input_values) > 1 and node.input_values[1]:
        try:
            axes = [int(a) for a in get_const_value(node.input_values[1], graph).tolist()]
        except KeyError:
            raise UserError("model", f"{node.operation_type} node {node.name!r} takes its axes at run time") from None
    if not axes and node.attributes.get("noop_with_empty_axes", 0):
        return OperationConverterResult(nn.Identity(), OnnxMapping((node.input_values[0],), node.output_values))
    mod = OnnxReduceStaticAxes(node.operation_type, axes, node.attributes.get("keepdims", 1))
    return OperationConverterResult(mod, OnnxMapping((node.input_values[0],), node.output_values))


class Flatten(nn.Module):
    """ONNX Flatten: (prod(dims[:axis]), prod(dims[axis:])) for any axis (onnx2torch's fails past axis 1)."""

    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        axis = self.axis % x.dim() if self.axis < 0 else self.axis
        lead = 1
        for d in x.shape[:axis]:
            lead *= d
        return x.reshape(lead, -1)


def _flatten(node: Any, graph: Any) -> Any:
    from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node

    axis = int(node.attributes.get("axis", 1))
    return OperationConverterResult(nn.Flatten(1) if axis == 1 else Flatten(axis), onnx_mapping_from_node(node))


def _older(op: str, version: int) -> Any:
    from onnx2torch.node_converters.registry import get_converter

    return get_converter(operation_type=op, version=version)


def _split18(node: Any, graph: Any) -> Any:
    # num_outputs names as many outputs as the node has, which is how the opset-13 converter splits
    return _older("Split", 13)(node, graph)


def _pad18(node: Any, graph: Any) -> Any:
    if len(node.input_values) > 3 and node.input_values[3]:
        raise UserError("model", f"Pad node {node.name!r} pads chosen axes (opset 18 'axes'), which hwsim does not read")
    return _older("Pad", 13)(node, graph)


def _resize18(node: Any, graph: Any) -> Any:
    at = node.attributes
    if at.get("antialias", 0) or at.get("axes") or at.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise UserError("model", f"Resize node {node.name!r} uses opset-18 attributes (antialias, axes, "
                                 "keep_aspect_ratio_policy) that hwsim does not read")
    return _older("Resize", 13)(node, graph)


def register() -> None:
    """Add the converters to onnx2torch's registry (once per process)."""
    from onnx2torch.node_converters import registry

    from hwsim.models._onnx_rnn import convert_recurrent

    table: list[tuple[str, int, Any]] = [(op, v, _simple) for op, vs in _SIMPLE.items() for v in vs]
    table += [(op, 18, _reduce18) for op in _REDUCE]
    table += [("Split", 18, _split18), ("Pad", 18, _pad18), ("Pad", 19, _pad18), ("Pad", 21, _pad18),
              ("Resize", 18, _resize18), ("Resize", 19, _resize18)]
    table += [(op, v, convert_recurrent) for op in ("LSTM", "GRU", "RNN") for v in (7, 14)]
    for op, version, fn in table:
        key = registry.OperationDescription(domain="", operation_type=op, version=version)
        if key not in registry._CONVERTER_REGISTRY:
            registry.add_converter(operation_type=op, version=version)(fn)
    for version in (1, 9, 11, 13, 21):        # replaces onnx2torch's own
        key = registry.OperationDescription(domain="", operation_type="Flatten", version=version)
        registry._CONVERTER_REGISTRY[key] = _flatten
