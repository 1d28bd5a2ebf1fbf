"""Neuron-importance pruning of the truly sparse SET paper: drop the hidden neurons with the weakest inputs."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._checks import check_bool, check_float, check_int
from ..nn.dag_network import DAGNetwork
from ..nn.sparse_linear import SparseLinear
from ._base import EvolutionRule, sparse_modules
from .schedules import every_epochs

__all__ = ["NeuronPruning", "neuron_importance"]


def neuron_importance(net: DAGNetwork) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(importance, in_degree)`` per node: the sum of ``|w|`` over its in-edges, and their number.

    Indexed by node number (see :meth:`~dagnet.DAGNetwork.edge_endpoints`);
    the in-edges of a multi-branch node's branches count as its own.

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.DiGraph([("a", "c", {"weight": -2.0}), ("b", "c", {"weight": 0.5})])
    >>> net = DAGNetwork(g, seed=0)
    >>> importance, degree = neuron_importance(net)
    >>> dict(zip(net.node_labels, importance.tolist())), dict(zip(net.node_labels, degree.tolist()))
    ({'a': 0.0, 'c': 2.5, 'b': 0.0}, {'a': 0, 'c': 2, 'b': 0})
    """
    _, dst = net.edge_endpoints()
    w = np.abs(net.weight.detach().cpu().double().numpy())
    n = net.num_nodes
    return np.bincount(dst, weights=w, minlength=n), np.bincount(dst, minlength=n)


class NeuronPruning(EvolutionRule):
    """Remove the hidden neurons whose incoming weights are weakest (Curci, Mocanu & Pechenizkiy 2021).

    A neuron's importance is the sum of ``|w|`` over its incoming
    connections. Each :meth:`step` takes, in every sparse module, the neurons
    that still have incoming connections (those without are already pruned
    and do not count), finds the ``percentile``-th percentile of their
    importances (``numpy.percentile``, linear interpolation) and removes
    every neuron at or below it by removing its connections with
    :meth:`~dagnet.DAGNetwork.rewire_` (their optimizer state goes with them):

    - in a :class:`~dagnet.SparseLinear`, the output units are the neurons
      (they feed the next layer of a stack) and their incoming connections
      are removed; the last ``SparseLinear`` of the model, the output layer,
      is left alone with ``skip_last=True``;
    - in any other :class:`~dagnet.DAGNetwork`, the neurons are the hidden
      nodes (neither input nor output) and both their incoming and outgoing
      edges are removed. Nodes tied to a multi-branch node (the node itself
      and its sources, whose edges cannot be removed) count toward the
      percentile but are kept.

    The paper runs it every 10 epochs after epoch 200 at the 20th
    percentile: :attr:`schedule` (``fit``'s default for this rule) runs it
    after epoch ``start`` and every ``every`` epochs after that.

    What crosses to the host per step, on any device: the weights of each
    module (one number per edge), summed per neuron there in edge order and
    in float64, so that the same weights give the same importances, and the
    same neurons go, on every device (a parallel sum on the device would
    round differently); then the removal mask goes into the new plan. The
    rule runs every ``every`` epochs, and the transfer costs about what the
    sum does.

    Parameters
    ----------
    percentile : float in [0, 100], default 20
    start : int >= 0, default 200
        First epoch after which the rule runs (with ``fit``).
    every : int >= 1, default 10
        Epochs between runs (with ``fit``).
    skip_last : bool, default True
        Leave the last ``SparseLinear`` of the model (the output layer) alone.

    Examples
    --------
    >>> from dagnet.nn import sparse_mlp
    >>> mlp = sparse_mlp([20, 30, 2], epsilon=5, seed=0)
    >>> changes = NeuronPruning(percentile=20).step(mlp)
    >>> changes["0"]["neurons"], changes["2"]["neurons"]
    (6, 0)
    >>> int((mlp[0].to_dense().abs().sum(1) == 0).sum())
    6
    """

    def __init__(self, percentile: float = 20, start: int = 200, every: int = 10, skip_last: bool = True):
        super().__init__(0)  # deterministic: the generator is never drawn from
        self.percentile = check_float(percentile, "percentile", "NeuronPruning", 0, 100)
        self.start = check_int(start, "start", "NeuronPruning", low=0)
        self.every = check_int(every, "every", "NeuronPruning")
        self.skip_last = check_bool(skip_last, "skip_last", "NeuronPruning")

    def _params(self) -> dict:
        return {"percentile": self.percentile, "start": self.start, "every": self.every, "skip_last": self.skip_last}

    @property
    def schedule(self) -> every_epochs:
        """``fit``'s default schedule for this rule: after epoch ``start``, then every ``every`` epochs."""
        return every_epochs(self.every, self.start)

    def neurons_to_prune(self, net: DAGNetwork) -> np.ndarray:
        """Return the node numbers of the neurons of ``net`` that a step removes.

        In a :class:`~dagnet.nn.Population`'s network the percentile is each member's own.
        """
        importance, degree = neuron_importance(net)
        src, dst = net.edge_endpoints()
        candidate = np.zeros(net.num_nodes, dtype=bool)
        if isinstance(net, SparseLinear):
            candidate[net.in_features :] = True
        else:
            candidate[:] = True
            candidate[net.node_index[: net.in_features].cpu().numpy()] = False
            candidate[net.node_index[net.output_pos].cpu().numpy()] = False
        alive = np.flatnonzero(candidate & (degree > 0))
        if alive.size == 0:
            return alive
        key = getattr(net, "group_key", None)
        if key is None:
            threshold = np.percentile(importance[alive], self.percentile)
        else:  # a Population's network: each member's own percentile
            labels = net.node_labels
            group = np.fromiter((key(labels[v]) for v in alive), dtype=np.int64, count=alive.size)
            threshold = np.empty(alive.size)
            for g in np.unique(group):
                mine = group == g
                threshold[mine] = np.percentile(importance[alive[mine]], self.percentile)
        prunable = np.ones(net.num_nodes, dtype=bool)
        fixed = ~net.evolvable_edges()
        prunable[dst[fixed]] = False  # multi-branch nodes
        if not isinstance(net, SparseLinear):
            prunable[src[fixed]] = False  # their outgoing edges would have to go too
        return alive[(importance[alive] <= threshold) & prunable[alive]]

    def step(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict:
        """Prune the neurons of every sparse module once; return ``{name: {"removed", "added", "neurons"}}``."""
        found = sparse_modules(model)
        layers = [net for _, net in found if isinstance(net, SparseLinear)]
        last = layers[-1] if self.skip_last and layers else None
        changes = {}
        for name, net in found:
            if net is last:
                changes[name] = {"removed": 0, "added": 0, "neurons": 0}
                continue
            neurons = self.neurons_to_prune(net)
            src, dst = net.edge_endpoints()
            dead = np.zeros(net.num_nodes, dtype=bool)
            dead[neurons] = True
            remove = dead[dst] if isinstance(net, SparseLinear) else dead[dst] | dead[src]
            if remove.any():
                changes[name] = {**net.rewire_(remove=remove, optimizer=optimizer), "neurons": int(neurons.size)}
            else:
                changes[name] = {"removed": 0, "added": 0, "neurons": int(neurons.size)}
        self.updates += 1
        return changes
