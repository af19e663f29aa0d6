"""Wide residual networks (Zagoruyko & Komodakis 2016) and McDonnell's WRN-20-k (McDonnell 2017).

``wrn(depth, k)`` picks the layout from the depth:

* depth = 6n + 4 (28, 40, ...): Zagoruyko's WRN-d-k. 3x3 conv to 16 channels, three stages of
  n pre-activation basic blocks (16k, 32k, 64k channels, stride 2 at stages 2 and 3), 1x1
  convolution shortcuts where the shape changes, BN-ReLU-global average pool-FC.
  WRN-28-10 has 36.5M parameters (McDonnell 2017's table), WRN-40-4 8.9M (Graham's
  WideResNet-(4,40), Graham 2017 Table 3).
* depth = 6n + 2 (20, ...): McDonnell's "wide residual networks with 20 weight layers":
  the first 3x3 conv already has 16k channels, three stages of n = 3 blocks, and the
  shortcuts have no weights (2x2 average pooling with stride 2, then zero-padding of the
  extra channels), so conv + 18 block convs + FC = 20 weight layers. WRN-20-4 has 4.3M and
  WRN-20-10 26.8M parameters, the seed's figures. (Parameter-free downsampling shortcuts are
  our reading of "20 weight layers"; the seed does not draw the network.)
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from hwsim.errors import UserError
from hwsim.models._common import check_in_shape, check_positive
from hwsim.models.resnet_cifar import PreActResNet


class ZeroPadShortcut(nn.Module):
    """Parameter-free shortcut: average-pool by the stride (ceil mode), zero-pad the extra channels."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.extra = out_ch - in_ch
        self.pool = nn.AvgPool2d(stride, stride, ceil_mode=True) if stride > 1 else None

    def forward(self, x):
        if self.pool is not None:
            x = self.pool(x)
        return F.pad(x, (0, 0, 0, 0, 0, self.extra)) if self.extra else x


class PreActBlockZeroPad(nn.Module):
    """Pre-activation basic block whose shortcut has no weights (McDonnell's WRN-20)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.relu1 = nn.ReLU(inplace=False)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu2 = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.shortcut = ZeroPadShortcut(in_ch, out_ch, stride) if stride != 1 or in_ch != out_ch else None

    def forward(self, x):
        out = self.conv1(self.relu1(self.bn1(x)))
        out = self.conv2(self.relu2(self.bn2(out)))
        return out + (self.shortcut(x) if self.shortcut is not None else x)


def build_wrn(name: str, depth: int, k: int, num_classes: int, in_shape) -> PreActResNet:
    c, _, _ = check_in_shape(name, in_shape)
    check_positive(name, depth=depth, k=k)
    widths = (16 * k, 32 * k, 64 * k)
    if depth >= 10 and (depth - 4) % 6 == 0:
        return PreActResNet(num_classes, c, (depth - 4) // 6, widths, 16)
    if depth >= 8 and (depth - 2) % 6 == 0:
        return PreActResNet(num_classes, c, (depth - 2) // 6, widths, 16 * k, block=PreActBlockZeroPad)
    raise UserError(f"model.{name}.depth", f"depth must be 6n+4 (Zagoruyko: 10, 16, 22, 28, 40, ...) or "
                    f"6n+2 (McDonnell: 8, 14, 20, ...), got {depth}")




def wrn(num_classes: int = 10, in_shape=(3, 32, 32), depth: int = 28, k: int = 10):
    return build_wrn("wrn", int(depth), int(k), num_classes, in_shape)


def wrn20_4(num_classes: int = 10, in_shape=(3, 32, 32)):
    return build_wrn("wrn20_4", 20, 4, num_classes, in_shape)


def wrn20_10(num_classes: int = 10, in_shape=(3, 32, 32)):
    return build_wrn("wrn20_10", 20, 10, num_classes, in_shape)


def wrn28_10(num_classes: int = 10, in_shape=(3, 32, 32)):
    return build_wrn("wrn28_10", 28, 10, num_classes, in_shape)


def wrn40_4(num_classes: int = 10, in_shape=(3, 32, 32)):
    return build_wrn("wrn40_4", 40, 4, num_classes, in_shape)
