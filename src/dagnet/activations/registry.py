"""Names of activations usable on network nodes.

A node's activation is a name registered here or any differentiable,
element-wise torch callable. The names with a *fast code* are computed inside
the compiled kernels (their derivative is read off the activation value);
the others run as torch code on the node's slice of the batch buffer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..engine.codes import CUSTOM, FAST_CODES, IDENTITY
from .functional import ada, leaky_ada

__all__ = ["resolve_activation", "register_activation", "FAST_CODES", "CUSTOM", "IDENTITY"]

_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "identity": lambda z: z,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "leaky_relu": F.leaky_relu,
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,
    "silu": F.silu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "mish": F.mish,
    "sin": torch.sin,
    "ada": ada,  # alpha = 0.1
    "leaky_ada": leaky_ada,  # alpha = 0.1, slope = 0.01
}

_ALIASES = {"linear": "identity", "none": "identity", "swish": "silu"}


def register_activation(name: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Make ``fn`` (element-wise, differentiable) usable as a node activation called ``name``.

    Examples
    --------
    >>> register_activation("cube", lambda z: z ** 3)
    >>> resolve_activation("cube")[0]
    'cube'
    """
    key = name.lower()
    if key in _FUNCTIONS or key in _ALIASES:
        raise ValueError(f"An activation called {name!r} is already registered.")
    _FUNCTIONS[key] = fn


def resolve_activation(act: str | Callable) -> tuple[str | Callable, int, Callable]:
    """Return ``(key, code, function)`` for an activation name or callable.

    ``key`` is the canonical name (or the callable itself), ``code`` the kernel's
    fast code (``CUSTOM`` for torch code), ``function`` the torch callable.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known ones.

    Examples
    --------
    >>> resolve_activation("ReLU")[:2]
    ('relu', 1)
    """
    if isinstance(act, str):
        key = _ALIASES.get(act.lower(), act.lower())
        if key not in _FUNCTIONS:
            known = ", ".join(sorted(set(_FUNCTIONS) | set(_ALIASES)))
            raise ValueError(f"Unknown activation {act!r}. Known names: {known}; or pass a callable.")
        return key, FAST_CODES.get(key, CUSTOM), _FUNCTIONS[key]
    if callable(act):
        return act, CUSTOM, act
    raise ValueError(f"An activation must be a name or a callable, got {act!r}.")
