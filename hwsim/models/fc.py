"""Graham's permutation-invariant fully connected network (Graham 2017, section 2.1).

FC(2^n) - BN - ReLU - FC(2^n) - BN - ReLU - FC(classes), on the flattened input
(CIFAR-10: 3,072 features), for n = 0..10 in the paper. The two hidden linear layers
have no bias (the batch-norm shift replaces it).
"""

from __future__ import annotations

import math

import torch.nn as nn

from hwsim.errors import UserError
from hwsim.models._common import check_in_shape


class GrahamFC(nn.Module):
    def __init__(self, num_classes: int, in_features: int, hidden: int):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(in_features, hidden, bias=False)
        self.bn1 = nn.BatchNorm1d(hidden)
        self.relu1 = nn.ReLU(inplace=False)
        self.fc2 = nn.Linear(hidden, hidden, bias=False)
        self.bn2 = nn.BatchNorm1d(hidden)
        self.relu2 = nn.ReLU(inplace=False)
        self.fc3 = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = self.relu1(self.bn1(self.fc1(self.flatten(x))))
        x = self.relu2(self.bn2(self.fc2(x)))
        return self.fc3(x)


def graham_fc(num_classes: int = 10, in_shape=(3, 32, 32), n: int = 10):
    check_in_shape("graham_fc", in_shape)
    if not isinstance(n, int) or not 0 <= n <= 16:
        raise UserError("model.graham_fc.n", f"n is an integer in 0..16 (hidden width 2^n), got {n!r}")
    return GrahamFC(num_classes, math.prod(int(v) for v in in_shape), 2 ** n)
