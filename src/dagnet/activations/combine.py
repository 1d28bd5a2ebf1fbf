"""How a multi-branch node combines the sums of its dendritic branches.

A node with a ``combine`` attribute other than ``"sum"`` has one weighted sum
per branch, ``z_k = b_k + sum of w_uv a_u over its in-edges of branch k``
(edge attribute ``branch``, default 0), and computes ``a_v = f_v(c(z_0, ...))``
where ``c`` is the combine and ``f_v`` the node's ``activation`` attribute
(identity when absent).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .functional import ada, and_ail, and_exact, or_ail, or_exact, xnor_ail, xnor_exact

__all__ = ["COMBINES", "resolve_combine", "apply_combine"]


def _pair(op):
    return lambda z: op(z[:, 0], z[:, 1])


def _pynada(z: torch.Tensor) -> torch.Tensor:
    # Branch 0 is basal (ReLU), branch 1 apical (ADA): ReLU(z_basal) + ADA(z_apical).
    return torch.relu(z[:, 0]) + ada(z[:, 1])


# name -> (number of branches it needs, or None for any; function of (nodes, branches, batch))
COMBINES: dict[str, tuple[int | None, Callable[[torch.Tensor], torch.Tensor]]] = {
    "max": (None, lambda z: z.max(dim=1).values),
    "pynada": (2, _pynada),
    "and": (2, _pair(and_ail)),
    "or": (2, _pair(or_ail)),
    "xnor": (2, _pair(xnor_ail)),
    "and_exact": (2, _pair(and_exact)),
    "or_exact": (2, _pair(or_exact)),
    "xnor_exact": (2, _pair(xnor_exact)),
}


def resolve_combine(spec) -> tuple[object, int | None]:
    """Return ``(key, arity)`` of a combine name or callable; ``key`` is None for ``"sum"``.

    Examples
    --------
    >>> resolve_combine("pynada")
    ('pynada', 2)
    >>> resolve_combine("sum")
    (None, None)
    """
    if spec is None or (isinstance(spec, str) and spec.lower() == "sum"):
        return None, None
    if isinstance(spec, str):
        key = spec.lower()
        if key not in COMBINES:
            known = ", ".join(["sum", *COMBINES])
            raise ValueError(f"Unknown combine {spec!r}. Known names: {known}; or pass a callable.")
        return key, COMBINES[key][0]
    if callable(spec):
        return spec, None
    raise ValueError(f"A combine must be a name or a callable, got {spec!r}.")


def apply_combine(key, z: torch.Tensor) -> torch.Tensor:
    """Combine branch sums ``z`` of shape (nodes, branches, batch) into (nodes, batch).

    A callable ``key`` receives a (rows, branches) tensor (every node and
    sample a row) and returns one value per row.

    Examples
    --------
    >>> apply_combine("max", torch.tensor([[[1.0, -2.0], [0.5, 3.0]]]))
    tensor([[1., 3.]])
    """
    if isinstance(key, str):
        return COMBINES[key][1](z)
    m, k, b = z.shape
    rows = z.permute(0, 2, 1).reshape(m * b, k)
    out = key(rows)
    if not isinstance(out, torch.Tensor) or out.shape != (m * b,):
        raise ValueError(
            f"The combine {key!r} must map a (rows, branches) tensor to (rows,); "
            f"got {getattr(out, 'shape', type(out))} from {tuple(rows.shape)}."
        )
    return out.reshape(m, b)
