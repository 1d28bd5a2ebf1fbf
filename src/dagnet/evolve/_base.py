"""What every evolution rule shares: finding the sparse modules, drawing new edges, its own generator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..nn.dag_network import DAGNetwork
from ..seeding import numpy_rng, resolve_seed

__all__ = [
    "EvolutionRule",
    "sparse_modules",
    "random_absent_pairs",
    "free_pairs",
    "edge_keys",
    "MemberSpace",
    "member_spaces",
]


def sparse_modules(model: nn.Module) -> list[tuple[str, DAGNetwork]]:
    """Return ``(name, module)`` for every :class:`DAGNetwork` (``SparseLinear`` included) in ``model``.

    Raises
    ------
    TypeError
        If ``model`` is not a module or holds none.

    Examples
    --------
    >>> from dagnet.nn import sparse_mlp
    >>> [name for name, _ in sparse_modules(sparse_mlp([4, 3, 2], seed=0))]
    ['0', '2']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected a torch.nn.Module, got {type(model).__name__}.")
    found = [(name or type(m).__name__, m) for name, m in model.named_modules() if isinstance(m, DAGNetwork)]
    if not found:
        raise TypeError(f"{type(model).__name__} holds no DAGNetwork or SparseLinear for a rule to act on.")
    return found


@dataclass(frozen=True)
class MemberSpace:
    """One group of a network whose nodes belong to groups (the members of a :class:`~dagnet.nn.Population`).

    ``edges`` are the weights into the group's nodes; ``positions`` (sorted)
    the group's positions and the shared ones (the inputs); ``limit`` and
    ``source_ok`` the growth space (:meth:`~dagnet.DAGNetwork.growth_space`)
    restricted to them, in local numbering: position ``positions[j]`` is
    local ``j``.
    """

    edges: np.ndarray
    positions: np.ndarray
    limit: np.ndarray
    source_ok: np.ndarray

    @property
    def size(self) -> int:
        return int(self.positions.size)

    def local(self, positions: np.ndarray) -> np.ndarray:
        """Local numbers of global ``positions`` (which must be in this group or shared)."""
        if self.positions.size and self.positions[-1] == self.positions.size - 1:
            return positions  # all positions 0 .. size - 1 (sorted, distinct): local numbers are global
        return np.searchsorted(self.positions, positions)


def whole_space(net: DAGNetwork) -> MemberSpace:
    """The :class:`MemberSpace` of all of ``net``: every edge and position, its growth space as it is."""
    limit, source_ok = net.growth_space()
    return MemberSpace(np.arange(net.num_edges), np.arange(limit.size), limit, source_ok)


def spaces_of(net: DAGNetwork) -> list[MemberSpace]:
    """Where a rule acts in ``net``: each group's space (:func:`member_spaces`), or the whole network."""
    return member_spaces(net) or [whole_space(net)]


def member_spaces(net: DAGNetwork) -> list[MemberSpace] | None:
    """Return one :class:`MemberSpace` per group of ``net``, or None when its nodes have no groups.

    Groups come from ``net.group_key(label)`` (``-1`` for shared nodes, which
    must be inputs); rules remove and grow edges within each group, keeping
    every group's counts, as each member alone would.

    Examples
    --------
    >>> import networkx as nx
    >>> from dagnet.nn import Population
    >>> pop = Population([nx.DiGraph([("a", "y")]), nx.DiGraph([("a", "h"), ("h", "y")])], seed=0)
    >>> [(s.edges.tolist(), s.positions.tolist()) for s in member_spaces(pop.network)]
    [([1], [0, 2]), ([0, 2], [0, 1, 3])]
    """
    key = getattr(net, "group_key", None)
    if key is None:
        return None
    n = net.num_nodes
    node_index = net.node_index.cpu().numpy()
    owner = np.concatenate([np.arange(n), net._unit_owner])[node_index]  # the node of each position
    group_of_node = np.fromiter((key(lab) for lab in net.node_labels), dtype=np.int64, count=n)
    group = group_of_node[owner]
    shared = np.flatnonzero(group < 0)
    limit, source_ok = net.growth_space()
    _, dst = net.edge_positions()
    edge_group = group[dst]
    by_pos = np.argsort(group, kind="stable")
    by_edge = np.argsort(edge_group, kind="stable")
    groups = np.unique(group[group >= 0])
    pos_cut = np.searchsorted(group[by_pos], np.append(groups, groups[-1] + 1 if groups.size else 0))
    edge_cut = np.searchsorted(edge_group[by_edge], np.append(groups, groups[-1] + 1 if groups.size else 0))
    spaces = []
    for k in range(groups.size):
        positions = np.concatenate([shared, by_pos[pos_cut[k] : pos_cut[k + 1]]])
        positions.sort()
        spaces.append(
            MemberSpace(
                edges=np.sort(by_edge[edge_cut[k] : edge_cut[k + 1]]),
                positions=positions,
                limit=np.searchsorted(positions, limit[positions]),
                source_ok=source_ok[positions],
            )
        )
    return spaces


