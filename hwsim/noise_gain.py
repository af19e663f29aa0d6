"""Per-layer precision from noise gains (Sakr & Shanbhag, ICASSP 2018; Shanbhag 2020's "precision decreases
with depth" slide, which plots their E_A,l, E_W,l and B_A,l, B_W,l for VGG-9 on CIFAR-10).

Fixed-point quantization of layer l's input activations A_l and weights W_l with steps
Delta_A,l, Delta_W,l adds noise of variance Delta^2 / 12 per value. Sakr et al. bound the probability
that the quantized network's decision differs from the float network's (the mismatch probability) by

    p_m <= sum_l Delta_A,l^2 E_A,l + sum_l Delta_W,l^2 E_W,l

    E_A,l = E[ sum_{j != y} sum_{a in A_l} |d(Z_j - Z_y)/da|^2 / (24 |Z_j - Z_y|^2) ]

(Z the logits, y the float network's decision; E_W,l the same over the weights of layer l). The
noise gains are measured here on a trained network and a batch of inputs (``noise_gains``): the
squared gradients of the margins Z_j - Z_y, per layer input and per layer weight, a few batched
backward passes per class.

Quantizer: symmetric uniform fixed point over each tensor's range r (max |x|, weights from the
weights, activations calibrated on the same batch): B bits give Delta = r 2^(1 - B). So a tensor's
term is 4^(1 - B) r^2 E, and the range is folded into its gain (``LayerGain.act``, ``.weight``).

Allocation (Sakr & Shanbhag's noise-gain equalisation, ``allocate``): every tensor gets
``B = B_min + round(log2 sqrt(E / E_min))`` so all contribute about equally, with B_min the least
integer for which the bound is at most the target ``p_m`` (clipped to ``[min_bits, max_bits]``).
Because p_m bounds the fraction of decisions that change, test accuracy under the allocation is at
least the float network's minus p_m (in expectation; ``evaluate_bits`` measures it).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from hwsim.jsondoc import JsonDocument


@dataclass(frozen=True)
class LayerGain:
    """Noise gains of one weight layer with its tensors' ranges folded in (E r^2), and sizes per sample."""

    name: str
    act: float          # E_A,l r_A,l^2
    weight: float       # E_W,l r_W,l^2
    act_range: float
    weight_range: float
    act_count: int      # input activations per sample
    weight_count: int


@dataclass(frozen=True)
class Allocation:
    """Bits per layer for activations (the layer's input) and weights, and the bound they give."""

    names: list[str]
    act_bits: list[int]
    weight_bits: list[int]
    bound: float                       # sum of 4^(1-B) E over all tensors: upper bound on p_m
    target: float | None = None

    def total_bits(self, gains: list[LayerGain]) -> int:
        """Bits held per sample: weights plus one sample's layer inputs."""
        return sum(b * g.weight_count + a * g.act_count for g, a, b in zip(gains, self.act_bits, self.weight_bits))

    def mixed_spec(self) -> JsonDocument:
        """The allocation as a ``mixed`` scheme, as a sweep file writes it: one ``kbit`` override per layer."""
        return {"name": "mixed", "overrides": [
            {"layers": n, "scheme": {"name": "kbit", "weight_bits": w, "act_bits": a, "keep_first_last": False}}
            for n, a, w in zip(self.names, self.act_bits, self.weight_bits)]}


def bound(gains: list[LayerGain], act_bits: list[int], weight_bits: list[int]) -> float:
    """Sakr's upper bound on the mismatch probability for the given bits."""
    return sum(4.0 ** (1 - a) * g.act + 4.0 ** (1 - w) * g.weight for g, a, w in zip(gains, act_bits, weight_bits))


def uniform(gains: list[LayerGain], bits: int) -> Allocation:
    n = len(gains)
    return Allocation([g.name for g in gains], [bits] * n, [bits] * n, bound(gains, [bits] * n, [bits] * n))


def allocate(gains: list[LayerGain], target: float, min_bits: int = 2, max_bits: int = 16) -> Allocation:
    """Noise-gain equalisation: B = B_min + round(log2 sqrt(E / E_min)), B_min least with bound <= target."""
    if not 0 < target < 1:
        raise ValueError(f"target mismatch probability must be in (0, 1), got {target}")
    vals = [v for g in gains for v in (g.act, g.weight) if v > 0]
    e_min = min(vals) if vals else 1.0

    def offset(e: float) -> int:
        return round(math.log2(math.sqrt(e / e_min))) if e > 0 else 0

    def bits_at(b_min: int) -> tuple[list[int], list[int]]:
        def clip(b: int) -> int:
            return max(min_bits, min(max_bits, b))
        return ([clip(b_min + offset(g.act)) for g in gains], [clip(b_min + offset(g.weight)) for g in gains])

    for b_min in range(1, max_bits + 1):
        a, w = bits_at(b_min)
        if bound(gains, a, w) <= target:
            break
    return Allocation([g.name for g in gains], a, w, bound(gains, a, w), target)


