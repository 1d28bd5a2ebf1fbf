"""Activation functions, and the names by which network nodes refer to them."""

from .functional import (
    ada,
    ail,
    all_relu,
    all_relu_slope,
    and_ail,
    and_exact,
    isotropic_tanh,
    leaky_ada,
    or_ail,
    or_exact,
    xnor_ail,
    xnor_exact,
)
from .modules import ADA, AIL, AllReLU, IsotropicTanh, LeakyADA
from .registry import FAST_CODES, register_activation, resolve_activation

__all__ = [
    "resolve_activation",
    "register_activation",
    "FAST_CODES",
    # functions
    "ada",
    "leaky_ada",
    "and_ail",
    "or_ail",
    "xnor_ail",
    "and_exact",
    "or_exact",
    "xnor_exact",
    "ail",
    "all_relu",
    "all_relu_slope",
    "isotropic_tanh",
    # modules
    "ADA",
    "LeakyADA",
    "AIL",
    "AllReLU",
    "IsotropicTanh",
]