def edge_keys(src: np.ndarray, dst: np.ndarray, m: int) -> np.ndarray:
    """Return one int64 key per (source, target) position pair: ``src * m + dst``."""
    return src.astype(np.int64) * m + dst.astype(np.int64)


def random_absent_pairs(
    limit: np.ndarray, source_ok: np.ndarray, existing: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``count`` distinct position pairs ``(u, v)`` uniformly among the allowed absent ones.

    Allowed: ``u < limit[v]`` and ``source_ok[u]`` (see
    :meth:`dagnet.DAGNetwork.growth_space`); absent: not in ``existing`` (sorted
    keys from :func:`edge_keys`). Fewer pairs come back when fewer are free.
    Targets are drawn in proportion to ``limit``, sources uniformly below it,
    and pairs that are not allowed, present or repeated are drawn again;
    when more than half of the free pairs are wanted they are listed and
    chosen from instead. Either way the cost is linear in the edges.

    Examples
    --------
    >>> u, v = random_absent_pairs(np.array([0, 0, 2]), np.array([True, True, False]),
    ...                            np.array([0 * 3 + 2]), 5, np.random.default_rng(0))
    >>> list(zip(u.tolist(), v.tolist()))
    [(1, 2)]
    """
    m = limit.size
    free = free_pairs(limit, source_ok, existing)
    count = max(0, min(int(count), free))
    if count == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # Nearly full (then the allowed pairs number less than 3x the edges): list the free ones and choose.
    if count > free // 2:
        v_all = np.repeat(np.arange(m), limit)
        u_all = np.arange(v_all.size) - np.repeat(np.cumsum(limit) - limit, limit)
        keep = source_ok[u_all]
        u_all, v_all = u_all[keep], v_all[keep]
        keys = edge_keys(u_all, v_all, m)
        keys = keys[~_member(keys, existing)]
        keys = np.sort(rng.choice(keys, size=count, replace=False))
        return np.divmod(keys, m)
    cum = np.cumsum(limit.astype(np.float64))
    chosen = np.zeros(0, dtype=np.int64)
    while chosen.size < count:
        k = int((count - chosen.size) * 1.3) + 16
        v = np.minimum(np.searchsorted(cum, rng.random(k) * cum[-1], side="right"), m - 1)
        u = np.minimum((rng.random(k) * limit[v]).astype(np.int64), np.maximum(limit[v] - 1, 0))
        good = source_ok[u] & (u < limit[v])
        keys = edge_keys(u[good], v[good], m)
        keys = keys[~_member(keys, existing)]
        _, first = np.unique(keys, return_index=True)
        keys = keys[np.sort(first)]  # distinct, in drawing order
        keys = keys[~_member(keys, np.sort(chosen))]
        chosen = np.concatenate([chosen, keys[: count - chosen.size]])
    return np.divmod(chosen, m)


def free_pairs(limit: np.ndarray, source_ok: np.ndarray, existing: np.ndarray) -> int:
    """Return how many allowed pairs (see :func:`random_absent_pairs`) are not in ``existing``.

    Examples
    --------
    >>> free_pairs(np.array([0, 0, 2]), np.array([True, True, False]), np.array([2]))
    1
    """
    m = limit.size
    ok_before = np.concatenate([[0], np.cumsum(source_ok)])  # allowed sources below each limit
    src_e, dst_e = np.divmod(existing, m)
    existing_allowed = int(np.count_nonzero((src_e < limit[dst_e]) & source_ok[src_e]))
    return int(ok_before[limit].sum()) - existing_allowed


def _member(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    if sorted_keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    i = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return sorted_keys[i] == keys


class EvolutionRule:
    """Base of the rules of :mod:`dagnet.evolve`: a seeded generator and its state.

    A rule's :meth:`step` applies one topology update to every
    :class:`~dagnet.DAGNetwork` and :class:`~dagnet.SparseLinear` inside a
    model and returns ``{module_name: {"removed": int, "added": int, ...}}``.
    ``state_dict``/``load_state_dict`` save what the rule owns (its generator
    and counters), so a checkpointed run resumes exactly.
    """

    def __init__(self, seed: int | None = None):
        self.seed = resolve_seed(seed)
        self.rng = numpy_rng(self.seed)
        self.updates = 0

    def step(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Return the rule's state: its generator and update count."""
        return {"rng": self.rng.bit_generator.state, "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from :meth:`state_dict`."""
        self.rng.bit_generator.state = state["rng"]
        self.updates = int(state["updates"])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"

    def _params(self) -> dict:
        return {"seed": self.seed}
