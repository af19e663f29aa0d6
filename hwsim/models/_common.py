"""Small helpers shared by the built-in networks (not a registry module: its name starts with '_').

Conventions every built-in network keeps, because the counter and the schemes rely on them:
every operation is a module (``nn.ReLU(inplace=False)``, ``nn.BatchNorm2d``, ``nn.MaxPool2d``,
``nn.Flatten``), modules are registered in the order ``forward`` calls them, each module is
called once per forward pass (no shared ReLU), and residual adds are written with ``+``.
A weight layer followed by batch-norm has no bias (the BN shift makes it redundant).
"""

from __future__ import annotations

import torch.nn as nn

from hwsim.errors import UserError


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution or pooling window: floor((size + 2p - k) / s) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def check_in_shape(model: str, in_shape, min_hw: int = 1) -> tuple[int, int, int]:
    """Validate (C, H, W); spatial sizes below ``min_hw`` are a user error."""
    try:
        c, h, w = (int(v) for v in in_shape)
    except (TypeError, ValueError):
        raise UserError(f"model.{model}.in_shape", f"expected (C, H, W), got {in_shape!r}") from None
    if c < 1 or h < min_hw or w < min_hw:
        raise UserError(f"model.{model}.in_shape",
                        f"input {c}x{h}x{w} too small; {model} needs C >= 1 and H, W >= {min_hw}")
    return c, h, w


def check_positive(model: str, **values) -> None:
    for k, v in values.items():
        if v is None or v <= 0:
            raise UserError(f"model.{model}.{k}", f"must be positive, got {v!r}")


def scaled(channels: int, width: float) -> int:
    """Channels times a width multiplier, at least 1."""
    return max(1, int(round(channels * width)))


class Chain(nn.Module):
    """A network whose forward pass runs its child modules in the order they were registered.

    The same computation as ``nn.Sequential``, kept as a plain module so the networks built on it
    are not mistaken for a container by code that walks ``nn.Sequential`` blocks.
    """

    def forward(self, x):
        for mod in self.children():
            x = mod(x)
        return x
