"""The plan: a network compiled to plain arrays, one contiguous block per level.

A :class:`Plan` is pure data (NumPy arrays and a few lists). Nodes are
renumbered to *positions*: the inputs first, in column order (level 0), then
every further level as one contiguous block, each level's nodes grouped by
activation. Edges are stored twice, as CSR by target (the order of the
network's weight vector) and as CSR by source (for the backward pass).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Hashable, Sequence

import numpy as np

from . import layering as _layering
from .activations.registry import CUSTOM, resolve_activation
from .csr import csr
from .validation import check_duplicate_edges, dead_nodes, resolve_roles
from .wiring import Wiring

__all__ = ["Plan", "compile_plan", "LAYERINGS"]

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

    @property
    def num_edges(self) -> int:
        return int(self.in_src.size)

    @property
    def num_levels(self) -> int:
        return int(self.level_ptr.size - 1)

    def level_sizes(self) -> np.ndarray:
        """Number of nodes on each level."""
        return np.diff(self.level_ptr)

    def level_edges(self) -> np.ndarray:
        """Number of edges into each level."""
        return np.diff(self.in_ptr[self.level_ptr])

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
    if layering not in LAYERINGS:
        raise ValueError(f"The 'layering' parameter must be one of {LAYERINGS}. Got {layering!r} instead.")
    if layering == "bounded" and max_width is None:
        raise ValueError("layering='bounded' needs max_width=<the most nodes per level>.")
    inp, out = resolve_roles(wiring, inputs, outputs)
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
        n = wiring.num_nodes
        pinned = pinned[keep]
        order, level = _layering._levels(wiring, pinned)
    if layering == "alap":
        level = _layering.alap_levels(wiring, pinned, order, level)
    elif layering == "bounded":
        level = _layering.bounded_levels(wiring, pinned, max_width, order, level)

    # Activation of every node: attribute, else output/hidden default.
    is_out = np.zeros(n, dtype=bool)
    is_out[out] = True
    hidden = resolve_activation(activation)
    final = resolve_activation(output_activation)
    specs = [hidden, final]  # resolved (key, code, fn) per activation id
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
    # Nodes whose specs resolve to the same key form one group.
    group_of_spec = np.empty(len(specs), dtype=np.int64)
    ids: dict = {}
    for i, (key, _, _) in enumerate(specs):
        group_of_spec[i] = ids.setdefault(_hashable(key), len(ids))
    group_id = group_of_spec[spec_id]
    codes = np.array([c for _, c, _ in specs], dtype=np.int8)[spec_id]
    key_of_group = {g: specs[i][0] for i, g in reversed(list(enumerate(group_of_spec.tolist())))}

    # Positions: inputs in column order, then by (level, activation group, index).
    rest = np.flatnonzero(~pinned)
    rest = rest[np.lexsort((rest, group_id[rest], level[rest]))]
    node_index = np.concatenate([inp, rest])
    position = np.empty(n, dtype=np.int64)
    position[node_index] = np.arange(n)
    lv = level[node_index]
    lv[: inp.size] = 0
    num_levels = int(lv.max()) + 1 if n else 1
    level_ptr = np.searchsorted(lv, np.arange(num_levels + 1), side="left").astype(np.int64)
    level_ptr[-1] = n

    src_pos = position[wiring.source]
    dst_pos = position[wiring.target]
    in_ptr, in_src, edge_index = csr(dst_pos, src_pos, n)
    check_duplicate_edges(wiring, in_ptr, in_src, edge_index)
    out_ptr, out_dst, out_edge = csr(src_pos[edge_index], dst_pos[edge_index], n)

    act_code = codes[node_index]
    act_code[: inp.size] = CUSTOM  # never read for inputs
    gid = group_id[node_index]
    groups = []
    for l in range(1, num_levels):
        a, b = int(level_ptr[l]), int(level_ptr[l + 1])
        if a == b:
            continue
        cut = a + 1 + np.flatnonzero(gid[a + 1:b] != gid[a:b - 1])
        bounds = [a, *cut.tolist(), b]
        for s, e in zip(bounds[:-1], bounds[1:]):
            groups.append((s, e, key_of_group[int(gid[s])]))
    plan = Plan(
        num_nodes=n,
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
    )
    return plan, wiring


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
    )
    return sub, keep
