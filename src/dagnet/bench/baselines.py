"""Baselines for the engine benchmark: 4Ward's dense-masked levels and a per-node loop.

Both compute exactly the network function of :class:`dagnet.DAGNetwork` (same
semantics, same default inputs and outputs) from the weights and biases of a
:class:`dagnet.Wiring`, so a benchmark can hand them ``net.to_wiring()`` and
compare like with like:

* :class:`FourWardNet` reproduces the method of 4Ward (Boccato et al., arXiv
  2209.02037): longest-path layering
  from the sinks with the sources pushed to layer 0, then per layer a gather of
  the predecessor activations and one dense matmul with a 0/1 mask,
  ``A[:, preds] @ (M * W)``, the activations of all nodes kept in one
  (batch, nodes) buffer that later layers gather from.
* :class:`SequentialNet` is the "learning matrix" baseline 4Ward compares with:
  one neuron at a time in topological order,
  ``a_v = f(b_v + a[preds(v)] . w_v)``.

Their construction is vectorised with NumPy (4Ward's own was quadratic
Python); what a benchmark measures is their cost per training step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..activations.registry import resolve_activation
from ..csr import csr
from ..errors import GraphError, InputShapeError
from ..layering import alap, topological_levels
from ..nn.init import initial_values
from ..plan import check_duplicate_edges
from ..roles import resolve_roles
from ..seeding import resolve_seed, torch_generator
from ..wiring import Wiring

__all__ = ["FourWardNet", "SequentialNet", "fourward_dense_size"]


# --------------------------------------------------------------------------- shared set-up
@dataclass(eq=False)
class _Spec:
    """What both baselines need from a wiring, validated, in wiring order."""

    wiring: Wiring
    inputs: np.ndarray  # node indices, column order
    outputs: np.ndarray
    weight: np.ndarray  # float64 (num_edges,), no NaN
    bias: np.ndarray  # float64 (num_nodes,), 0 for inputs
    act_id: np.ndarray  # int64 (num_nodes,), index into keys; -1 for inputs
    keys: list  # distinct activation keys (names or callables)
    fns: list  # the torch callable of each key


def _prepare(wiring: Wiring, activation, output_activation, seed) -> _Spec:
    if not isinstance(wiring, Wiring):
        raise GraphError(
            f"Expected a dagnet.Wiring, got {type(wiring).__name__}; pass Wiring.from_graph(graph) or net.to_wiring()."
        )
    inputs, outputs = resolve_roles(wiring, None, None)
    n = wiring.num_nodes
    ptr, col, perm = csr(wiring.target, wiring.source, n)
    check_duplicate_edges(wiring, ptr, col, perm)
    w0, b0 = initial_values("kaiming_uniform", wiring.source, wiring.target, n, torch_generator(resolve_seed(seed)))
    weight = w0.numpy()
    bias = b0.numpy()
    if wiring.weight is not None:
        weight = np.where(np.isnan(wiring.weight), weight, wiring.weight)
    if wiring.bias is not None:
        bias = np.where(np.isnan(wiring.bias), bias, wiring.bias)
    is_input = np.zeros(n, dtype=bool)
    is_input[inputs] = True
    bias = np.where(is_input, 0.0, bias)
    is_output = np.zeros(n, dtype=bool)
    is_output[outputs] = True

    keys: list = []
    fns: list = []
    slot: dict = {}

    def intern(spec) -> int:
        key, _, fn = resolve_activation(spec)
        ident = key if isinstance(key, str) else ("callable", id(key))
        if ident not in slot:
            slot[ident] = len(keys)
            keys.append(key)
            fns.append(fn)
        return slot[ident]

    hidden, final = intern(activation), intern(output_activation)
    act_id = np.where(is_output, final, hidden).astype(np.int64)
    if wiring.activation is not None:
        for v, spec in enumerate(wiring.activation):
            if spec is not None:
                act_id[v] = intern(spec)
    act_id[is_input] = -1
    return _Spec(wiring, inputs, outputs, weight, bias, act_id, keys, fns)


def _modules(fns: list) -> nn.ModuleList:
    """Activation modules among ``fns`` (so ``.to()`` moves their parameters)."""
    return nn.ModuleList([f for f in fns if isinstance(f, nn.Module)])


def _check_input(x: torch.Tensor, in_features: int, ref: torch.Tensor) -> torch.Tensor:
    """Return ``x`` as (batch, in_features), checking its shape and dtype against ``ref``."""
    if x.dim() == 0 or x.shape[-1] != in_features:
        raise InputShapeError(
            f"Expected input of shape (*, {in_features}) (one column per source node), got {tuple(x.shape)}."
        )
    if x.dtype != ref.dtype:
        raise InputShapeError(f"Expected input of dtype {ref.dtype}, got {x.dtype}.")
    return x.reshape(-1, in_features)


def _groups(act_id: np.ndarray) -> list[tuple[int, int, int]]:
    """Maximal runs ``(start, end, id)`` of equal values in ``act_id``."""
    if act_id.size == 0:
        return []
    cut = np.flatnonzero(np.diff(act_id)) + 1
    starts = np.concatenate(([0], cut))
    ends = np.concatenate((cut, [act_id.size]))
    return [(int(s), int(e), int(act_id[s])) for s, e in zip(starts, ends)]


# --------------------------------------------------------------------------- 4Ward
@dataclass(eq=False)
class _Layout:
    """4Ward's dense blocks: per layer, its nodes (columns) and predecessors (rows)."""

    level: np.ndarray  # ALAP level of every node
    node_order: np.ndarray  # nodes sorted by (level, activation, id)
    layer_ptr: np.ndarray  # layer l holds node_order[layer_ptr[l]:layer_ptr[l + 1]]
    preds: np.ndarray  # predecessor node of each (layer, row), sorted by layer then node
    pred_ptr: np.ndarray  # layer l's rows are preds[pred_ptr[l]:pred_ptr[l + 1]]
    edge_layer: np.ndarray  # layer of each edge's target
    edge_row: np.ndarray  # row of each edge in its layer's block
    edge_col: np.ndarray  # column of each edge in its layer's block

    @property
    def num_layers(self) -> int:
        return int(self.layer_ptr.size - 1)

    def dense_size(self) -> int:
        """Entries of all dense blocks: sum over layers of |preds| x |layer|."""
        return int((np.diff(self.pred_ptr) * np.diff(self.layer_ptr)).sum())


