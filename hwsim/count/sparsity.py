"""Data-dependent sparsity of the GEMM operands, sampled during real training.

For each weight layer, on a sampled step, a forward hook looks at what the layer multiplies:
the weight as the GEMM reads it (after its quantizer: ternary and pruned zeros count) and
the input (after its quantizer: ReLU zeros count). It records

  weight             fraction of zero weights
  input              fraction of zero inputs
  effectual_fraction MACs with both operands non-zero / MACs issued, exact: for a conv,
                     one convolution of the two zero-indicators with the kernel summed over
                     output channels, on the batch-summed indicator (so zero padding counts
                     as a zero operand); for a
                     linear layer, sum_c nnz(x[:, c]) * nnz(W[:, c]).

The hook is installed for one forward pass every ``every`` steps and removes itself, so the
training loop runs unhooked otherwise.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hwsim.count.mode import is_weight_layer
from hwsim.trace import SparsitySample


def zero_fraction(t: torch.Tensor) -> float:
    n = t.numel()
    return float((t == 0).sum()) / n if n else 0.0


def effectual_fraction_conv(x: torch.Tensor, w: torch.Tensor, m: nn.Conv2d) -> float:
    k, g = w.shape[0], m.groups
    wsum = (w != 0).to(x.dtype).reshape(g, k // g, *w.shape[1:]).sum(1)
    # the conv is linear in its input, so the batch can be summed first: one image's worth of work
    xsum = (x != 0).to(x.dtype).sum(0, keepdim=True)
    eff = F.conv2d(xsum, wsum, None, m.stride, m.padding, m.dilation, g).sum()
    n, _, h, wd = x.shape
    p, q = _out_hw(h, wd, m, m.padding)
    issued = n * k * p * q * w.shape[1] * w.shape[2] * w.shape[3]
    return float(eff) / issued if issued else 1.0


def _out_hw(h: int, w: int, m: nn.Conv2d, padding: Any) -> tuple[int, int]:
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    (kh, kw), (sh, sw), (dh, dw) = m.kernel_size, m.stride, m.dilation
    return (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1


def effectual_fraction_linear(x: torch.Tensor, w: torch.Tensor) -> float:
    x2 = x.reshape(-1, x.shape[-1])
    eff = ((x2 != 0).sum(0).to(torch.float64) * (w != 0).sum(0).to(torch.float64)).sum()
    issued = x2.shape[0] * w.shape[0] * w.shape[1]
    return float(eff) / issued if issued else 1.0


def operands(m: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(input, weight) as the layer's GEMM sees them (its quantizer slots applied, if any)."""
    wq = getattr(m, "weight_quantizer", None)
    xq = getattr(m, "input_quantizer", None)
    w = wq(m.weight) if callable(wq) else m.weight
    x = xq(x) if callable(xq) else x
    return x, w


def layer_sample(m: nn.Module, x: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        xq, w = operands(m, x)
        out = {"weight": zero_fraction(w), "input": zero_fraction(xq)}
        if isinstance(m, nn.Conv2d) and xq.dim() == 4 and isinstance(m.padding, tuple):
            out["effectual_fraction"] = effectual_fraction_conv(xq, w, m)
        elif isinstance(m, nn.Linear):
            out["effectual_fraction"] = effectual_fraction_linear(xq, w)
        else:
            out["effectual_fraction"] = (1 - out["weight"]) * (1 - out["input"])
    return out


class SparsitySampler:
    """Arm with :meth:`arm`; the next training-mode forward pass records one sample per layer."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.layers = [(n, m) for n, m in model.named_modules() if is_weight_layer(m) and hasattr(m, "weight")]
        self._handles: list[Any] = []
        self._pending: dict[str, dict[str, float]] = {}
        self.timeline: dict[str, list[SparsitySample]] = {n: [] for n, _ in self.layers}
        self._step, self._epoch = 0, 0

    def arm(self, *, step: int, epoch: int) -> None:
        if self._handles:
            return
        self._step, self._epoch = step, epoch
        self._pending = {}
        for name, m in self.layers:
            self._handles.append(m.register_forward_hook(self._hook(name)))

    def _hook(self, name: str):
        def hook(m: nn.Module, inputs: Any, output: Any) -> None:
            if not m.training or name in self._pending or not inputs or not isinstance(inputs[0], torch.Tensor):
                return
            self._pending[name] = layer_sample(m, inputs[0].detach())
            if len(self._pending) == len(self.layers):
                self.disarm()
        return hook

    def pause(self) -> bool:
        """Take the hooks off (e.g. before copying the model); returns whether it was armed."""
        armed = bool(self._handles)
        for h in self._handles:
            h.remove()
        self._handles.clear()
        return armed

    def resume(self) -> None:
        for name, m in self.layers:
            if name not in self._pending:
                self._handles.append(m.register_forward_hook(self._hook(name)))

    def disarm(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for name, s in self._pending.items():
            self.timeline[name].append(SparsitySample(step=self._step, epoch=self._epoch, **s))
        self._pending = {}
