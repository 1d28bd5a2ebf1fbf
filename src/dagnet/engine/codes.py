"""Activation codes: the element-wise activations the compiled kernels compute themselves.

Every other activation runs as torch code on its node's slice of the batch
buffer (code :data:`CUSTOM`). The kernels read a fast activation's derivative
off its value, so each has one here.
"""

from __future__ import annotations

__all__ = ["CUSTOM", "IDENTITY", "RELU", "TANH", "SIGMOID", "LEAKY_RELU", "LEAKY_SLOPE", "FAST_CODES"]

CUSTOM = -1
IDENTITY = 0
RELU = 1
TANH = 2
SIGMOID = 3
LEAKY_RELU = 4
LEAKY_SLOPE = 0.01  # torch.nn.LeakyReLU's default negative slope

#: Names of the activations with a code, as :mod:`dagnet.activations` registers them.
FAST_CODES = {
    "identity": IDENTITY,
    "relu": RELU,
    "tanh": TANH,
    "sigmoid": SIGMOID,
    "leaky_relu": LEAKY_RELU,
}
