"""The plan: a network compiled to plain arrays, one contiguous block per level.

A :class:`Plan` is pure data (NumPy arrays and a few lists). Nodes are
renumbered to *positions*: the inputs first, in column order (level 0), then
every further level as one contiguous block, each level's nodes grouped by
activation. Edges are stored twice, as CSR by target (the order of the
network's weight vector) and as CSR by source (for the backward pass).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import layering as _layering
from .activations.combine import resolve_combine
from .activations.registry import resolve_activation
from .csr import csr
from .engine.codes import CUSTOM, IDENTITY
from .errors import EmptyGraphError, GraphError, InputHasPredecessorsError
from .roles import dead_nodes, resolve_roles
from .wiring import Wiring

__all__ = ["Plan", "compile_plan", "check_duplicate_edges", "LAYERINGS"]

LAYERINGS = ("asap", "alap", "bounded")


@dataclass(eq=False)
class Plan:
    """A compiled network: positions, levels, edges and activation groups.

    Attributes
    ----------
    num_nodes, num_inputs : int
        Nodes in the plan; the first ``num_inputs`` positions are the inputs.
    node_index : int64 array (num_nodes,)
        Wiring node index of each position.
    level_ptr : int64 array (num_levels + 1,)
        Level ``l`` holds positions ``level_ptr[l]:level_ptr[l + 1]``; level 0
        is the inputs.
    in_ptr, in_src : int64 arrays (num_nodes + 1,), (num_edges,)
        CSR by target: the edges into position ``v`` are
        ``in_ptr[v]:in_ptr[v + 1]``, from positions ``in_src[...]`` (sorted).
        An edge's index here is its index in the weight vector.
    edge_index : int64 array (num_edges,)
        Wiring edge index of each weight.
    out_ptr, out_dst, out_edge : int64 arrays
        CSR by source: the edges out of position ``u`` go to ``out_dst[...]``
        and have weight index ``out_edge[...]``.
    act_code : int8 array (num_nodes,)
        Kernel code of each node's activation (``CUSTOM`` for torch code).
    groups : list of (start, end, key)
        Maximal runs of non-input positions sharing one activation, never
        crossing a level boundary; ``key`` is a name or a callable.
    output_pos : int64 array (num_outputs,)
        Position of each output column.
    labels : list
        Node labels in wiring order.
    unit_owner, unit_branch : int64 arrays (num_units,)
        Multi-branch nodes (a ``combine`` other than ``"sum"``) get one extra
        row per dendritic branch, a *unit*, holding that branch's weighted sum.
        Unit ``i`` has id ``len(labels) + i`` in ``node_index`` and belongs to
        branch ``unit_branch[i]`` of wiring node ``unit_owner[i]``.
    combines : list of (start, end, unit_start, branches, combine, activation)
        Runs of multi-branch nodes of one level sharing combine, branch count
        and activation; their units are positions
        ``unit_start .. unit_start + (end - start) * branches``, node by node.
    edge_target : int64 array (num_edges,) or None
        With units: the id (node or unit) each wiring edge feeds.
    """

    num_nodes: int
    num_inputs: int
    node_index: np.ndarray
    level_ptr: np.ndarray
    in_ptr: np.ndarray
    in_src: np.ndarray
    edge_index: np.ndarray
    out_ptr: np.ndarray
    out_dst: np.ndarray
    out_edge: np.ndarray
    act_code: np.ndarray
    groups: list
    output_pos: np.ndarray
    labels: list = field(repr=False)
    unit_owner: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    unit_branch: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    combines: list = field(default_factory=list)
    edge_target: np.ndarray | None = None

    @property
    def num_edges(self) -> int:
        return int(self.in_src.size)

    @property
    def num_levels(self) -> int:
        return int(self.level_ptr.size - 1)

    def level_sizes(self) -> np.ndarray:
        """Number of nodes on each level."""
        return np.diff(self.level_ptr)

    def level_of_positions(self) -> np.ndarray:
        """Level of every position."""
        return np.repeat(np.arange(self.num_levels), self.level_sizes())


def compile_plan(
    wiring: Wiring,
    inputs: Sequence[Hashable] | None = None,
    outputs: Sequence[Hashable] | None = None,
    activation: str | Callable = "relu",
    output_activation: str | Callable = "identity",
    layering: str = "asap",
    max_width: int | None = None,
    prune_dead: bool = False,
) -> tuple[Plan, Wiring]:
    """Validate a wiring and compile it to a :class:`Plan`.

    Returns the plan and the wiring it was built from (a sub-wiring when
    ``prune_dead`` removed nodes). See :class:`dagnet.DAGNetwork` for the
    meaning of the arguments and the errors raised.

    Examples
    --------
    >>> plan, _ = compile_plan(Wiring(3, [0, 1], [2, 2]))
    >>> plan.num_levels, plan.in_src.tolist()
    (2, [0, 1])
    """
    wiring, inp, out, pinned, level = _roles_and_levels(wiring, inputs, outputs, layering, max_width, prune_dead)
    n = wiring.num_nodes
    specs, spec_id, group_of_spec, ids = _activations(wiring, out, activation, output_activation)
    units = _branch_units(wiring, pinned)
    # A multi-branch node's own activation defaults to the identity.
    specs.append(resolve_activation("identity"))
    group_of_spec = np.append(group_of_spec, ids.setdefault("identity", len(ids)))
    spec_id = np.where(units.is_comb & ~_explicit(wiring), len(specs) - 1, spec_id)

    # Runs are cut where (kind, group) changes: kind 0 units, 1 nodes, 2 multi-branch nodes.
    comb_ids: dict = {}
    comb_group = np.zeros(n, dtype=np.int64)
    for v in np.flatnonzero(units.is_comb):
        key = (_hashable(units.combine_key[v]), int(units.num_branches[v]), _hashable(specs[spec_id[v]][0]))
        comb_group[v] = comb_ids.setdefault(key, len(comb_ids))
    kind = np.concatenate([np.where(units.is_comb, 2, 1), np.zeros(units.owner.size, dtype=np.int64)])
    gid = np.concatenate([np.where(units.is_comb, comb_group, group_of_spec[spec_id]), comb_group[units.owner]])
    owner = np.concatenate([np.arange(n), units.owner])
    branch_key = np.concatenate([np.zeros(n, dtype=np.int64), units.branch])
    node_index, position, level_ptr = _positions(inp, level[owner], kind, gid, owner, branch_key)
    in_ptr, in_src, edge_index, out_ptr, out_dst, out_edge = _edges(wiring, position, units.target)

    codes = np.array([c for _, c, _ in specs], dtype=np.int8)[spec_id]
    code_ext = np.concatenate(
        [np.where(units.is_comb, CUSTOM, codes), np.full(units.owner.size, IDENTITY, dtype=np.int8)]
    ).astype(np.int8)
    act_code = code_ext[node_index]
    act_code[: inp.size] = CUSTOM  # never read for inputs
    run = (kind * (len(ids) + len(comb_ids) + 1) + gid)[node_index]
    key_of_group = {g: specs[i][0] for i, g in reversed(list(enumerate(group_of_spec.tolist())))}
    groups, combines = [], []
    for a, b in _runs(level_ptr, run):
        first = int(node_index[a])
        if first >= n:  # units: plain weighted sums
            groups.append((a, b, "identity"))
        elif units.is_comb[first]:
            unit_start = int(position[units.base[first]])
            combines.append(
                (a, b, unit_start, int(units.num_branches[first]), units.combine_key[first], specs[spec_id[first]][0])
            )
        else:
            groups.append((a, b, key_of_group[int(gid[first])]))
    plan = Plan(
        num_nodes=node_index.size,
        num_inputs=int(inp.size),
        node_index=node_index,
        level_ptr=level_ptr,
        in_ptr=in_ptr,
        in_src=in_src,
        edge_index=edge_index,
        out_ptr=out_ptr,
        out_dst=out_dst,
        out_edge=out_edge,
        act_code=act_code,
        groups=groups,
        output_pos=position[out],
        labels=wiring.node_labels(),
        unit_owner=units.owner,
        unit_branch=units.branch,
        combines=combines,
        edge_target=units.target if units.owner.size else None,
    )
    return plan, wiring


def _roles_and_levels(wiring: Wiring, inputs, outputs, layering: str, max_width, prune_dead: bool):
    """Phase 1: inputs and outputs, dead nodes (pruned if asked) and the level of every node.

    Returns ``(wiring, inputs, outputs, pinned, level)``; ``pinned`` marks the inputs.
    """
    if layering not in LAYERINGS:
        raise ValueError(f"The 'layering' parameter must be one of {LAYERINGS}. Got {layering!r} instead.")
    if layering == "bounded" and max_width is None:
        raise ValueError("layering='bounded' needs max_width=<the most nodes per level>.")
    try:
        inp, out = resolve_roles(wiring, inputs, outputs)
    except (EmptyGraphError, InputHasPredecessorsError):
        if wiring.num_edges:  # a cycle explains these best
            _layering._levels(wiring, None)
        raise
    n = wiring.num_nodes
    pinned = np.zeros(n, dtype=bool)
    pinned[inp] = True
    order, level = _layering._levels(wiring, pinned)
    dead = dead_nodes(wiring, order, inp, out, warn=not prune_dead)
    if prune_dead and dead.size:
        wiring, keep = _subwiring(wiring, dead)
        remap = np.full(n, -1, dtype=np.int64)
        remap[keep] = np.arange(keep.size)
        inp, out = remap[inp], remap[out]
        pinned = pinned[keep]
        order, level = _layering._levels(wiring, pinned)
    if layering == "alap":
        level = _layering.alap_levels(wiring, pinned, order, level)
    elif layering == "bounded":
        level = _layering.bounded_levels(wiring, pinned, max_width, order, level)
    return wiring, inp, out, pinned, level


def _activations(wiring: Wiring, out: np.ndarray, activation, output_activation):
    """Phase 2: the activation of every node: its attribute, else the output or hidden default.

    Returns ``(specs, spec_id, group_of_spec, ids)``: the resolved ``(key, code,
    fn)`` of each distinct activation, the spec of each node, the group of each
    spec and the group id of each resolved key (specs with one key share a group).
    """
    is_out = np.zeros(wiring.num_nodes, dtype=bool)
    is_out[out] = True
    specs = [resolve_activation(activation), resolve_activation(output_activation)]
    spec_id = is_out.astype(np.int64)
    if wiring.activation is not None:
        seen: dict = {}
        for v, spec in enumerate(wiring.activation):
            if spec is None:
                continue
            k = _hashable(spec)
            if k not in seen:
                try:
                    seen[k] = len(specs)
                    specs.append(resolve_activation(spec))
                except ValueError as err:
                    raise type(err)(f"Node {wiring.label(v)!r}: {err}") from None
            spec_id[v] = seen[k]
    ids: dict = {}
    group_of_spec = np.array([ids.setdefault(_hashable(key), len(ids)) for key, _, _ in specs], dtype=np.int64)
    return specs, spec_id, group_of_spec, ids


@dataclass(frozen=True)
class _Units:
    """Phase 3's result: the multi-branch nodes and their branch units (one extra row per branch)."""

    combine_key: list  # per node: the resolved combine, None for a plain sum
    is_comb: np.ndarray  # per node
    num_branches: np.ndarray  # per node, 0 for plain nodes
    owner: np.ndarray  # per unit: its node
    branch: np.ndarray  # per unit: its branch
    base: np.ndarray  # per node: the id of its first unit
    target: np.ndarray  # per edge: the id (node or unit) it feeds


