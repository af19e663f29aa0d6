"""DoReFa-Net's k-bit gradients in kbit (``grad_bits``): the quantizer's formula, the backward GEMMs it
feeds, and their price."""

from __future__ import annotations

import torch

from hwsim.count import trace
from hwsim.models import build_model
from hwsim.quant.functions import dorefa_gradient
from hwsim.schemes import build_scheme

KW = {"batch": 8, "input_shape": (1, 8, 8), "num_classes": 10, "device": "meta"}


def test_formula_by_hand():
    # one example, max |g| = 2: g / 2m + 1/2 = [0, 0.25, 0.5, 1] on a 2-bit grid of 3 steps
    g = torch.tensor([[-2.0, -1.0, 0.0, 2.0]])
    zero = torch.zeros_like(g)
    # (g/2m + 1/2) * 3 = [0, 0.75, 1.5, 3] -> round: [0, 1, 2, 3] -> 2m (code/3 - 1/2)
    assert torch.allclose(dorefa_gradient(g, 2, noise=zero), torch.tensor([[-2.0, -4 / 6, 4 / 6, 2.0]]))
    # noise moves 0.75 down to 0.45 (code 0) and 1.5 down to 1.3 (code 1): rounding is stochastic
    noise = torch.tensor([[0.0, -0.3, -0.2, 0.0]])
    assert torch.allclose(dorefa_gradient(g, 2, noise=noise), torch.tensor([[-2.0, -2.0, -4 / 6, 2.0]]))


def test_per_example_scale_grid_and_unbiased():
    torch.manual_seed(0)
    g = torch.randn(4, 3, 5, 5) * torch.tensor([1.0, 10.0, 0.1, 3.0]).view(4, 1, 1, 1)
    q = dorefa_gradient(g, 4)
    m = g.abs().amax(dim=(1, 2, 3), keepdim=True)
    code = (q / (2 * m) + 0.5) * 15
    assert torch.allclose(code, code.round(), atol=1e-4) and code.min() >= 0 and code.max() <= 15
    mean = torch.stack([dorefa_gradient(g, 4) for _ in range(400)]).mean(0)
    assert (mean - g).abs().max() < 0.15 * m.max()          # stochastic rounding: unbiased on average


def test_kbit_grad_bits_quantize_the_output_gradient():
    torch.manual_seed(0)
    net = build_scheme({"name": "kbit", "weight_bits": 4, "act_bits": 4, "grad_bits": 2,
                        "keep_first_last": False}).convert(torch.nn.Sequential(torch.nn.Linear(6, 5)))
    seen = {}
    net[0].weight.register_hook(lambda gw: seen.setdefault("gw", gw))
    x = torch.rand(3, 6)
    net(x).backward(torch.randn(3, 5))
    # the weight gradient is (quantized grad)^T x (quantized input); the grad holds 2-bit codes per example
    assert "gw" in seen and torch.isfinite(seen["gw"]).all()
    # one example: the bias gradient is the quantized output gradient itself, on the 2-bit grid of
    # 2m (code/3 - 1/2) with m = max |g|
    net.zero_grad()
    g = torch.tensor([[0.9, -0.2, 0.4, -1.5, 0.05]])
    net(torch.rand(1, 6)).backward(g)
    code = (net[0].bias.grad / (2 * g.abs().max()) + 0.5) * 3
    assert torch.allclose(code, code.round(), atol=1e-5) and not torch.allclose(net[0].bias.grad, g)


def test_backward_gemms_priced_as_integer_and_follow_the_bits():
    net = lambda: build_model("lenet5", num_classes=10, in_shape=(1, 8, 8))  # noqa: E731
    def spec(b, g):
        return {"name": "mixed", "weight_bits_by_depth": [b], "act_bits_by_depth": [b], "grad_bits": g}
    def backward_types(t, phase):
        return {(r.layer, k) for r in t.records if r.phase == phase for k, v in r.macs.items() if v}

    # grad x weight on every layer; grad x stash too, but the first layer's stash is the float image
    for (b, g), want in (((2, 8), "int2x8"), ((4, 4), "int4x4"), ((2, 32), "fp32")):
        t = trace(net(), build_scheme(spec(b, g)), mode="train", **KW)
        assert {k for _, k in backward_types(t, "backward_data")} == {want}
        bw = backward_types(t, "backward_weight")
        assert {k for layer, k in bw if layer != "conv1"} == {want} and ("conv1", "fp32") in bw


def test_defaults_keep_float_gradients_and_labels():
    assert build_scheme("kbit").grad_bits == 32 and build_scheme("kbit").spec()["grad_bits"] == 32
    mixed = build_scheme({"name": "mixed", "bits_by_depth": [4]})
    # mixed's labels list every field: the default is left out so existing points keep their keys
    assert mixed.grad_bits == 32 and "grad_bits" not in mixed.spec()
    assert build_scheme({"name": "mixed", "bits_by_depth": [4], "grad_bits": 8}).spec()["grad_bits"] == 8
