"""A user's own network for hwsim: a factory returning an ``nn.Module``.

    hwsim count examples/user_model/tiny_net.py:make --scheme bnn
    hwsim sweep examples/user_model/sweep.yaml

``make.input_shape`` tells hwsim the input without the batch (``--input`` overrides it);
``num_classes`` is filled in from the data set because the factory names it.
"""

from torch import nn


def make(num_classes: int = 10, width: int = 8, hidden: int = 32) -> nn.Module:
    """Two 3x3 convolutions and two fully-connected layers, for 1x8x8 digits."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * width * 4 * 4, hidden),
        nn.ReLU(),
        nn.Linear(hidden, num_classes),
    )


make.input_shape = (1, 8, 8)
