"""Pre-activation ResNets for CIFAR (He et al. 2016, "Identity mappings in deep residual networks").

Layout (depth = 6n + 2): 3x3 conv to 16w channels, three stages of n pre-activation basic
blocks with 16w, 32w, 64w channels (stride 2 at the start of stages 2 and 3), then
BN - ReLU - global average pooling - FC. A block is
``BN - ReLU - conv3x3 - BN - ReLU - conv3x3`` plus the shortcut; where the shape changes the
shortcut is a 1x1 convolution with stride on the pre-activated input (option B, as in
fb.resnet.torch's preresnet, which Graham used; Graham 2017 Table 3: ResNet-20, ResNet-44).
ResNet-20/44/56 have n = 3/7/9. Global pooling makes any input size >= 1x1 work.
"""

from __future__ import annotations

import torch.nn as nn

from hwsim.models._common import check_in_shape, check_positive, scaled


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3 + shortcut (identity, or 1x1 conv on the pre-activated input)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.relu1 = nn.ReLU(inplace=False)
        self.shortcut = (nn.Conv2d(in_ch, out_ch, 1, stride, bias=False)
                         if stride != 1 or in_ch != out_ch else None)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu2 = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)

    def forward(self, x):
        out = self.relu1(self.bn1(x))
        sc = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(self.relu2(self.bn2(out)))
        return out + sc


class PreActResNet(nn.Module):
    def __init__(self, num_classes: int, in_ch: int, blocks_per_stage: int, widths: tuple[int, int, int],
                 stem: int, block=PreActBlock):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, stem, 3, 1, 1, bias=False)
        stages = []
        ch = stem
        for i, w in enumerate(widths):
            blocks = []
            for j in range(blocks_per_stage):
                blocks.append(block(ch, w, 2 if (i > 0 and j == 0) else 1))
                ch = w
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.bn = nn.BatchNorm2d(ch)
        self.relu = nn.ReLU(inplace=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(ch, num_classes)

    def forward(self, x):
        x = self.conv1(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.relu(self.bn(x))
        return self.fc(self.flatten(self.pool(x)))


def preact_resnet(name: str, depth: int, num_classes: int, in_shape, width: float) -> PreActResNet:
    c, _, _ = check_in_shape(name, in_shape)
    check_positive(name, width=width)
    n = (depth - 2) // 6
    widths = (scaled(16, width), scaled(32, width), scaled(64, width))
    return PreActResNet(num_classes, c, n, widths, widths[0])




def resnet20(num_classes: int = 10, in_shape=(3, 32, 32), width: float = 1.0):
    return preact_resnet("resnet20", 20, num_classes, in_shape, width)


def resnet44(num_classes: int = 10, in_shape=(3, 32, 32), width: float = 1.0):
    return preact_resnet("resnet44", 44, num_classes, in_shape, width)


def resnet56(num_classes: int = 10, in_shape=(3, 32, 32), width: float = 1.0):
    return preact_resnet("resnet56", 56, num_classes, in_shape, width)
