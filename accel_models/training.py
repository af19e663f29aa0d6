"""Training on the accelerator: each weight layer's three GEMMs, and the rest on the vector unit.

For a convolution lowered to GEMM (M = B*P*Q, N = K_out/g, K = (C/g)*R*S, ``groups`` times):

    phase            GEMM                                 ifmap operand   filter operand
    forward          Y[M x N]   = Col[M x K] W[K x N]      input           weight
    backward_data    dCol[M x K] = dY[M x N] W^T[N x K]    grad            weight (as used in forward)
    backward_weight  dW[K x N]  = Col^T[K x M] dY[M x N]   stash           grad

i.e. backward-data is the GEMM (M, K, N) and backward-weight the GEMM (K, N, M): the transposed
GEMMs, with the same MAC count as forward. Backward-data of a convolution with a window > 1 also
scatters dCol back onto the input (col2im): M x K adds on the vector unit. The first layer of a
network computes no input gradient (as PyTorch), so it has no backward-data work.
Linear layers are the GEMM with M = batch rows, N = out features, K = in features.

The weight update is element-wise on the vector unit: ``ops_per_param`` operations per parameter
(SGD with momentum: v = m v + g, w = w - lr v: 4), reading and writing the master copy, gradient and
momentum in fp32. Batch-norm, activations and pooling are element-wise work given by the caller
(the hwsim bridge takes them from the counted trace) as :class:`~accel_models.layers.VectorOp`.
"""

from __future__ import annotations

import re

from accel_models.errors import ConfigError
from accel_models.layers import ConvLayer, GemmLayer, Operands, VectorOp

_FMT = re.compile(r"^\s*(float|fp|int|uint|binary|ternary|log|lq|codebook)\s*[_-]?(\d+)?\s*$", re.I)


# Narrow floats as hwsim prints them (hwsim.minifloat.NAMES; a test keeps the two equal): name -> kind, bits
NARROW_FORMATS: dict[str, tuple[str, int]] = {
    "bf16": ("bf", 16), "bfloat16": ("bf", 16),
    "fp8_e4m3": ("e4m3", 8), "e4m3": ("e4m3", 8), "fp8_e5m2": ("e5m2", 8), "e5m2": ("e5m2", 8),
    "fp6_e3m2": ("e3m2", 6), "e3m2": ("e3m2", 6), "fp6_e2m3": ("e2m3", 6), "e2m3": ("e2m3", 6),
    "fp4_e2m1": ("e2m1", 4), "e2m1": ("e2m1", 4),
    "mxfp8_e4m3": ("mxe4m3", 8), "mxfp8": ("mxe4m3", 8), "mxfp8_e5m2": ("mxe5m2", 8),
    "mxfp6_e3m2": ("mxe3m2", 6), "mxfp6_e2m3": ("mxe2m3", 6), "mxfp6": ("mxe2m3", 6),
    "mxfp4_e2m1": ("mxe2m1", 4), "mxfp4": ("mxe2m1", 4), "mxint8": ("mxint", 8),
    "nvfp4": ("nve2m1", 4),
}


def parse_format(text: str) -> tuple[str, int]:
    """``"int4"`` -> ("int", 4); ``"binary"`` -> ("binary", 1); ``"fp16"`` -> ("float", 16);
    ``"mxfp8_e4m3"`` -> ("mxe4m3", 8)."""
    named = NARROW_FORMATS.get(str(text).strip().lower())
    if named is not None:
        return named
    m = _FMT.match(str(text))
    if not m:
        raise ConfigError("precision", f"cannot read format {text!r}; expected e.g. float32, int4, binary")
    kind = {"fp": "float", "uint": "int"}.get(m.group(1).lower(), m.group(1).lower())
    bits = int(m.group(2)) if m.group(2) else {"float": 32, "binary": 1, "ternary": 2}.get(kind)
    if bits is None:
        raise ConfigError("precision", f"format {text!r} needs a bit width")
    return kind, bits


def operands(a: str, b: str, ofmap_bits: int = 32, mac_type: str | None = None) -> Operands:
    """Operands from two format strings: ``a`` streams as ifmap, ``b`` as filter."""
    (ak, ab), (bk, bb) = parse_format(a), parse_format(b)
    return Operands(ak, ab, bk, bb, ofmap_bits, mac_type)


def phase_gemms(layer: ConvLayer | GemmLayer, precision: dict[str, str] | None = None,
                first_layer: bool = False, psum_bits: int = 32,
                mac_types: dict[str, str] | None = None) -> list[GemmLayer | VectorOp]:
    """Forward, backward-data (+ col2im) and backward-weight work of one weight layer.

    ``precision`` maps ``weight``, ``input``, ``stash``, ``grad`` to format strings (hwsim's
    LayerPrecision.to_dict()); missing entries are float32.
    """
    p = {"weight": "float32", "input": "float32", "grad": "float32", **(precision or {})}
    p.setdefault("stash", p["input"])
    mt = mac_types or {}
    g = layer.to_gemm()
    M, N, K = g.M, g.N, g.K
    out: list[GemmLayer | VectorOp] = [
        g.with_(phase="forward", operands=operands(p["input"], p["weight"], psum_bits, mt.get("forward"))),
    ]
    if not first_layer:
        out.append(GemmLayer(g.name, M=M, N=K, K=N, groups=g.groups, phase="backward_data",
                             operands=operands(p["grad"], p["weight"], psum_bits, mt.get("backward_data"))))
        if g.kernel > 1:
            out.append(VectorOp(g.name, "backward_data", ops=g.groups * M * K, kind="col2im"))
    # dW = Col^T dY: the stashed input streams as ifmap (K x M), the gradient is the other operand.
    out.append(GemmLayer(g.name, M=K, N=N, K=M, groups=g.groups, phase="backward_weight",
                         operands=operands(p["stash"], p["grad"], psum_bits, mt.get("backward_weight"))))
    return out


def update_op(name: str, params: int, ops_per_param: int = 4, master_bits: int = 32) -> VectorOp:
    """Weight update on the vector unit: reads master, gradient, momentum; writes master, momentum."""
    b = master_bits // 8
    return VectorOp(name, "update", ops=params * ops_per_param, kind="update",
                    bytes_in=3 * b * params, bytes_out=2 * b * params)


def training_step(layers: list[ConvLayer | GemmLayer], precisions: list[dict[str, str]] | None = None,
                  ops_per_param: int = 4, psum_bits: int = 32) -> list[GemmLayer | VectorOp]:
    """All phases of one training step for a list of weight layers (first one has no backward-data)."""
    work: list[GemmLayer | VectorOp] = []
    for i, layer in enumerate(layers):
        prec = precisions[i] if precisions else None
        work += phase_gemms(layer, prec, first_layer=(i == 0), psum_bits=psum_bits)
        g = layer.to_gemm()
        work.append(update_op(layer.name, g.groups * g.K * g.N, ops_per_param))
    return work
