"""AlexNet and VGG-16 as Han et al. pruned them (Shanbhag 2020: "AlexNet 61M -> 6.7M, 9x; VGG-16 138M -> 10.3M, 13x").

* ``alexnet``: torchvision's single-tower AlexNet: 64C11/4-MP3/2-192C5-MP3/2-384C3-256C3-256C3-
  MP3/2-AvgPool(6x6)-4096FC-4096FC-classes, ReLU after every layer but the last, dropout before the
  first two FC layers. Layers are named as the paper names them: features.conv1 ... classifier.fc8. 61,100,840 parameters at 1000 classes (Han's "61M"; Caffe's two-tower
  original has 60,965,224).
* ``alexnet_caffe``: the original two-tower AlexNet (Krizhevsky et al. 2012, Caffe's bvlc_alexnet),
  as Eyeriss (Chen et al., JSSC 2017) runs it: 227x227 input, 96C11/4-LRN-MP3/2-256C5g2-LRN-MP3/2-
  384C3-384C3g2-256C3g2-MP3/2-4096FC-4096FC-classes (g2: two groups, one per tower); 60,965,224
  parameters at 1000 classes.
* ``vgg16``: Simonyan & Zisserman's configuration D: 2x64C3-MP-2x128C3-MP-3x256C3-MP-3x512C3-MP-
  3x512C3-MP-AvgPool(7x7)-4096FC-4096FC-classes, 138,357,544 parameters at 1000 classes; layers
  features.conv1_1 ... features.conv5_3, classifier.fc6 ... fc8.

The adaptive average pool fixes the classifier's input at 256x6x6 (512x7x7), so the parameter count,
which Han's reductions are about, is the same at any input size; on inputs too small for a max-pool
window (a 32x32 image in AlexNet) that pool is left out, so CIFAR-sized inputs still trace.
"""

from __future__ import annotations

from collections import OrderedDict

import torch.nn as nn

from hwsim.models._common import check_in_shape, conv_out


def _features(c: int, hw: int, plan: list[tuple]) -> tuple[nn.Sequential, int]:
    """Layers from a plan of ("conv", name, out, k, stride, pad[, groups]), ("lrn", name) and ("pool", name,
    k, stride) items,
    named as the papers name them (conv1 ... / conv1_1 ...); a pool whose window does not fit the map
    is left out."""
    layers: dict[str, nn.Module] = {}
    for item in plan:
        if item[0] == "conv":
            _, name, out, k, s, p, *g = item
            layers[name] = nn.Conv2d(c, out, k, s, p, groups=g[0] if g else 1)
            layers[f"relu{name[4:]}"] = nn.ReLU(inplace=False)
            c, hw = out, conv_out(hw, k, s, p)
        elif item[0] == "lrn":
            layers[item[1]] = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
        elif hw >= item[2]:
            layers[item[1]] = nn.MaxPool2d(item[2], item[3])
            hw = conv_out(hw, item[2], item[3], 0)
    return nn.Sequential(OrderedDict(layers)), c


class ClassicNet(nn.Module):
    def __init__(self, features: nn.Sequential, channels: int, pool: int, num_classes: int, dropout_first: bool):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((pool, pool))
        self.flatten = nn.Flatten()
        d = channels * pool * pool
        layers: dict[str, nn.Module] = {}
        for name, a, b in (("fc6", d, 4096), ("fc7", 4096, 4096)):
            if dropout_first:
                layers[f"drop{name[2:]}"] = nn.Dropout(0.5)
            layers[name] = nn.Linear(a, b)
            layers[f"relu{name[2:]}"] = nn.ReLU(inplace=False)
            if not dropout_first:
                layers[f"drop{name[2:]}"] = nn.Dropout(0.5)
        layers["fc8"] = nn.Linear(4096, num_classes)
        self.classifier = nn.Sequential(OrderedDict(layers))

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


def alexnet(num_classes: int = 1000, in_shape=(3, 224, 224)):
    c, h, w = check_in_shape("alexnet", in_shape, min_hw=7)
    plan = [("conv", "conv1", 64, 11, 4, 2), ("pool", "pool1", 3, 2), ("conv", "conv2", 192, 5, 1, 2),
            ("pool", "pool2", 3, 2), ("conv", "conv3", 384, 3, 1, 1), ("conv", "conv4", 256, 3, 1, 1),
            ("conv", "conv5", 256, 3, 1, 1), ("pool", "pool5", 3, 2)]
    feats, ch = _features(c, min(h, w), plan)
    return ClassicNet(feats, ch, 6, num_classes, dropout_first=True)


def alexnet_caffe(num_classes: int = 1000, in_shape=(3, 227, 227)):
    c, h, w = check_in_shape("alexnet_caffe", in_shape, min_hw=1)
    pad1 = max(0, -(-(11 - min(h, w)) // 2))      # unpadded as published; padded only below 11x11 (digits)
    plan = [("conv", "conv1", 96, 11, 4, pad1), ("lrn", "norm1"), ("pool", "pool1", 3, 2),
            ("conv", "conv2", 256, 5, 1, 2, 2), ("lrn", "norm2"), ("pool", "pool2", 3, 2),
            ("conv", "conv3", 384, 3, 1, 1), ("conv", "conv4", 384, 3, 1, 1, 2),
            ("conv", "conv5", 256, 3, 1, 1, 2), ("pool", "pool5", 3, 2)]
    feats, ch = _features(c, min(h, w), plan)
    return ClassicNet(feats, ch, 6, num_classes, dropout_first=True)


def vgg16(num_classes: int = 1000, in_shape=(3, 224, 224)):
    c, h, w = check_in_shape("vgg16", in_shape, min_hw=1)
    plan: list[tuple] = []
    for block, (n, out) in enumerate(((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)), 1):
        plan += [("conv", f"conv{block}_{i}", out, 3, 1, 1) for i in range(1, n + 1)] + [("pool", f"pool{block}", 2, 2)]
    feats, ch = _features(c, min(h, w), plan)
    return ClassicNet(feats, ch, 7, num_classes, dropout_first=False)
