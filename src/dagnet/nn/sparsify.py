"""`sparsify`: an existing model's linear layers made truly sparse, every other layer untouched."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch import nn

from .._checks import check_choice, invalid
from ..errors import DeadNodeWarning
from ..seeding import numpy_rng, resolve_seed
from ..topology._sampling import bernoulli_positions
from ..wiring import Wiring
from .dag_network import DAGNetwork
from .sparse_linear import SparseLinear, connection_probability

__all__ = ["sparsify", "sparse_from_dense"]

KEEP = ("random", "magnitude")


def sparse_from_dense(linear: nn.Linear, keep: np.ndarray) -> SparseLinear:
    """Return a :class:`SparseLinear` holding the connections ``keep`` of ``linear`` with their values.

    ``keep`` is the flat indices into ``linear.weight`` (out_features x
    in_features, row-major) of the connections to keep; the bias is copied.
    Same dtype and device.

    Examples
    --------
    >>> lin = nn.Linear(3, 2)
    >>> sparse = sparse_from_dense(lin, np.array([0, 4]))   # W[0, 0] and W[1, 1]
    >>> sparse.num_edges, torch.allclose(sparse(torch.eye(3))[:, 0], lin.weight[0, 0] * torch.eye(3)[:, 0] + lin.bias[0])
    (2, True)
    """
    n_out, n_in = linear.weight.shape
    keep = np.sort(np.asarray(keep, dtype=np.int64))
    w = linear.weight.detach().cpu().double().numpy().reshape(-1)
    bias = np.full(n_in + n_out, np.nan)
    if linear.bias is not None:
        bias[n_in:] = linear.bias.detach().cpu().double().numpy()
    wiring = Wiring(n_in + n_out, keep % n_in, n_in + keep // n_in, weight=w[keep], bias=bias)
    layer = SparseLinear.__new__(SparseLinear)
    with warnings.catch_warnings():  # unconnected inputs are normal in a sparse layer
        warnings.simplefilter("ignore", DeadNodeWarning)
        DAGNetwork.__init__(
            layer,
            wiring,
            inputs=range(n_in),
            outputs=range(n_in, n_in + n_out),
            activation="identity",
            output_activation="identity",
            bias=linear.bias is not None,
            seed=0,
            dtype=linear.weight.dtype,
            device=linear.weight.device,
        )
    layer.requested_density = keep.size / (n_in * n_out)
    return layer


def sparsify(
    model: nn.Module,
    density: float | None = None,
    epsilon: float | None = None,
    layers: Iterable[str] | Callable[[str, nn.Module], bool] | None = None,
    keep: str = "random",
    seed=None,
) -> nn.Module:
    """Replace ``model``'s ``nn.Linear`` layers by :class:`SparseLinear` ones, in place; return ``model``.

    Each chosen layer keeps ``density`` of its connections (or SET's
    ``epsilon``, default 20, as for :class:`SparseLinear`), with their current
    values and the bias: drawn at random as SET's Erdős–Rényi layers
    (``keep="random"``) or the largest magnitudes of the trained weights
    (``keep="magnitude"``, ties to the lower index). Every other module is left
    as it is — convolutions stay dense, as in SET's CNNs, and so do subclasses
    of ``nn.Linear`` (attention's projections) — so SET, RigL and the
    other rules of :mod:`dagnet.evolve` then rewire the sparse layers of the
    result. Optimizers made before the call hold the old parameters: make them
    afterwards.

    Parameters
    ----------
    model : nn.Module
    density, epsilon : float, optional
    layers : iterable of str, or callable ``(name, module) -> bool``, optional
        Which ``nn.Linear`` layers (their names in ``model.named_modules()``);
        default all of them.
    keep : {"random", "magnitude"}, default "random"
    seed : int, numpy Generator or random.Random, optional
        Of the random connections (layer ``k`` takes the ``k``-th draw).

    Raises
    ------
    ValueError
        For a bad argument, a name in ``layers`` that is not an ``nn.Linear`` of
        ``model``, or no layer chosen at all.

    Examples
    --------
    >>> model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    >>> model = sparsify(model, density=0.1, seed=0)
    >>> type(model[0]).__name__, round(model[0].density, 2), type(model[1]).__name__
    ('SparseLinear', 0.1, 'ReLU')
    """
    if not isinstance(model, nn.Module):
        raise invalid("model", "sparsify", "a torch.nn.Module", model)
    keep = check_choice(keep, "keep", "sparsify", KEEP)
    linear = [(name, m) for name, m in model.named_modules() if type(m) is nn.Linear]
    if layers is None:
        chosen = linear
    elif callable(layers):
        chosen = [(name, m) for name, m in linear if layers(name, m)]
    else:
        wanted = [layers] if isinstance(layers, str) else list(layers)
        names = {name for name, _ in linear}
        missing = [n for n in wanted if n not in names]
        if missing:
            raise ValueError(
                f"sparsify: {missing[0]!r} is not an nn.Linear layer of the model; its linear layers are "
                f"{sorted(names)}."
            )
        chosen = [(name, m) for name, m in linear if name in set(wanted)]
    if not chosen:
        raise ValueError("sparsify found no nn.Linear layer to make sparse (check 'layers').")
    rng = numpy_rng(resolve_seed(seed))
    if chosen[0][0] == "":
        raise ValueError("sparsify takes a model holding linear layers; for one nn.Linear use sparse_from_dense.")
    for name, lin in chosen:
        n_out, n_in = lin.weight.shape
        p = connection_probability(n_in, n_out, density, epsilon)
        if keep == "random":
            kept = bernoulli_positions(n_in * n_out, p, rng)
        else:
            count = max(1, int(round(p * n_in * n_out)))
            magnitude = lin.weight.detach().abs().reshape(-1).double().cpu()
            order = torch.sort(-magnitude, stable=True).indices  # largest first, ties to the lower index
            kept = order[:count].numpy()
        _replace(model, name, sparse_from_dense(lin, kept))
    return model


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)
