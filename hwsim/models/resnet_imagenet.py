"""ResNet-18 and ResNet-50 for 224x224 ImageNet, with exactly torchvision's layer layout.

conv1 7x7/2 (64) - BN - ReLU - maxpool 3x3/2 - layer1..layer4 (BasicBlock x [2,2,2,2] for
ResNet-18, Bottleneck x [3,4,6,3] with the stride on the 3x3 conv, "ResNet v1.5", for
ResNet-50) - adaptive average pool - fc. Downsampling shortcuts are ``downsample`` =
conv1x1/stride + BN. Parameter names match torchvision's, so its state dicts load.
Differences from torchvision: each ReLU is its own module (relu1, relu2, ...) because a
shared module would be called several times per forward pass.

``width`` multiplies the channels of every layer after the 64-channel stem convolution:
``resnet18`` with ``width=2`` (preset ``wrn18_2``) is Graham's WideResNet-(2,18) (Graham 2017,
Table 4: "all layers after the initial convolution have double the width of a regular ResNet-18").

Checks (tests/test_models.py, torch.utils.flop_counter at 1x3x224x224): ResNet-18
1,814,073,344 forward MACs and 11,689,512 parameters; ResNet-50 4,089,184,256 MACs and
25,557,032 parameters. Graham 2017 (Table 4) and McDonnell 2017 use these nets.
"""

from __future__ import annotations

import torch.nn as nn

from hwsim.models._common import check_in_shape, check_positive, scaled


def _downsample(in_ch: int, out_ch: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _downsample(in_ch, planes, stride)
        self.relu2 = nn.ReLU(inplace=False)

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu2(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1):
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU(inplace=False)
        self.conv3 = nn.Conv2d(planes, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.downsample = _downsample(in_ch, out_ch, stride)
        self.relu3 = nn.ReLU(inplace=False)

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu3(out + identity)


class ResNet(nn.Module):
    def __init__(self, block, layers: list[int], num_classes: int, in_ch: int, width: float = 1.0):
        super().__init__()
        stem = 64  # Graham's WideResNet-(2,18): "all layers after the initial convolution" are widened
        self.conv1 = nn.Conv2d(in_ch, stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=False)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        ch = stem
        stages = []
        for i, n in enumerate(layers):
            planes = scaled(64 * 2 ** i, width)
            blocks = []
            for j in range(n):
                blocks.append(block(ch, planes, 2 if (i > 0 and j == 0) else 1))
                ch = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(ch, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.flatten(self.avgpool(x)))




def _build(name, block, layers, num_classes, in_shape, width):
    c, _, _ = check_in_shape(name, in_shape)
    check_positive(name, width=width)
    return ResNet(block, layers, num_classes, c, width)


def resnet18(num_classes: int = 1000, in_shape=(3, 224, 224), width: float = 1.0):
    return _build("resnet18", BasicBlock, [2, 2, 2, 2], num_classes, in_shape, width)


def wrn18_2(num_classes: int = 1000, in_shape=(3, 224, 224)):
    return _build("wrn18_2", BasicBlock, [2, 2, 2, 2], num_classes, in_shape, 2.0)


def resnet50(num_classes: int = 1000, in_shape=(3, 224, 224), width: float = 1.0):
    return _build("resnet50", Bottleneck, [3, 4, 6, 3], num_classes, in_shape, width)
