"""DenseNets (Huang et al. 2017) as Graham trained them: DenseNet-(40, 12) and DenseNet-(100, 12) (Graham 2017).

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




def densenet40(num_classes: int = 10, in_shape=(3, 32, 32), growth: int = 12):
    return build_densenet("densenet40", 40, int(growth), num_classes, in_shape)


def densenet100(num_classes: int = 10, in_shape=(3, 32, 32), growth: int = 12):
    return build_densenet("densenet100", 100, int(growth), num_classes, in_shape)


# ---------------------------------------------------------------------------------------------------
# DenseNet-BC for ImageNet (Huang et al. 2017, Table 1): the DenseNet-121 and DenseNet-201 that
# Graham retrofits with low-precision batch-norm (Tables 5 and 6). Layout of the reference
# implementations (torchvision's densenet121/201): 64C7/2 - BN - ReLU - MP3/2, dense blocks of
# BN - ReLU - 1x1 conv (4 x growth) - BN - ReLU - 3x3 conv (growth), transitions BN - ReLU - 1x1 conv
# halving the channels - 2x2 average pool, then BN - ReLU - global average pool - FC.
# Parameters at 1000 classes: 7,978,856 (121) and 20,013,928 (201), the published counts.


class BottleneckLayer(nn.Module):
    def __init__(self, in_ch: int, growth: int, bn_size: int = 4):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.relu1 = nn.ReLU(inplace=False)
        self.conv1 = nn.Conv2d(in_ch, bn_size * growth, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(bn_size * growth)
        self.relu2 = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, 1, 1, bias=False)

    def forward(self, x):
        y = self.conv1(self.relu1(self.bn1(x)))
        return torch.cat([x, self.conv2(self.relu2(self.bn2(y)))], 1)


class CompressTransition(nn.Module):
    def __init__(self, ch: int, out_ch: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(ch)
        self.relu = nn.ReLU(inplace=False)
        self.conv = nn.Conv2d(ch, out_ch, 1, bias=False)
        self.pool = nn.AvgPool2d(2, 2, ceil_mode=True)

    def forward(self, x):
        return self.pool(self.conv(self.relu(self.bn(x))))


class DenseNetBC(Chain):
    def __init__(self, num_classes: int, in_ch: int, blocks: tuple[int, ...], growth: int = 32, stem: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu1 = nn.ReLU(inplace=False)
        self.pool1 = nn.MaxPool2d(3, 2, 1)
        ch = stem
        for b, n in enumerate(blocks):
            block = nn.Sequential()
            for i in range(n):
                block.add_module(f"layer{i + 1}", BottleneckLayer(ch, growth))
                ch += growth
            self.add_module(f"block{b + 1}", block)
            if b < len(blocks) - 1:
                self.add_module(f"trans{b + 1}", CompressTransition(ch, ch // 2))
                ch //= 2
        self.bn = nn.BatchNorm2d(ch)
        self.relu = nn.ReLU(inplace=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(ch, num_classes)




def densenet121(num_classes: int = 1000, in_shape=(3, 224, 224), growth: int = 32):
    c, _, _ = check_in_shape("densenet121", in_shape)
    check_positive("densenet121", growth=growth)
    return DenseNetBC(num_classes, c, (6, 12, 24, 16), int(growth))


def densenet201(num_classes: int = 1000, in_shape=(3, 224, 224), growth: int = 32):
    c, _, _ = check_in_shape("densenet201", in_shape)
    check_positive("densenet201", growth=growth)
    return DenseNetBC(num_classes, c, (6, 12, 48, 32), int(growth))