def _branch_units(wiring: Wiring, pinned: np.ndarray) -> _Units:
    """Phase 3: multi-branch nodes get one unit per dendritic branch; their in-edges feed the units."""
    n = wiring.num_nodes
    combine_key, arity = _combines(wiring, pinned)
    is_comb = np.array([k is not None for k in combine_key], dtype=bool) if n else np.zeros(0, bool)
    branch = wiring.branch if wiring.branch is not None else np.zeros(wiring.num_edges, np.int64)
    num_branches = np.zeros(n, dtype=np.int64)
    np.maximum.at(num_branches, wiring.target, branch + 1)
    for v in np.flatnonzero(is_comb):
        k = arity[v]
        if k is not None and num_branches[v] > k:
            raise GraphError(
                f"Node {wiring.label(v)!r} combines its branches with {combine_key[v]!r}, which takes "
                f"{k} branches, but an edge into it names branch {num_branches[v] - 1}."
            )
        num_branches[v] = max(int(num_branches[v]), k or 1)
    num_branches[~is_comb] = 0
    owner = np.repeat(np.arange(n), num_branches)
    base = n + np.concatenate([[0], np.cumsum(num_branches)[:-1]]).astype(np.int64)
    unit_branch = np.arange(owner.size) - (base[owner] - n)
    target = wiring.target
    if owner.size:
        into = is_comb[wiring.target]
        target = target.copy()
        target[into] = base[wiring.target[into]] + branch[into]
    return _Units(combine_key, is_comb, num_branches, owner, unit_branch, base, target)


