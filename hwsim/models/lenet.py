"""LeNet-300-100 and Caffe's LeNet-5, the MNIST networks of Han et al. (Shanbhag 2020: deep compression table).

* ``lenet300``: 784-300-100-10 fully connected with ReLU (LeCun et al. 1998); the input is
  flattened, so any (C, H, W) works (the first layer has C*H*W inputs). 266,610 parameters on MNIST.
* ``lenet5``: Caffe's ``examples/mnist/lenet.prototxt``, as pruned by Han et al.:
  20C5 - MP2 - 50C5 - MP2 - 500FC - ReLU - 10FC (Caffe puts no ReLU after the convolutions).
  431,080 parameters on MNIST (the seed's "431K"). For inputs smaller than 16x16 the two
  convolutions get padding 2 ("same") so that an 8x8 digit still reaches the classifier.
"""

from __future__ import annotations

import math

import torch.nn as nn

from hwsim.models._common import check_in_shape, check_positive, conv_out


class LeNet300(nn.Module):
    def __init__(self, num_classes: int, in_features: int, hidden: tuple[int, int] = (300, 100)):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(in_features, hidden[0])
        self.relu1 = nn.ReLU(inplace=False)
        self.fc2 = nn.Linear(hidden[0], hidden[1])
        self.relu2 = nn.ReLU(inplace=False)
        self.fc3 = nn.Linear(hidden[1], num_classes)

    def forward(self, x):
        x = self.flatten(x)
        x = self.relu1(self.fc1(x))
        x = self.relu2(self.fc2(x))
        return self.fc3(x)


class LeNet5(nn.Module):
    def __init__(self, num_classes: int, in_shape: tuple[int, int, int]):
        super().__init__()
        c, h, w = in_shape
        pad = 0 if min(h, w) >= 16 else 2
        self.conv1 = nn.Conv2d(c, 20, 5, padding=pad)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(20, 50, 5, padding=pad)
        self.pool2 = nn.MaxPool2d(2, 2)
        self.flatten = nn.Flatten()
        oh, ow = (conv_out(conv_out(conv_out(conv_out(s, 5, 1, pad), 2, 2), 5, 1, pad), 2, 2) for s in (h, w))
        self.fc1 = nn.Linear(50 * oh * ow, 500)
        self.relu1 = nn.ReLU(inplace=False)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x):
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        x = self.relu1(self.fc1(self.flatten(x)))
        return self.fc2(x)


def lenet300(num_classes: int = 10, in_shape=(1, 28, 28), hidden1: int = 300, hidden2: int = 100):
    check_in_shape("lenet300", in_shape)
    check_positive("lenet300", hidden1=hidden1, hidden2=hidden2)
    return LeNet300(num_classes, math.prod(int(v) for v in in_shape), (int(hidden1), int(hidden2)))


def lenet5(num_classes: int = 10, in_shape=(1, 28, 28)):
    return LeNet5(num_classes, check_in_shape("lenet5", in_shape, min_hw=4))