def _layout(wiring: Wiring, act_id: np.ndarray | None = None) -> _Layout:
    n = wiring.num_nodes
    level = alap(wiring)  # sinks last; sources pinned to layer 0 (4Ward's push_sources)
    depth = int(level.max()) + 1 if n else 0
    ids = np.arange(n, dtype=np.int64)
    act = np.zeros(n, dtype=np.int64) if act_id is None else act_id
    node_order = np.lexsort((ids, act, level))
    layer_ptr = np.zeros(depth + 1, dtype=np.int64)
    np.cumsum(np.bincount(level, minlength=depth), out=layer_ptr[1:])
    node_col = np.empty(n, dtype=np.int64)
    node_col[node_order] = ids - layer_ptr[level[node_order]]

    src, dst = wiring.source, wiring.target
    edge_layer = level[dst]
    key = edge_layer * max(n, 1) + src
    ukey, inverse = np.unique(key, return_inverse=True)
    pred_layer = ukey // max(n, 1)
    pred_ptr = np.searchsorted(pred_layer, np.arange(depth + 1)).astype(np.int64)
    edge_row = inverse.reshape(-1) - pred_ptr[edge_layer]
    return _Layout(level, node_order, layer_ptr, ukey % max(n, 1), pred_ptr, edge_layer, edge_row, node_col[dst])


def fourward_dense_size(wiring: Wiring) -> int:
    """Return the number of entries of 4Ward's dense weight blocks for ``wiring``.

    4Ward holds, per layer, a dense |preds| x |layer| weight matrix and a 0/1
    mask of the same size; this counts the entries of one of the two without
    allocating them (one sort of the edges), so it can be compared with the
    edge count even where building :class:`FourWardNet` would not fit in memory.

    Examples
    --------
    >>> w = Wiring(4, source=[0, 1, 2], target=[2, 2, 3])
    >>> fourward_dense_size(w)  # layer 1: {0, 1} -> {2}; layer 2: {2} -> {3}
    3
    """
    return _layout(wiring).dense_size()