def _explicit(wiring: Wiring) -> np.ndarray:
    """Which nodes name their own activation."""
    if wiring.activation is None:
        return np.zeros(wiring.num_nodes, dtype=bool)
    return np.array([a is not None for a in wiring.activation], dtype=bool)


def _positions(
    inp: np.ndarray, level: np.ndarray, kind: np.ndarray, gid: np.ndarray, owner: np.ndarray, branch: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phase 4: positions: inputs in column order, then by (level, kind, group, node, branch).

    Returns ``(node_index, position, level_ptr)``: the id at each position,
    the position of each id, and the level boundaries.
    """
    m = level.size
    not_input = np.ones(m, dtype=bool)
    not_input[inp] = False
    rest = np.flatnonzero(not_input)
    rest = rest[np.lexsort((branch[rest], owner[rest], gid[rest], kind[rest], level[rest]))]
    node_index = np.concatenate([inp, rest])
    position = np.empty(m, dtype=np.int64)
    position[node_index] = np.arange(m)
    lv = level[node_index]
    lv[: inp.size] = 0
    num_levels = int(lv.max()) + 1 if m else 1
    level_ptr = np.searchsorted(lv, np.arange(num_levels + 1), side="left").astype(np.int64)
    level_ptr[-1] = m
    return node_index, position, level_ptr


def _edges(wiring: Wiring, position: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, ...]:
    """Phase 5: the edges as CSR by target (the weight order) and by source.

    Returns ``(in_ptr, in_src, edge_index, out_ptr, out_dst, out_edge)``.
    """
    m = position.size
    src_pos = position[wiring.source]
    dst_pos = position[target]
    in_ptr, in_src, edge_index = csr(dst_pos, src_pos, m)
    check_duplicate_edges(wiring, in_ptr, in_src, edge_index)
    out_ptr, out_dst, out_edge = csr(src_pos[edge_index], dst_pos[edge_index], m)
    return in_ptr, in_src, edge_index, out_ptr, out_dst, out_edge


def _runs(level_ptr: np.ndarray, run: np.ndarray):
    """Phase 6: ``(start, end)`` of each maximal run of equal ``run`` values inside a level (inputs excluded)."""
    for level in range(1, level_ptr.size - 1):
        a, b = int(level_ptr[level]), int(level_ptr[level + 1])
        if a == b:
            continue
        cut = a + 1 + np.flatnonzero(run[a + 1 : b] != run[a : b - 1])
        bounds = [a, *cut.tolist(), b]
        yield from zip(bounds[:-1], bounds[1:])


def _combines(wiring: Wiring, pinned: np.ndarray) -> tuple[list, list]:
    """Resolved combine key and branch count it needs, per node (None for plain sums)."""
    n = wiring.num_nodes
    keys: list = [None] * n
    arity: list = [None] * n
    if wiring.combine is None:
        return keys, arity
    for v, spec in enumerate(wiring.combine):
        try:
            keys[v], arity[v] = resolve_combine(spec)
        except ValueError as err:
            raise type(err)(f"Node {wiring.label(v)!r}: {err}") from None
        if keys[v] is not None and pinned[v]:
            raise GraphError(
                f"Input node {wiring.label(v)!r} cannot combine branches; only non-input nodes have incoming edges."
            )
    return keys, arity


def _hashable(key):
    try:
        hash(key)
        return key
    except TypeError:
        return ("id", id(key))


def _subwiring(wiring: Wiring, drop: np.ndarray) -> tuple[Wiring, np.ndarray]:
    """Return the wiring without the nodes ``drop``, and the kept node indices."""
    n = wiring.num_nodes
    keep_mask = np.ones(n, dtype=bool)
    keep_mask[drop] = False
    keep = np.flatnonzero(keep_mask)
    remap = np.full(n, -1, dtype=np.int64)
    remap[keep] = np.arange(keep.size)
    e_keep = keep_mask[wiring.source] & keep_mask[wiring.target]
    labels = wiring.node_labels()
    sub = Wiring(
        int(keep.size),
        remap[wiring.source[e_keep]],
        remap[wiring.target[e_keep]],
        weight=None if wiring.weight is None else wiring.weight[e_keep],
        bias=None if wiring.bias is None else wiring.bias[keep],
        labels=[labels[i] for i in keep],
        activation=None if wiring.activation is None else [wiring.activation[i] for i in keep],
        edge_attrs={k: v[e_keep] for k, v in wiring.edge_attrs.items()},
        branch=None if wiring.branch is None else wiring.branch[e_keep],
        combine=None if wiring.combine is None else [wiring.combine[i] for i in keep],
        branch_bias=None if wiring.branch_bias is None else [wiring.branch_bias[i] for i in keep],
    )
    return sub, keep


def check_duplicate_edges(wiring: Wiring, ptr: np.ndarray, col: np.ndarray, perm: np.ndarray) -> None:
    """Raise :class:`GraphError` if an edge appears twice, given the CSR by target."""
    if col.size < 2:
        return
    rows = np.repeat(np.arange(ptr.size - 1), np.diff(ptr))
    same = (col[1:] == col[:-1]) & (rows[1:] == rows[:-1])
    if same.any():
        k = perm[int(np.flatnonzero(same)[0])]
        raise GraphError(
            f"Edge {wiring.label(wiring.source[k])!r} -> {wiring.label(wiring.target[k])!r} "
            "appears twice; merge parallel edges into one."
        )
