"""VGG-like CIFAR networks of the seeds.

* ``vgg_bnn``: the BNN CIFAR-10 network as drawn in Xu 2019 (Courbariaux/Hubara et al.'s
  BinaryNet, also BinaryConnect's "VGG" and Shanbhag 2020's "VGG-9": 6 conv + 3 FC layers):
  2x128C3 - MP2 - 2x256C3 - MP2 - 2x512C3 - MP2 - 1024FC - 1024FC - 10FC. Every weight layer
  is followed by BN (the last one too, as in the seed), a max-pool sits between the
  convolution and its BN, and the activation is HardTanh (the seed's; ``act="relu"``
  for a ReLU baseline). Channel counts scale with ``width``.
* ``vgg7``: TWN's VGG-7 (Li & Liu 2016, Shanbhag 2020): 2x128C3 - MP2 - 2x256C3 - MP2 - 2x512C3 -
  MP2 - 1024FC - 10FC with conv-BN-ReLU and FC-BN-ReLU.
* ``vgg_graham``: Graham's VGG(k) (Graham 2017, sec. 2.2): M(k) - M(2k) - M(4k) - (8k)C4 with
  M(k) = kC3-BN-ReLU + kC3-MP3/2-BN-ReLU; the (8k)C4 layer is followed by BN-ReLU and a
  linear classifier (the paper does not spell the head out). MP3/2 has padding 1 so
  32 -> 16 -> 8 -> 4 and C4 reduces 4x4 to 1x1; on inputs smaller than 4x4 at that point
  the kernel shrinks to the map size, and any map left larger than 1x1 is average-pooled.
"""

from __future__ import annotations

import torch.nn as nn

from hwsim.errors import UserError
from hwsim.models._common import Chain, check_in_shape, check_positive, conv_out, scaled


def _act(kind: str, model: str) -> nn.Module:
    if kind == "hardtanh":
        return nn.Hardtanh(inplace=False)
    if kind == "relu":
        return nn.ReLU(inplace=False)
    raise UserError(f"model.{model}.act", f"act is 'hardtanh' or 'relu', got {kind!r}")


class VGGBNN(Chain):
    def __init__(self, num_classes: int, in_shape, width: float, fc_width: int, act: str):
        super().__init__()
        c, h, w = in_shape
        chans = [scaled(v, width) for v in (128, 128, 256, 256, 512, 512)]
        layers: list[tuple[str, nn.Module]] = []
        prev = c
        for i, ch in enumerate(chans):
            layers.append((f"conv{i + 1}", nn.Conv2d(prev, ch, 3, 1, 1, bias=False)))
            if i % 2 == 1:
                layers.append((f"pool{i // 2 + 1}", nn.MaxPool2d(2, 2)))
                h, w = conv_out(h, 2, 2), conv_out(w, 2, 2)
            layers.append((f"bn{i + 1}", nn.BatchNorm2d(ch)))
            layers.append((f"act{i + 1}", _act(act, "vgg_bnn")))
            prev = ch
        layers.append(("flatten", nn.Flatten()))
        feats = prev * h * w
        fcw = scaled(fc_width, width)
        for i, (fi, fo) in enumerate(((feats, fcw), (fcw, fcw), (fcw, num_classes))):
            layers.append((f"fc{i + 1}", nn.Linear(fi, fo, bias=False)))
            layers.append((f"bn_fc{i + 1}", nn.BatchNorm1d(fo)))
            if i < 2:
                layers.append((f"act_fc{i + 1}", _act(act, "vgg_bnn")))
        for name, mod in layers:
            self.add_module(name, mod)


class VGG7(Chain):
    def __init__(self, num_classes: int, in_shape, width: float):
        super().__init__()
        c, h, w = in_shape
        chans = [scaled(v, width) for v in (128, 128, 256, 256, 512, 512)]
        prev = c
        for i, ch in enumerate(chans):
            self.add_module(f"conv{i + 1}", nn.Conv2d(prev, ch, 3, 1, 1, bias=False))
            self.add_module(f"bn{i + 1}", nn.BatchNorm2d(ch))
            self.add_module(f"relu{i + 1}", nn.ReLU(inplace=False))
            if i % 2 == 1:
                self.add_module(f"pool{i // 2 + 1}", nn.MaxPool2d(2, 2))
                h, w = conv_out(h, 2, 2), conv_out(w, 2, 2)
            prev = ch
        self.flatten = nn.Flatten()
        fcw = scaled(1024, width)
        self.fc1 = nn.Linear(prev * h * w, fcw, bias=False)
        self.bn_fc1 = nn.BatchNorm1d(fcw)
        self.relu_fc1 = nn.ReLU(inplace=False)
        self.fc2 = nn.Linear(fcw, num_classes)


class VGGGraham(Chain):
    def __init__(self, num_classes: int, in_shape, k: int):
        super().__init__()
        c, h, w = in_shape
        prev = c
        for i, ch in enumerate((k, 2 * k, 4 * k)):
            s = i + 1
            self.add_module(f"conv{s}a", nn.Conv2d(prev, ch, 3, 1, 1, bias=False))
            self.add_module(f"bn{s}a", nn.BatchNorm2d(ch))
            self.add_module(f"relu{s}a", nn.ReLU(inplace=False))
            self.add_module(f"conv{s}b", nn.Conv2d(ch, ch, 3, 1, 1, bias=False))
            self.add_module(f"pool{s}", nn.MaxPool2d(3, 2, 1))
            self.add_module(f"bn{s}b", nn.BatchNorm2d(ch))
            self.add_module(f"relu{s}b", nn.ReLU(inplace=False))
            h, w = conv_out(h, 3, 2, 1), conv_out(w, 3, 2, 1)
            prev = ch
        kh, kw = min(4, h), min(4, w)
        self.conv4 = nn.Conv2d(prev, 8 * k, (kh, kw), bias=False)
        self.bn4 = nn.BatchNorm2d(8 * k)
        self.relu4 = nn.ReLU(inplace=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8 * k, num_classes)




def vgg_bnn(num_classes: int = 10, in_shape=(3, 32, 32), width: float = 1.0, act: str = "hardtanh"):
    check_positive("vgg_bnn", width=width)
    return VGGBNN(num_classes, check_in_shape("vgg_bnn", in_shape, min_hw=8), width, 1024, act)


def vgg7(num_classes: int = 10, in_shape=(3, 32, 32), width: float = 1.0):
    check_positive("vgg7", width=width)
    return VGG7(num_classes, check_in_shape("vgg7", in_shape, min_hw=8), width)


def vgg_graham(num_classes: int = 10, in_shape=(3, 32, 32), k: int = 32):
    check_positive("vgg_graham", k=k)
    return VGGGraham(num_classes, check_in_shape("vgg_graham", in_shape), int(k))
