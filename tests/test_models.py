"""Built-in networks: build, forward+backward on their paper input and on 1x8x8 digits, on meta;
MAC counts against torch.utils.flop_counter and exact parameter counts of well-known nets."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from hwsim.errors import UserError
from hwsim.models import MODELS, build_model, load_all
from hwsim.models.transformers import TRANSFORMERS

load_all()
# the image classifiers' conventions; the transformers have tests/test_transformers.py
ALL = [n for n in MODELS.names() if n not in TRANSFORMERS]
# Paper-size forward+backward of the big ImageNet/wide nets is done on meta tensors only (CPU time).
HEAVY = {"resnet50", "wrn18_2", "wrn20_10", "wrn28_10", "densenet100", "wrn40_4", "wrn", "densenet121", "densenet201"}



def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def fwd_bwd(m: nn.Module, x: torch.Tensor, classes: int) -> None:
    m.train()
    out = m(x)
    assert out.shape == (x.shape[0], classes)
    out.float().sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None, f"no gradient for {name}"


def test_expected_models_registered():
    expected = {"lenet300", "lenet5", "graham_fc", "vgg_bnn", "vgg7", "vgg_graham", "resnet20", "resnet44",
                "resnet56", "wrn", "wrn20_4", "wrn20_10", "wrn28_10", "wrn40_4", "resnet18", "resnet50",
                "densenet40", "densenet100", "wrn18_2", "densenet121", "densenet201"}
    assert expected <= set(ALL), expected - set(ALL)



@pytest.mark.parametrize("name", MODELS.names())
def test_declared_catalogue_matches_the_built_network(name):
    """``hwsim models`` prints the catalogue without building anything: the declared parameter count
    must be the built network's (meta tensors, default input and classes) and the declared arguments
    the builder's keyword defaults."""
    spec = MODELS.get(name)
    with torch.device("meta"):
        m = build_model(name)
    assert spec.params == n_params(m), f"{name}: declared {spec.params:,}, built {n_params(m):,}"
    sig = inspect.signature(spec.builder).parameters
    assert sig["num_classes"].default == spec.default_classes
    assert tuple(sig["in_shape"].default) == tuple(spec.default_input)
    defaults = {k: p.default for k, p in sig.items()
                if k not in ("num_classes", "in_shape") and p.default is not inspect.Parameter.empty}
    assert spec.args == defaults

@pytest.mark.parametrize("name", ALL)
def test_digits_input_forward_backward(name):
    torch.manual_seed(0)
    m = build_model(name, num_classes=10, in_shape=(1, 8, 8))
    fwd_bwd(m, torch.randn(2, 1, 8, 8), 10)


@pytest.mark.parametrize("name", ALL)
def test_default_input_forward_backward(name):
    spec = MODELS.get(name)
    if name in HEAVY:
        with torch.device("meta"):
            m = build_model(name)
            fwd_bwd(m, torch.empty(2, *spec.default_input), spec.default_classes)
        return
    torch.manual_seed(0)
    m = build_model(name)
    fwd_bwd(m, torch.randn(2, *spec.default_input), spec.default_classes)


@pytest.mark.parametrize("name", ALL)
def test_meta_build_and_conventions(name):
    spec = MODELS.get(name)
    with torch.device("meta"):
        m = build_model(name)
        out = m(torch.empty(2, *spec.default_input))
    assert out.device.type == "meta" and out.shape == (2, spec.default_classes)
    names = [n for n, _ in m.named_modules()]
    assert len(names) == len(set(names))
    for n, mod in m.named_modules():
        if isinstance(mod, (nn.ReLU, nn.Hardtanh)):
            assert not mod.inplace, f"{name}.{n} is in-place"
    # every leaf module is called exactly once per forward pass, in registration order
    calls: list[str] = []
    hooks = [mod.register_forward_hook(lambda mod, i, o, n=n: calls.append(n))
             for n, mod in m.named_modules() if not list(mod.children())]
    with torch.device("meta"):
        m(torch.empty(2, *spec.default_input))
    for h in hooks:
        h.remove()
    leaves = [n for n, mod in m.named_modules() if not list(mod.children())]
    assert sorted(calls) == sorted(leaves) and len(calls) == len(set(calls))
    assert calls == leaves, "modules are not registered in forward order"


