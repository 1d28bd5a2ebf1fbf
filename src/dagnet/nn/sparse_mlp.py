"""Sparse multilayer perceptrons: SET-MLPs and ERK density budgets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .._checks import check_choice, check_float, check_int, invalid
from ..activations.modules import AllReLU
from ..seeding import numpy_rng, resolve_seed
from .dropout import Dropout
from .sparse_linear import SparseLinear, _given, check_layer_sizes, connection_probability

__all__ = ["erk_densities", "sparse_mlp"]


def erk_densities(shapes: Sequence[Sequence[int]], density: float) -> list[float]:
    """Return the Erdős–Rényi-Kernel density of each layer for a whole-model ``density``.

    RigL's ERK rule: layer ``i`` with shape ``(n_out, n_in, *kernel)`` gets a
    density proportional to ``sum(shape) / prod(shape)``, one scale solved so
    that the model's connections total ``density`` times its dense count;
    layers that would exceed 1 are made dense and the scale is solved again.

    Parameters
    ----------
    shapes : sequence of shapes
        E.g. ``[(400, 500), (100, 400)]`` for ``nn.Linear`` weights.
    density : float in (0, 1]

    Returns
    -------
    list of float
        One density in (0, 1] per layer.

    Examples
    --------
    >>> d = erk_densities([(400, 500), (100, 400), (2, 100)], 0.1)
    >>> [round(x, 3) for x in d]
    [0.077, 0.213, 1.0]
    """
    check_float(density, "density", "erk_densities", 0, 1, low_open=True)
    shapes = [tuple(int(d) for d in s) for s in shapes]
    if not shapes or any(len(s) < 2 or min(s) < 1 for s in shapes):
        raise invalid("shapes", "erk_densities", "shapes of at least two positive sizes", shapes)
    size = np.array([np.prod(s, dtype=np.float64) for s in shapes])
    raw = np.array([sum(s) for s in shapes], dtype=np.float64) / size
    dense = np.zeros(len(shapes), dtype=bool)
    budget = density * size.sum()
    while True:
        scale = (budget - size[dense].sum()) / (raw[~dense] * size[~dense]).sum()
        over = ~dense & (scale * raw > 1)
        if not over.any():
            break
        dense |= over
        if dense.all():
            break
    return [1.0 if d else float(min(1.0, scale * r)) for d, r in zip(dense, raw)]


def sparse_mlp(
    sizes: Sequence[int],
    density: float | None = None,
    epsilon: float | None = None,
    activation: str = "relu",
    slope: float = 0.6,
    dropout: float = 0.0,
    bias: bool = True,
    seed: int | None = None,
    dtype: torch.dtype | None = None,
    init: str = "kaiming_uniform",
) -> nn.Sequential:
    """Return a SET-MLP: :class:`SparseLinear` layers with activations (and dropout) between them.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, inputs first, outputs last (at least two).
    density : float in (0, 1], optional
        The whole model's density, spread over layers by :func:`erk_densities`.
    epsilon : float, optional
        SET's per-layer density parameter, used when ``density`` is not given
        (default 20).
    activation : {"relu", "all_relu", "tanh", "sigmoid"}, default "relu"
        Hidden activation. ``"all_relu"`` is the truly sparse paper's leaky
        ReLU whose slope alternates sign layer by layer (magnitude ``slope``).
    dropout : float in [0, 1), default 0
        Dropout after each hidden activation (:class:`~dagnet.nn.Dropout`,
        seeded, so training resumes bit for bit).
    bias : bool, default True
    seed : int, numpy Generator or random.Random, optional
        Seed of the connections and initial values (layer ``i`` uses a seed
        drawn from it).
    dtype : torch.dtype, optional
    init : str, default "kaiming_uniform"
        Each layer's initialisation (see :class:`SparseLinear`); ``"he_uniform"``
        is the SET code's, on the dense fan-in with zero biases.

    Returns
    -------
    torch.nn.Sequential
        Logits out (no final activation).

    Raises
    ------
    ValueError
        If an argument is invalid, or the layers' expected connections would
        not fit in this machine's memory (checked before any layer is built).

    Examples
    --------
    >>> mlp = sparse_mlp([64, 100, 10], epsilon=5, seed=0)
    >>> mlp(torch.zeros(2, 64)).shape
    torch.Size([2, 10])
    """
    sizes = [check_int(s, "sizes", "sparse_mlp") for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"The 'sizes' parameter of sparse_mlp needs at least two widths. Got {sizes!r} instead.")
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "all_relu": None}
    check_choice(activation, "activation", "sparse_mlp", sorted(acts))
    check_float(dropout, "dropout", "sparse_mlp", 0, 1, high_open=True)
    pairs = list(zip(sizes[:-1], sizes[1:]))
    if density is not None:
        connection_probability(1, 1, density, epsilon)  # argument checks
        per_layer = erk_densities([(o, i) for i, o in pairs], density)
    else:
        per_layer = [connection_probability(i, o, None, epsilon) for i, o in pairs]
    check_layer_sizes(
        f"sparse_mlp({sizes}, {_given(density, epsilon)})", [(i, o, p) for (i, o), p in zip(pairs, per_layer)]
    )
    seeds = numpy_rng(resolve_seed(seed)).integers(0, 2**62, size=2 * len(pairs))
    layers: list[nn.Module] = []
    for k, ((n_in, n_out), p) in enumerate(zip(pairs, per_layer)):
        layers.append(SparseLinear(n_in, n_out, density=p, bias=bias, init=init, seed=int(seeds[k]), dtype=dtype))
        if k < len(pairs) - 1:
            layers.append(AllReLU(k, slope) if activation == "all_relu" else acts[activation]())
            if dropout > 0:
                layers.append(Dropout(dropout, seed=int(seeds[len(pairs) + k])))
    return nn.Sequential(*layers)