def noise_gains(model: Any, x: Any, *, probes: int = 4, seed: int = 0) -> list[LayerGain]:
    """E_A,l r^2 and E_W,l r^2 of every weight layer of ``model`` (eval mode), averaged over the samples of ``x``.

    Batched: in eval mode the samples are independent, so for each class j one backward pass of
    ``sum_n s_n c_n (Z_j - Z_y)[n]`` with c_n = 1 / (sqrt(24) |Z_j - Z_y|[n]) gives every sample's input
    gradient exactly (s_n = +-1). The weight gradient sums over samples; with random signs s_n the
    expected squared norm is sum_n c_n^2 |dZ/dW|^2 (cross terms vanish), so it is averaged over
    ``probes`` sign draws (Hutchinson's estimator)."""
    import torch

    from hwsim.quant.layers import weight_layers

    model = copy.deepcopy(model).eval()
    layers = weight_layers(model)
    names = [n for n, _ in layers]
    inputs: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(_m: Any, args: Any) -> None:
            args[0].retain_grad()
            inputs[name] = args[0]
        return hook

    handles = [m.register_forward_pre_hook(keep(n)) for n, m in layers]
    gen = torch.Generator().manual_seed(seed)
    n = len(x)
    g_act = dict.fromkeys(names, 0.0)
    g_w = dict.fromkeys(names, 0.0)
    try:
        xi = x.clone().requires_grad_(True)
        z = model(xi)
        y = z.argmax(1)
        zy = z.gather(1, y[:, None])[:, 0]
        acts = [inputs[nm] for nm in names]
        for j in range(z.shape[1]):
            margin = z[:, j] - zy
            other = (y != j).to(z.dtype)
            c = (other / (math.sqrt(24.0) * margin.detach().abs().clamp_min(1e-12))).detach()
            for r in range(probes):
                s = torch.randint(0, 2, (n,), generator=gen).to(z.dtype) * 2 - 1
                grads = torch.autograd.grad((s * c * margin).sum(), acts + [m.weight for _, m in layers],
                                            retain_graph=True, allow_unused=True)
                for k, nm in enumerate(names):
                    ga, gw = grads[k], grads[len(names) + k]
                    if r == 0 and ga is not None:
                        g_act[nm] += float((ga ** 2).sum())
                    if gw is not None:
                        g_w[nm] += float((gw ** 2).sum()) / probes
    finally:
        for h in handles:
            h.remove()
    out = []
    for name, m in layers:
        ra = float(inputs[name].detach().abs().max())
        rw = float(m.weight.detach().abs().max())
        out.append(LayerGain(name, g_act[name] / n * ra ** 2, g_w[name] / n * rw ** 2, ra, rw,
                             inputs[name][0].numel(), m.weight.numel()))
    return out


def _fake_quant(t: Any, r: float, bits: int) -> Any:
    """Symmetric uniform fixed point over [-r, r]: step r 2^(1-B), clipped."""
    import torch

    if r <= 0:
        return t
    step = r * 2.0 ** (1 - bits)
    return torch.clamp(torch.round(t / step) * step, -r, r)


@dataclass
class BitsAccuracy:
    accuracy: float
    agreement: float            # fraction of test decisions equal to the float network's (1 - measured p_m)
    extra: dict[str, float] = field(default_factory=dict)


def evaluate_bits(model: Any, gains: list[LayerGain], alloc: Allocation, x: Any, y: Any) -> BitsAccuracy:
    """Test accuracy of ``model`` with each layer's weights and inputs quantized as ``alloc`` says (ranges
    from ``gains``), and the fraction of decisions that agree with the float network."""
    import torch

    from hwsim.quant.layers import weight_layers

    ref = copy.deepcopy(model).eval()
    q = copy.deepcopy(model).eval()
    by_name = {g.name: g for g in gains}
    handles = []
    with torch.no_grad():
        for (name, m), a, w in zip(weight_layers(q), alloc.act_bits, alloc.weight_bits):
            g = by_name[name]
            m.weight.copy_(_fake_quant(m.weight, g.weight_range, w))

            def pre(_m: Any, args: Any, r: float = g.act_range, b: int = a) -> tuple:
                return (_fake_quant(args[0], r, b), *args[1:])
            handles.append(m.register_forward_pre_hook(pre))
        try:
            pq = torch.cat([q(x[i:i + 512]).argmax(1) for i in range(0, len(x), 512)])
            pr = torch.cat([ref(x[i:i + 512]).argmax(1) for i in range(0, len(x), 512)])
        finally:
            for h in handles:
                h.remove()
    return BitsAccuracy(float((pq == y).float().mean()), float((pq == pr).float().mean()))