class FourWardNet(nn.Module):
    r"""4Ward's network: ALAP layers, each a dense matmul with a 0/1 mask.

    Reproduces the method of Boccato et al. (4Ward, arXiv 2209.02037) on a
    :class:`dagnet.Wiring`: nodes are layered by the longest path from the
    sinks (as late as possible) with every source on layer 0
    (:func:`dagnet.layering.alap`). For each later layer ``l`` with nodes
    ``S_l`` and predecessor set ``P_l`` (the distinct nodes of earlier layers
    with an edge into ``S_l``), the layer holds a dense weight matrix ``W_l``
    and a 0/1 mask ``M_l`` of shape ``(|P_l|, |S_l|)`` and computes

    .. math:: A[:, S_l] = f(b_l + A[:, P_l] (M_l \odot W_l))

    where ``A`` is one (batch, nodes) buffer of all activations, written in
    place layer by layer so any later layer can gather any earlier node.
    4Ward appends the bias as an extra row of ``W`` against a column of ones;
    here it is a separate per-node vector fed to ``addmm`` (the same function
    and gradient, without the copy). Unlike 4Ward, node ids need not be
    ``0..N-1`` labels, per-node activations are honoured and nothing touches
    the global RNG.

    Parameters
    ----------
    wiring : Wiring
        The DAG and its values. Edge weights and node biases are taken from
        ``wiring.weight`` and ``wiring.bias`` (``net.to_wiring()`` of a
        :class:`dagnet.DAGNetwork` gives a FourWardNet computing exactly that
        network's function); missing (NaN) values are drawn with DAGNetwork's
        default rule (kaiming-uniform on the true fan-in) from ``seed``.
        ``wiring.activation`` overrides the defaults per node.
    activation : str or callable, default "relu"
        Activation of hidden nodes.
    output_activation : str or callable, default "identity"
        Activation of output nodes (the sinks).
    seed : int, numpy Generator or random.Random, optional
        Seed for the values the wiring leaves unset.
    dtype, device : optional
        Of the parameters and buffers.

    Attributes
    ----------
    weights, biases : ParameterList
        ``weights[l - 1]`` is the dense ``W_l`` (masked entries stay 0 and get
        zero gradient), ``biases[l - 1]`` the biases of the nodes of layer ``l``.
    in_features, out_features, num_nodes, num_edges, num_layers : int
        Inputs are the sources and outputs the sinks, in node order (as
        DAGNetwork's defaults); ``num_layers`` counts layer 0.
    dense_size : int
        Entries of all ``W_l`` together (the mask holds as many).

    Shape
    -----
    Input ``(*, in_features)``, output ``(*, out_features)``.

    Examples
    --------
    >>> from dagnet import DAGNetwork
    >>> from dagnet.topology import erdos_renyi_dag
    >>> wiring = erdos_renyi_dag(30, 0.2, seed=0, as_wiring=True)
    >>> net = DAGNetwork(wiring, seed=0, dtype=torch.float64)
    >>> fw = FourWardNet(net.to_wiring(), dtype=torch.float64)
    >>> x = torch.linspace(-1, 1, 5 * net.in_features, dtype=torch.float64).reshape(5, -1)
    >>> torch.allclose(fw(x), net(x))
    True
    """

    def __init__(
        self,
        wiring: Wiring,
        activation: str | Callable = "relu",
        output_activation: str | Callable = "identity",
        seed: int | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        spec = _prepare(wiring, activation, output_activation, seed)
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        factory = dict(dtype=dtype, device=device)
        lay = _layout(wiring, spec.act_id)
        self._spec = spec
        self._layout = lay
        self.activation_modules = _modules(spec.fns)
        self.register_buffer("source_index", torch.as_tensor(spec.inputs, device=device))
        self.register_buffer("sink_index", torch.as_tensor(spec.outputs, device=device))
        self.register_buffer("_ref", torch.empty(0, **factory), persistent=False)  # dtype/device

        edges_by_layer = np.argsort(lay.edge_layer, kind="stable")
        edge_ptr = np.searchsorted(lay.edge_layer[edges_by_layer], np.arange(lay.num_layers + 1))
        self._edge_groups: list[np.ndarray] = []
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self._act_groups: list[list[tuple[int, int, Callable]]] = []
        for l in range(1, lay.num_layers):
            nodes = lay.node_order[lay.layer_ptr[l] : lay.layer_ptr[l + 1]]
            preds = lay.preds[lay.pred_ptr[l] : lay.pred_ptr[l + 1]]
            edges = edges_by_layer[edge_ptr[l] : edge_ptr[l + 1]]
            rows, cols = lay.edge_row[edges], lay.edge_col[edges]
            W = np.zeros((preds.size, nodes.size))
            W[rows, cols] = spec.weight[edges]
            M = np.zeros((preds.size, nodes.size))
            M[rows, cols] = 1.0
            self.weights.append(nn.Parameter(torch.from_numpy(W).to(**factory)))
            self.biases.append(nn.Parameter(torch.from_numpy(spec.bias[nodes]).to(**factory)))
            self.register_buffer(f"mask_{l}", torch.from_numpy(M).to(**factory))
            self.register_buffer(f"preds_{l}", torch.as_tensor(preds, device=device))
            self.register_buffer(f"nodes_{l}", torch.as_tensor(nodes, device=device))
            self._edge_groups.append(edges)
            self._act_groups.append([(s, e, spec.fns[a]) for s, e, a in _groups(spec.act_id[nodes])])

    # ---------------------------------------------------------------- views
    @property
    def in_features(self) -> int:
        return int(self._spec.inputs.size)

    @property
    def out_features(self) -> int:
        return int(self._spec.outputs.size)

    @property
    def num_nodes(self) -> int:
        return self._spec.wiring.num_nodes

    @property
    def inputs(self) -> list:
        """Labels of the input nodes (the sources), in column order."""
        return [self._spec.wiring.label(i) for i in self._spec.inputs]

    @property
    def outputs(self) -> list:
        """Labels of the output nodes (the sinks), in column order."""
        return [self._spec.wiring.label(i) for i in self._spec.outputs]

    @property
    def num_edges(self) -> int:
        return self._spec.wiring.num_edges

    @property
    def num_layers(self) -> int:
        return self._layout.num_layers

    @property
    def dense_size(self) -> int:
        return self._layout.dense_size()

    def levels(self) -> np.ndarray:
        """Return the layer of every node (wiring order), as an int64 array."""
        return self._layout.level.copy()

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"nodes={self.num_nodes}, edges={self.num_edges}, layers={self.num_layers}, "
            f"dense_size={self.dense_size}"
        )

    # ---------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        x2 = _check_input(x, self.in_features, self._ref)
        A = x2.new_zeros(x2.shape[0], self.num_nodes)  # (batch, nodes): every activation
        A[:, self.source_index] = x2
        for i, (W, b, groups) in enumerate(zip(self.weights, self.biases, self._act_groups)):
            l = i + 1
            M = getattr(self, f"mask_{l}")
            z = torch.addmm(b, A[:, getattr(self, f"preds_{l}")], M * W)  # (batch, |layer|)
            if len(groups) == 1:
                z = groups[0][2](z)
            else:
                z = torch.cat([fn(z[:, s:e]) for s, e, fn in groups], dim=1)
            A[:, getattr(self, f"nodes_{l}")] = z
        return A[:, self.sink_index].reshape(*lead, self.out_features)

    # ---------------------------------------------------------------- values
    def _per_edge(self, mats) -> np.ndarray:
        out = np.zeros(self.num_edges)
        lay = self._layout
        for edges, m in zip(self._edge_groups, mats):
            if m is None:
                continue
            rows = torch.as_tensor(lay.edge_row[edges], device=m.device)
            cols = torch.as_tensor(lay.edge_col[edges], device=m.device)
            out[edges] = m.detach()[rows, cols].cpu().double().numpy()
        return out

    def _per_node(self, vecs) -> np.ndarray:
        out = np.full(self.num_nodes, np.nan)
        lay = self._layout
        for l, v in enumerate(vecs, start=1):
            if v is not None:
                out[lay.node_order[lay.layer_ptr[l] : lay.layer_ptr[l + 1]]] = v.detach().cpu().double().numpy()
        return out

    def to_wiring(self) -> Wiring:
        """Return the wiring with the current weights and biases (wiring order).

        Examples
        --------
        >>> w = Wiring(3, [0, 1], [2, 2], weight=[0.5, -1.0], bias=[0.0, 0.0, 0.25])
        >>> FourWardNet(w).to_wiring().weight.tolist()
        [0.5, -1.0]
        """
        w = self._spec.wiring
        return Wiring(
            w.num_nodes,
            w.source,
            w.target,
            weight=self._per_edge(self.weights),
            bias=self._per_node(self.biases),
            labels=w.labels,
            activation=self._activations(),
        )

    def gradients(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(weight_grad, bias_grad)`` after a backward pass, in wiring order.

        ``weight_grad`` has one entry per edge, ``bias_grad`` one per node (NaN
        for inputs); parameters without a gradient count as zero.

        Examples
        --------
        >>> net = FourWardNet(Wiring(2, [0], [1], weight=[2.0], bias=[0.0, 1.0]))
        >>> net(torch.ones(3, 1)).sum().backward()
        >>> [g.tolist() for g in net.gradients()]
        [[3.0], [nan, 3.0]]
        """
        weight = self._per_edge([W.grad for W in self.weights])
        bias = self._per_node([b.grad if b.grad is not None else torch.zeros_like(b) for b in self.biases])
        return weight, bias

    def _activations(self) -> list:
        return [None if a < 0 else self._spec.keys[a] for a in self._spec.act_id.tolist()]


# --------------------------------------------------------------------------- sequential
class SequentialNet(nn.Module):
    r"""The per-node ("learning matrix") baseline: one neuron at a time.

    Nodes are visited in a topological order and each computes
    :math:`a_v = f_v(b_v + a[\mathrm{preds}(v)] \cdot w_v)` from the stored
    activations of its predecessors: one small gather and dot product per
    node, so the number of sequential steps is the number of nodes. Each
    node's activation is its own (batch,) tensor, so the backward pass costs
    O(edges x batch) plus a constant per node (no per-node copy of a whole
    buffer).

    Parameters
    ----------
    wiring : Wiring
        The DAG and its values; as for :class:`FourWardNet`.
    activation, output_activation, seed, dtype, device
        As for :class:`FourWardNet`.

    Attributes
    ----------
    weight : Parameter, shape (num_edges,)
        All weights, grouped by target in the visiting order.
    bias : Parameter, shape (num_nodes - in_features,)
        One bias per non-input node, in the visiting order.
    in_features, out_features, num_nodes, num_edges : int

    Examples
    --------
    >>> from dagnet import DAGNetwork
    >>> from dagnet.topology import erdos_renyi_dag
    >>> wiring = erdos_renyi_dag(30, 0.2, seed=0, as_wiring=True)
    >>> net = DAGNetwork(wiring, seed=0, dtype=torch.float64)
    >>> seq = SequentialNet(net.to_wiring(), dtype=torch.float64)
    >>> x = torch.linspace(-1, 1, 5 * net.in_features, dtype=torch.float64).reshape(5, -1)
    >>> torch.allclose(seq(x), net(x))
    True
    """

    def __init__(
        self,
        wiring: Wiring,
        activation: str | Callable = "relu",
        output_activation: str | Callable = "identity",
        seed: int | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        spec = _prepare(wiring, activation, output_activation, seed)
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        factory = dict(dtype=dtype, device=device)
        n = wiring.num_nodes
        self._spec = spec
        self.activation_modules = _modules(spec.fns)
        is_input = np.zeros(n, dtype=bool)
        is_input[spec.inputs] = True
        order, _ = topological_levels(n, wiring.source, wiring.target, is_input)
        order = order[~is_input[order]]  # the nodes computed, in a topological order
        ptr, col, perm = csr(wiring.target, wiring.source, n)
        counts = np.diff(ptr)[order]
        offsets = np.concatenate(([0], np.cumsum(counts)))
        flat = np.repeat(ptr[order] - offsets[:-1], counts) + np.arange(offsets[-1])
        self._flat_edge = perm[flat]  # wiring edge of each entry of self.weight
        self._order = order
        self._pred_lists = [a.tolist() for a in np.split(col[flat], offsets[1:-1])] if order.size else []
        self._counts = counts.tolist()
        self._fns = [spec.fns[a] for a in spec.act_id[order].tolist()]
        self._inputs = spec.inputs.tolist()
        self._outputs = spec.outputs.tolist()
        self.weight = nn.Parameter(torch.from_numpy(spec.weight[self._flat_edge]).to(**factory))
        self.bias = nn.Parameter(torch.from_numpy(spec.bias[order]).to(**factory))

    @property
    def in_features(self) -> int:
        return len(self._inputs)

    @property
    def out_features(self) -> int:
        return len(self._outputs)

    @property
    def num_nodes(self) -> int:
        return self._spec.wiring.num_nodes

    @property
    def inputs(self) -> list:
        """Labels of the input nodes (the sources), in column order."""
        return [self._spec.wiring.label(i) for i in self._spec.inputs]

    @property
    def outputs(self) -> list:
        """Labels of the output nodes (the sinks), in column order."""
        return [self._spec.wiring.label(i) for i in self._spec.outputs]

    @property
    def num_edges(self) -> int:
        return self._spec.wiring.num_edges

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"nodes={self.num_nodes}, edges={self.num_edges}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        x2 = _check_input(x, self.in_features, self.weight)
        a: list = [None] * self.num_nodes
        for u, column in zip(self._inputs, x2.unbind(1)):
            a[u] = column
        weights = torch.split(self.weight, self._counts)
        biases = self.bias.unbind(0)
        for v, preds, w, b, fn in zip(self._order.tolist(), self._pred_lists, weights, biases, self._fns):
            if preds:
                z = torch.mv(torch.stack([a[u] for u in preds], dim=1), w) + b  # (batch,)
            else:  # unreachable with default roles; kept for completeness
                z = b.expand(x2.shape[0])
            a[v] = fn(z)
        out = torch.stack([a[o] for o in self._outputs], dim=1)
        return out.reshape(*lead, self.out_features)

    def to_wiring(self) -> Wiring:
        """Return the wiring with the current weights and biases (wiring order).

        Examples
        --------
        >>> w = Wiring(3, [0, 1], [2, 2], weight=[0.5, -1.0], bias=[0.0, 0.0, 0.25])
        >>> SequentialNet(w).to_wiring().bias.tolist()
        [nan, nan, 0.25]
        """
        w = self._spec.wiring
        weight = np.empty(self.num_edges)
        weight[self._flat_edge] = self.weight.detach().cpu().double().numpy()
        bias = np.full(self.num_nodes, np.nan)
        bias[self._order] = self.bias.detach().cpu().double().numpy()
        act = [None if i < 0 else self._spec.keys[i] for i in self._spec.act_id.tolist()]
        return Wiring(w.num_nodes, w.source, w.target, weight=weight, bias=bias, labels=w.labels, activation=act)

    def gradients(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(weight_grad, bias_grad)`` after a backward pass, in wiring order.

        Examples
        --------
        >>> net = SequentialNet(Wiring(2, [0], [1], weight=[2.0], bias=[0.0, 1.0]))
        >>> net(torch.ones(3, 1)).sum().backward()
        >>> [g.tolist() for g in net.gradients()]
        [[3.0], [nan, 3.0]]
        """
        weight = np.zeros(self.num_edges)
        if self.weight.grad is not None:
            weight[self._flat_edge] = self.weight.grad.detach().cpu().double().numpy()
        bias = np.full(self.num_nodes, np.nan)
        bias[self._order] = 0.0
        if self.bias.grad is not None:
            bias[self._order] = self.bias.grad.detach().cpu().double().numpy()
        return weight, bias
