"""SET: prune the weights closest to zero, sign by sign, and regrow as many at random."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._checks import check_choice, check_float
from ._base import EvolutionRule, edge_keys, free_pairs, random_absent_pairs, spaces_of, sparse_modules

__all__ = ["SET", "set_removal", "smallest", "smallest_on_device", "removal_mask"]

INITS = ("he_uniform", "normal", "uniform", "zeros")


def set_removal(weight: np.ndarray, zeta: float, candidates: np.ndarray | None = None) -> np.ndarray:
    """Return the boolean mask of the weights SET removes.

    Among ``candidates`` (default: all), the ``floor(zeta * n_pos)`` positive
    weights with the smallest values and the ``floor(zeta * n_neg)`` negative
    weights with the largest values (the closest to zero on each side; ties go
    to the lower index), and every weight that is exactly zero.

    Examples
    --------
    >>> set_removal(np.array([0.5, -0.1, 0.2, -0.9, 0.0, 0.3]), 0.5).tolist()
    [False, True, True, False, True, False]
    """
    w = np.asarray(weight, dtype=np.float64)
    cand = np.ones(w.shape, dtype=bool) if candidates is None else np.asarray(candidates, dtype=bool)
    remove = cand & (w == 0)
    pos = np.flatnonzero(cand & (w > 0))
    neg = np.flatnonzero(cand & (w < 0))
    remove[pos[smallest(w[pos], int(zeta * pos.size))]] = True
    remove[neg[smallest(-w[neg], int(zeta * neg.size))]] = True
    return remove


def smallest(values: np.ndarray, k: int) -> np.ndarray:
    """Return the indices of the ``k`` smallest values, ties to the lower index, in linear time.

    Examples
    --------
    >>> smallest(np.array([3.0, 1.0, 2.0, 1.0]), 2).tolist()
    [1, 3]
    """
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k >= values.size:
        return np.arange(values.size)
    kth = np.partition(values, k - 1)[k - 1]
    below = np.flatnonzero(values < kth)
    ties = np.flatnonzero(values == kth)[: k - below.size]
    return np.sort(np.concatenate([below, ties]))


def smallest_on_device(values: torch.Tensor, k: int) -> torch.Tensor:
    """Return :func:`smallest`'s indices computed on ``values``' device: a stable sort, ascending indices.

    Examples
    --------
    >>> smallest_on_device(torch.tensor([3.0, 1.0, 2.0, 1.0]), 2).tolist()
    [1, 3]
    """
    k = max(0, min(int(k), values.numel()))
    return torch.sort(torch.sort(values, stable=True).indices[:k]).values


def removal_mask(weight: torch.Tensor, zeta: float, candidates: np.ndarray) -> np.ndarray:
    """Return :func:`set_removal`'s mask of ``weight``, chosen on the weight's device.

    On the CPU it is :func:`set_removal` itself; elsewhere the selection runs
    on the device (:func:`smallest_on_device` for each sign) and what crosses
    to the host is the sizes of the two signs and the mask, one bool per
    weight. Both choose the same weights.

    Examples
    --------
    >>> removal_mask(torch.tensor([0.5, -0.1, 0.2, -0.9, 0.0, 0.3]), 0.5, np.ones(6, dtype=bool)).tolist()
    [False, True, True, False, True, False]
    """
    w = weight.detach()
    if w.device.type == "cpu":
        return set_removal(w.numpy(), zeta, candidates)
    return _removal_on_device(w, zeta, candidates).cpu().numpy()


def _removal_on_device(w: torch.Tensor, zeta: float, candidates: np.ndarray) -> torch.Tensor:
    cand = torch.from_numpy(np.asarray(candidates, dtype=bool)).to(w.device)
    remove = cand & (w == 0)
    for side in (w, -w):
        idx = (cand & (side > 0)).nonzero().squeeze(1)
        remove[idx[smallest_on_device(side[idx], int(zeta * idx.numel()))]] = True
    return remove


class SET(EvolutionRule):
    """Sparse Evolutionary Training's rewiring step (Mocanu et al. 2018).

    Each :meth:`step` removes, in every sparse module, the fraction ``zeta`` of
    the positive weights closest to zero and the fraction ``zeta`` of the
    negative ones (see :func:`set_removal`), then grows as many new
    connections uniformly at random among the absent ones that keep the graph
    acyclic (any input -> output pair of a :class:`~dagnet.SparseLinear`; any
    pair that respects the current topological order of a
    :class:`~dagnet.DAGNetwork`). The number of edges stays constant. A
    module with no absent connection left (a dense layer) is left alone:
    rewiring it would only reset some of its weights.
    Removed weights take their optimizer state with them; new ones start with
    zero state. Run it after every epoch but the last (``fit``'s default).

    On a device other than the CPU, the removal is chosen there
    (:func:`removal_mask`); what crosses to the host per step is, per module,
    the sizes of the two signs and the removal mask (one bool per edge),
    which the new plan is compiled from; the regrown pairs, drawn on the host
    from the rule's generator with their initial values, and the new plan
    cross back.

    Parameters
    ----------
    zeta : float in [0, 1], default 0.3
        Fraction of each sign removed per step.
    regrow : {"random"}, default "random"
        Where new connections go.
    init : {"he_uniform", "normal", "uniform", "zeros"}, default "he_uniform"
        New weights: uniform in ``±sqrt(6 / fan_in)`` where ``fan_in`` counts
        the sources the target could have (a layer's ``in_features``, as in
        the truly sparse SET code; in a DAGNetwork, the nodes before it in the
        topological order); ``N(0, init_scale^2)``; uniform in
        ``±init_scale``; or 0.
    init_scale : float, default 0.1
    seed : int, numpy Generator or random.Random, optional
        Seed of the rule's generator (saved by :meth:`state_dict`).

    Examples
    --------
    >>> from dagnet.nn import sparse_mlp
    >>> mlp = sparse_mlp([20, 30, 2], epsilon=3, seed=0)
    >>> edges = mlp[0].num_edges
    >>> changes = SET(zeta=0.3, seed=0).step(mlp)
    >>> changes["0"]["removed"] == changes["0"]["added"], mlp[0].num_edges == edges
    (True, True)
    """

    def __init__(
        self,
        zeta: float = 0.3,
        regrow: str = "random",
        init: str = "he_uniform",
        init_scale: float = 0.1,
        seed: int | None = None,
    ):
        super().__init__(seed)
        self.zeta = check_float(zeta, "zeta", "SET", 0, 1)
        self.regrow = check_choice(regrow, "regrow", "SET", ("random",))
        self.init = check_choice(init, "init", "SET", INITS)
        self.init_scale = check_float(init_scale, "init_scale", "SET", 0)

    def _params(self) -> dict:
        return {"zeta": self.zeta, "init": self.init, "init_scale": self.init_scale, "seed": self.seed}

    def new_weights(self, fan_in: np.ndarray) -> np.ndarray:
        """Draw the initial values of new connections (one per entry of ``fan_in``) from the rule's generator."""
        count = fan_in.size
        if self.init == "he_uniform":
            limit = np.sqrt(6.0 / np.maximum(fan_in, 1))
            return self.rng.uniform(-1.0, 1.0, count) * limit
        if self.init == "normal":
            return self.rng.normal(0.0, self.init_scale, count)
        if self.init == "uniform":
            return self.rng.uniform(-self.init_scale, self.init_scale, count)
        return np.zeros(count)

    def step(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict:
        """Rewire every sparse module of ``model`` once; return ``{name: {"removed", "added"}}``.

        In a :class:`~dagnet.nn.Population`'s network each member is rewired
        on its own: its removals counted among its own weights, as many grown
        between its own nodes (and the shared inputs).
        """
        changes = {}
        for name, net in sparse_modules(model):
            changes[name] = regrow_random(net, spaces_of(net), self.zeta, self.rng, self.new_weights, optimizer)
        self.updates += 1
        return changes


def regrow_random(net, spaces: list, zeta: float, rng: np.random.Generator, values, optimizer) -> dict:
    """In each space (see :func:`~dagnet.evolve.spaces_of`), remove SET's fraction ``zeta`` and grow as many at random.

    The removal is :func:`removal_mask` of the space's evolvable weights;
    ``values(fan_in)`` gives the new weights from their targets' fan-in in
    the space. The positions just freed are absent too, as in SET's code
    (which regrows wherever a weight is zero). A space with no absent
    position at all is left unchanged.
    """
    weight = net.weight.detach()
    evolvable = net.evolvable_edges()
    src, dst = net.edge_positions()
    remove = np.zeros(net.num_edges, dtype=bool)
    grown_u, grown_v, fan_in = [], [], []
    for sp in spaces:
        ls, ld = sp.local(src[sp.edges]), sp.local(dst[sp.edges])
        if free_pairs(sp.limit, sp.source_ok, edge_keys(ls, ld, sp.size)) == 0:
            continue
        mine = weight if sp.edges.size == net.num_edges else weight[torch.from_numpy(sp.edges).to(weight.device)]
        gone = removal_mask(mine, zeta, evolvable[sp.edges])
        remove[sp.edges] = gone
        existing = np.sort(edge_keys(ls[~gone], ld[~gone], sp.size))
        u, v = random_absent_pairs(sp.limit, sp.source_ok, existing, int(gone.sum()), rng)
        grown_u.append(sp.positions[u])
        grown_v.append(sp.positions[v])
        fan_in.append(sp.limit[v])  # every source a new edge could come from: a layer's in_features
    if not grown_u:
        return {"removed": 0, "added": 0}
    node_index = net.node_index.cpu().numpy()
    return net.rewire_(
        remove=remove,
        add_source=node_index[np.concatenate(grown_u)],
        add_target=node_index[np.concatenate(grown_v)],
        add_weight=values(np.concatenate(fan_in)),
        optimizer=optimizer,
    )