def macs(name: str, shape=(1, 3, 224, 224)) -> int:
    with torch.device("meta"):
        m = build_model(name)
        x = torch.empty(*shape)
    with FlopCounterMode(display=False) as fc:
        m(x)
    return fc.get_total_flops() // 2


def test_imagenet_resnet_macs_match_flop_counter_anchor():
    # anchors.md: torchvision ResNet-18 at 1x3x224x224 has 1,814,073,344 forward MACs.
    assert macs("resnet18") == 1_814_073_344
    assert macs("resnet50") == 4_089_184_256


def test_resnet18_weight_layer_inputs_anchor():
    """anchors.md: the inputs of ResNet-18's weight layers are 1,831,936 values per 224x224 image
    (each distinct tensor once: a block's conv1 and its downsample conv read the same input)."""
    with torch.device("meta"):
        m = build_model("resnet18").eval()
        seen: dict[int, torch.Tensor] = {}   # id -> tensor (kept alive so ids stay unique)

        def note(mod, inputs, out):
            seen.setdefault(id(inputs[0]), inputs[0])

        for mod in m.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                mod.register_forward_hook(note)
        m(torch.empty(1, 3, 224, 224))
    assert sum(t.numel() for t in seen.values()) == 1_831_936


def test_han_lenet_tables():
    """Seed 002 (Han et al. deep compression table): weights per layer and FLOPs (= 2 x MACs)."""
    assert macs("lenet5", (1, 1, 28, 28)) * 2 == 4_586_000          # "Total 4586K"
    assert macs("lenet300", (1, 1, 28, 28)) * 2 == 532_400          # "Total 532K"
    with torch.device("meta"):
        m = build_model("lenet5")
    weights = {n: mod.weight.numel() for n, mod in m.named_modules() if hasattr(mod, "weight")}
    assert weights == {"conv1": 500, "conv2": 25_000, "fc1": 400_000, "fc2": 5_000}


def test_seed_parameter_figures():
    """Seeds 000 and 004 quote WRN sizes: WRN-28-10 36.5M, WRN-20-4 4.3M, WRN-20-10 26.8M; Huang's DenseNets."""
    figures = {"wrn28_10": 36.5e6, "wrn20_4": 4.3e6, "wrn20_10": 26.8e6, "densenet40": 1.0e6, "densenet100": 7.0e6}
    for name, fig in figures.items():
        with torch.device("meta"):
            m = build_model(name)
        assert round(n_params(m) / 1e5) == round(fig / 1e5), name


@pytest.mark.parametrize("name,classes,shape,params", [
    ("resnet18", 1000, (3, 224, 224), 11_689_512),     # torchvision
    ("resnet50", 1000, (3, 224, 224), 25_557_032),     # torchvision
    ("densenet121", 1000, (3, 224, 224), 7_978_856),   # Huang et al.; torchvision densenet121
    ("densenet201", 1000, (3, 224, 224), 20_013_928),  # Huang et al.; torchvision densenet201
    ("lenet300", 10, (1, 28, 28), 266_610),             # Han et al.: 267K
    ("lenet5", 10, (1, 28, 28), 431_080),               # Han et al.: 431K
    ("resnet20", 10, (3, 32, 32), 272_282),             # He et al.: 0.27M (+1x1 projections)
    ("alexnet_caffe", 1000, (3, 227, 227), 60_965_224),  # Caffe's bvlc_alexnet (two towers)
])
def test_parameter_counts(name, classes, shape, params):
    with torch.device("meta"):
        m = build_model(name, num_classes=classes, in_shape=shape)
    assert n_params(m) == params


def test_torchvision_state_dict_names():
    with torch.device("meta"):
        m = build_model("resnet18")
    keys = set(m.state_dict())
    assert {"conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
            "layer2.0.downsample.1.weight", "layer4.1.bn2.bias", "fc.weight", "fc.bias"} <= keys


def test_bad_arguments_are_user_errors():
    with pytest.raises(UserError, match="unknown model"):
        build_model("resnet21")
    with pytest.raises(UserError, match="takes no argument 'depth'"):
        build_model("resnet20", depth=3)
    with pytest.raises(UserError, match="in_shape"):
        build_model("lenet5", in_shape=(1, 2, 2))
    with pytest.raises(UserError, match="width"):
        build_model("resnet20", width=0)
    with pytest.raises(UserError, match="graham_fc.n"):
        build_model("graham_fc", n=40)
