"""DenseNets (Huang et al. 2017) as Graham trained them: DenseNet-(40, 12) and DenseNet-(100, 12) (seed 004).

The standard (non-BC) variant, which is what Graham's "DenseNet-(3N+4, 12)" describes: a
3x3 conv to 16 channels, three dense blocks of N = (depth - 4) / 3 layers (N = 12 and 32),
each layer BN - ReLU - conv3x3 producing ``growth`` channels concatenated to its input,
transitions BN - ReLU - conv1x1 (channels kept, no compression) - 2x2 average pool between
blocks, then BN - ReLU - global average pool - FC. No dropout (the data-augmented setting).
Parameters: 1,019,722 for (40, 12) and 6,979,642 for (100, 12) (10 classes), Huang et al.'s 1.0M and 7.0M.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from hwsim.errors import UserError
from hwsim.models import register_model
from hwsim.models._common import Chain, check_in_shape, check_positive


class DenseLayer(nn.Module):
    def __init__(self, in_ch: int, growth: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_ch)
        self.relu = nn.ReLU(inplace=False)
        self.conv = nn.Conv2d(in_ch, growth, 3, 1, 1, bias=False)

    def forward(self, x):
        return torch.cat([x, self.conv(self.relu(self.bn(x)))], 1)


class Transition(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(ch)
        self.relu = nn.ReLU(inplace=False)
        self.conv = nn.Conv2d(ch, ch, 1, bias=False)
        self.pool = nn.AvgPool2d(2, 2, ceil_mode=True)

    def forward(self, x):
        return self.pool(self.conv(self.relu(self.bn(x))))


class DenseNet(Chain):
    def __init__(self, num_classes: int, in_ch: int, layers_per_block: int, growth: int, stem: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, stem, 3, 1, 1, bias=False)
        ch = stem
        for b in range(3):
            block = nn.Sequential()
            for i in range(layers_per_block):
                block.add_module(f"layer{i + 1}", DenseLayer(ch, growth))
                ch += growth
            self.add_module(f"block{b + 1}", block)
            if b < 2:
                self.add_module(f"trans{b + 1}", Transition(ch))
        self.bn = nn.BatchNorm2d(ch)
        self.relu = nn.ReLU(inplace=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(ch, num_classes)


def build_densenet(name: str, depth: int, growth: int, num_classes: int, in_shape) -> DenseNet:
    c, _, _ = check_in_shape(name, in_shape)
    check_positive(name, depth=depth, growth=growth)
    if depth < 7 or (depth - 4) % 3:
        raise UserError(f"model.{name}.depth", f"depth must be 3N+4 (40, 100, ...), got {depth}")
    return DenseNet(num_classes, c, (depth - 4) // 3, growth)


_SEED = "Huang et al. 2017; Graham 2017 DenseNet-(40,12), DenseNet-(100,12) (seed 004)"


@register_model("densenet40", "DenseNet-(40,12): 3 dense blocks x 12 BN-ReLU-conv3x3 layers, growth 12",
                _SEED, (3, 32, 32), 10)
def densenet40(num_classes: int = 10, in_shape=(3, 32, 32), growth: int = 12):
    return build_densenet("densenet40", 40, int(growth), num_classes, in_shape)


@register_model("densenet100", "DenseNet-(100,12): 3 dense blocks x 32 BN-ReLU-conv3x3 layers, growth 12",
                _SEED, (3, 32, 32), 10)
def densenet100(num_classes: int = 10, in_shape=(3, 32, 32), growth: int = 12):
    return build_densenet("densenet100", 100, int(growth), num_classes, in_shape)
