"""Neuroadaptation: hidden layers of isotropic networks that grow and shrink to keep a few spare neurons."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._checks import check_float, check_int
from ..nn.isotropic import IsotropicMLP, check_isotropic
from ._base import EvolutionRule

__all__ = ["Neuroadaptation"]


class Neuroadaptation(EvolutionRule):
    """Keep ``scaffold`` scaffold neurons in every hidden layer of every :class:`~dagnet.nn.isotropic.IsotropicMLP`.

    A scaffold neuron is a direction of the layer whose singular value (of the
    layer's incoming map, see
    :meth:`~dagnet.nn.isotropic.IsotropicMLP.singular_values`) is below
    ``threshold``: a neuron the network barely uses. Each acting :meth:`step`
    counts them, layer by layer from the first, and grows the layer by the
    missing ones (:meth:`~dagnet.nn.isotropic.IsotropicMLP.grow`: exact) or
    removes the surplus, smallest singular values first
    (:meth:`~dagnet.nn.isotropic.IsotropicMLP.shrink`: the function changes
    by about the removed singular values, all below ``threshold``). A layer
    that training makes use of runs out of scaffold neurons and grows; one
    with more capacity than it needs shrinks (Bird 2026).

    Parameters
    ----------
    threshold : float > 0, default 0.1
        Singular values below it mark scaffold neurons.
    scaffold : int >= 0, default 2
        Scaffold neurons to keep per hidden layer.
    every : int >= 1, default 1
        Act on every ``every``-th call of :meth:`step` (the others only report
        the widths).
    seed : int, numpy Generator or random.Random, optional
        Seed of the outgoing weights of new neurons (``None``: a fresh one,
        kept as ``self.seed``).

    Notes
    -----
    Each acting step reads every hidden layer's singular values on the host
    (:meth:`~dagnet.nn.isotropic.IsotropicMLP.singular_values` works in
    float64 on the CPU, whatever the model's device), and the surgery it
    asks for moves the edited layers' matrices there and back (see
    :mod:`dagnet.nn.isotropic`): per step, not per batch.

    A layer always keeps one neuron, so with ``scaffold=0`` a layer of only
    scaffold neurons ends at width 1 with one of them. The count runs
    layer by layer because changing layer ``k`` rotates and cuts the inputs of
    layer ``k + 1``; after a step every layer (wide enough) has exactly
    ``scaffold`` singular values below ``threshold``.

    References
    ----------
    Bird, G. (2026). Isotropic activation functions enable deindividuated
    neurons and adaptive topologies. arXiv:2602.23405.

    Examples
    --------
    >>> net = IsotropicMLP([4, 6, 5, 3], seed=0)
    >>> rule = Neuroadaptation(threshold=0.1, scaffold=2, seed=0)
    >>> rule
    Neuroadaptation(threshold=0.1, scaffold=2, every=1, seed=0)
    >>> rule.step(net)
    {'layer1.width': 6, 'layer1.grown': 0, 'layer1.shrunk': 0, 'layer2.width': 7, 'layer2.grown': 2, 'layer2.shrunk': 0}
    >>> [int((net.singular_values(k) < 0.1).sum()) for k in (1, 2)]
    [2, 2]
    """

    def __init__(self, threshold: float = 0.1, scaffold: int = 2, every: int = 1, seed: int | None = None):
        name = type(self).__name__
        self.threshold = check_float(threshold, "threshold", name, 0, low_open=True)
        self.scaffold = check_int(scaffold, "scaffold", name, low=0)
        self.every = check_int(every, "every", name, low=1)
        super().__init__(seed)

    def _params(self) -> dict:
        return {"threshold": self.threshold, "scaffold": self.scaffold, "every": self.every, "seed": self.seed}

    @torch.no_grad()
    def step(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict:
        """Grow or shrink every hidden layer to ``scaffold`` scaffold neurons; return the widths and changes.

        Parameters
        ----------
        model : torch.nn.Module
            An :class:`~dagnet.nn.isotropic.IsotropicMLP` or a module holding some.
        optimizer : torch.optim.Optimizer, optional
            Its state follows the surgery (see
            :meth:`~dagnet.nn.isotropic.IsotropicMLP.shrink`).

        Returns
        -------
        dict
            ``"layer{k}.width"``, ``"layer{k}.grown"``, ``"layer{k}.shrunk"``
            (plain ints) for every hidden layer ``k``, keys prefixed with the
            module's name and a dot for modules inside ``model``.

        Raises
        ------
        TypeError
            If ``model`` holds no IsotropicMLP (see
            :func:`~dagnet.nn.isotropic.check_isotropic`).
        """
        check_isotropic(model, type(self).__name__)
        self.updates += 1
        act = self.updates % self.every == 0
        changes: dict[str, int] = {}
        for name, module in model.named_modules():
            if not isinstance(module, IsotropicMLP):
                continue
            prefix = f"{name}." if name else ""
            for k in range(1, module.num_hidden + 1):
                grown = shrunk = 0
                if act:
                    below = int((module.singular_values(k) < self.threshold).sum())
                    if below < self.scaffold:
                        seed = int(self.rng.integers(0, np.iinfo(np.int64).max))
                        grown = module.grow(k, self.scaffold - below, optimizer=optimizer, seed=seed).added
                    elif below > self.scaffold and module.sizes[k] > 1:
                        n = min(below - self.scaffold, module.sizes[k] - 1)
                        shrunk = module.shrink(k, n, optimizer=optimizer).removed
                changes[f"{prefix}layer{k}.width"] = module.sizes[k]
                changes[f"{prefix}layer{k}.grown"] = grown
                changes[f"{prefix}layer{k}.shrunk"] = shrunk
        return changes

    def state_dict(self) -> dict:
        """Return the rule's state: its generator and the number of :meth:`step` calls.

        Examples
        --------
        >>> sorted(Neuroadaptation(seed=0).state_dict())
        ['rng', 'updates']
        """
        return super().state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from :meth:`state_dict`.

        Examples
        --------
        >>> a, b = Neuroadaptation(seed=0), Neuroadaptation(seed=1)
        >>> b.load_state_dict(a.state_dict())
        >>> int(a.rng.integers(100)) == int(b.rng.integers(100))
        True
        """
        super().load_state_dict(state)
