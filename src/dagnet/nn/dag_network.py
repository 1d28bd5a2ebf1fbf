"""`DAGNetwork`: a trainable network whose wiring is any directed acyclic graph."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Hashable, Sequence

import networkx as nx
import numpy as np
import torch
from torch import nn

from ..activations.combine import apply_combine, resolve_combine
from ..activations.registry import resolve_activation
from ..engine import BACKENDS, DTYPES, CombineGroup, Group, Runtime, make_runtime, run_network
from ..engine.backends import default_backend, resolve_backend
from ..engine.codes import CUSTOM
from ..engine.custom_ops import network_forward, register_network
from ..engine.precision import autocast_dtype
from ..errors import DeadNodeWarning, GraphError, InputShapeError, NonFiniteValueError
from ..plan import Plan, compile_plan
from ..seeding import resolve_seed, torch_generator
from ..topology._budget import NETWORK_EDGE, NETWORK_NODE, check_size
from ..wiring import Wiring
from ._common import as_batch, beyond, value_problem
from .init import network_values
from .remap import remap_parameter_

__all__ = ["DAGNetwork"]

_TOPOLOGY_KEYS = ("node_index", "in_ptr", "in_src")  # they fix the plan (see _load_from_state_dict)
_INDEX_BUFFERS = (
    "in_ptr",
    "in_src",
    "out_ptr",
    "out_dst",
    "out_edge",
    "act_code",
    "out_col",
    "output_pos",
    "level_ptr",
    "node_index",
    "edge_index",
)  # all follow from the plan (see _plan_buffers)


class DAGNetwork(nn.Module):
    r"""A neural network wired by a directed acyclic graph, down to single neurons.

    Every non-input node ``v`` computes
    :math:`a_v = f_v(b_v + \sum_{u \to v} w_{uv} a_u)`. Nodes are grouped into
    levels (every edge goes up a level) and each level is computed at once by
    a truly sparse engine: one weight per edge, one bias per non-input node,
    no dense matrix or mask anywhere.

    Parameters
    ----------
    graph : networkx.DiGraph or Wiring
        The wiring. Node labels may be any hashable values. The node attributes
        ``activation`` (a name or an element-wise differentiable callable) and
        ``bias``, and the edge attribute ``weight``, give per-node activations
        and initial values. A node attribute ``combine`` (``"pynada"``,
        ``"and"``, ``"or"``, ``"xnor"``, their ``"_exact"`` forms, ``"max"``
        or a callable over a (rows, branches) tensor) makes a multi-branch
        node: each in-edge joins the dendritic branch named by its ``branch``
        attribute (default 0), each branch has its own weighted sum and bias
        (initial values: node attribute ``branch_bias``), and the node computes
        ``activation(combine(z_0, z_1, ...))``, its activation defaulting to
        the identity (see :mod:`dagnet.activations.combine`).
    inputs : list of nodes, optional
        Input nodes, one per column of the input batch. Default: the nodes with
        no predecessor, in ``graph.nodes`` order. Inputs must have no predecessor.
    outputs : list of nodes, optional
        Output nodes, one per column of the result. Default: the nodes with no
        successor, in ``graph.nodes`` order. An output may have successors.
    activation : str or callable, default "relu"
        Activation of hidden nodes. Fast names: ``relu``, ``tanh``,
        ``sigmoid``, ``leaky_relu``, ``identity``; others (``gelu``, ``elu``,
        ``silu``, ...) or any callable run as torch code on the node's slice.
        An ``nn.Module`` activation is registered as a submodule, so its
        parameters train.
    output_activation : str or callable, default "identity"
        Activation of output nodes (the default gives logits).
    init : str, default "kaiming_uniform"
        Initialisation: ``kaiming_uniform`` (``nn.Linear``'s rule on each
        node's true fan-in), ``kaiming_normal``, ``xavier_uniform``,
        ``xavier_normal``, ``zeros``, or with no random number at all (the
        seed does not matter; biases 0) ``deterministic`` (signed, from each
        edge's position in the wiring) and its fixed-sign variant
        ``deterministic_positive`` (all weights positive): see
        :func:`dagnet.nn.init.deterministic_values`. Given ``weight``/``bias``
        attributes win.
    bias : bool, default True
        Whether non-input nodes have a trainable bias.
    layering : {"asap", "alap", "bounded"}, default "asap"
        How nodes are assigned to levels (see :mod:`dagnet.layering`);
        ``"bounded"`` needs ``max_width``.
    max_width : int, optional
        Most nodes per level with ``layering="bounded"``.
    prune_dead : bool, default False
        Remove nodes that no input reaches or that reach no output (they are
        reported by a :class:`~dagnet.errors.DeadNodeWarning` otherwise).
    seed : int, numpy Generator or random.Random, optional
        Seed of the initialisation; ``None`` draws one (stored as ``self.seed``).
    backend : {"numba", "torch", "triton"}, optional
        Kernels: compiled CPU kernels (``"numba"``, the default on CPU), Triton
        GPU kernels (``"triton"``, the default on CUDA when triton imports;
        under ``torch.autocast`` with float16 or bfloat16 they compute in that
        dtype with float32 sums and weights) or torch sparse ops (``"torch"``,
        any device; the default on other devices). ``"triton"`` on CPU tensors
        runs only under Triton's interpreter (``TRITON_INTERPRET=1``, for tests).
    dtype, device : optional
        Of the parameters, as for ``nn.Linear``.

    Attributes
    ----------
    weight : Parameter, shape (num_edges,)
        One weight per edge, ordered by target position then source.
    bias : Parameter or None
        One bias per non-input node and per branch of a multi-branch node
        (whose own entry is unused and stays 0).
    inputs, outputs : list
        Labels of the input and output nodes, in column order.
    in_features, out_features, num_edges, num_nodes, num_layers : int
        ``num_layers`` counts the levels, the input level included: the number
        of sequential steps of the forward pass (longest path + 1 with "asap").

    Shape
    -----
    Input ``(*, in_features)``, output ``(*, out_features)``.

    Raises
    ------
    CycleError, SelfLoopError, EmptyGraphError, NodeNotFoundError,
    InputHasPredecessorsError, DuplicateNodeError, NonFiniteValueError
        Subclasses of ``ValueError`` that name the offending nodes.

    Examples
    --------
    >>> g = nx.DiGraph([("x1", "h"), ("x2", "h"), ("h", "y"), ("x1", "y")])
    >>> net = DAGNetwork(g, seed=0)
    >>> net(torch.ones(4, 2)).shape
    torch.Size([4, 1])
    """

    def __init__(
        self,
        graph: nx.DiGraph | Wiring,
        inputs: Sequence[Hashable] | None = None,
        outputs: Sequence[Hashable] | None = None,
        activation: str | Callable = "relu",
        output_activation: str | Callable = "identity",
        init: str = "kaiming_uniform",
        bias: bool = True,
        layering: str = "asap",
        max_width: int | None = None,
        prune_dead: bool = False,
        seed: int | None = None,
        backend: str | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        if backend is not None and backend not in BACKENDS:
            raise ValueError(f"The 'backend' parameter must be one of {BACKENDS} or None. Got {backend!r} instead.")
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        _check_dtype(dtype)
        wiring = graph if isinstance(graph, Wiring) else Wiring.from_graph(graph)
        check_size(
            f"DAGNetwork(<{wiring.num_nodes} nodes, {wiring.num_edges} edges>)",
            wiring.num_edges,
            NETWORK_EDGE,
            wiring.num_nodes,
            NETWORK_NODE,
            "Build a smaller graph.",
        )
        _check_module_specs(wiring)
        plan, wiring = compile_plan(
            wiring, inputs, outputs, activation, output_activation, layering, max_width, prune_dead
        )
        self.seed = resolve_seed(seed)
        self.config = dict(
            activation=activation,
            output_activation=output_activation,
            init=init,
            bias=bool(bias),
            layering=layering,
            max_width=max_width,
            backend=backend,
        )
        self._labels = plan.labels
        self._node_activation = wiring.activation
        self._node_combine = wiring.combine
        factory = dict(dtype=dtype, device=device)
        weight0, bias0 = network_values(wiring, plan, init, bias, torch_generator(self.seed), dtype)
        self.weight = nn.Parameter(weight0.to(**factory))
        if bias:
            self.bias = nn.Parameter(bias0.to(**factory))
        else:
            self.register_parameter("bias", None)
        self.weight_modifier: nn.Module | None = None  # per-edge transform of the weights (see dagnet.evolve)
        self.retain_activity = False
        # label -> group (e.g. a Population's member; -1: shared): rewiring keeps each group's edges inside it
        self.group_key: Callable[[Hashable], int] | None = None
        self._set_plan(plan, device)

    # ---------------------------------------------------------------- topology
    def _set_plan(self, plan: Plan, device) -> None:
        n = plan.num_nodes
        for name, t in _plan_buffers(plan).items():  # the state_dict holds the topology; the rest follows
            self.register_buffer(name, t.to(device), persistent=name in _TOPOLOGY_KEYS)
        self.register_buffer(
            "_no_bias", torch.zeros(n - plan.num_inputs, dtype=self.weight.dtype, device=device), persistent=False
        )
        self._groups = plan.groups
        self._combines = plan.combines
        self._unit_owner = plan.unit_owner
        self._unit_branch = plan.unit_branch
        self._num_inputs = plan.num_inputs
        modules = []
        for _, _, key in plan.groups:
            if isinstance(key, nn.Module) and all(key is not m for m in modules):
                modules.append(key)
        if modules:  # parameters of module activations train with the network
            self.activation_modules = nn.ModuleList(modules)
        else:  # nothing to register (and nothing to print)
            self._modules.pop("activation_modules", None)
            self.__dict__["activation_modules"] = ()
        self._runtime: Runtime | None = None
        self._activity = None
        register_network(self)

    def __getstate__(self) -> dict:
        """For pickling (``torch.save(module)``, ``copy.deepcopy``): the runtime is rebuilt on the next call."""
        state = self.__dict__.copy()
        state["_runtime"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        register_network(self)

    def _apply(self, fn, recurse=True):
        self._runtime = None  # index tensors move: rebuild the runtime lazily
        return super()._apply(fn, recurse)

    def _get_runtime(self) -> Runtime:
        if self._runtime is None:
            backend = resolve_backend(self.config["backend"], self.weight.device)
            params = [p for m in self.activation_modules for p in m.parameters()]
            self._act_params = tuple(params)
            groups = []
            for start, end, key in self._groups:
                code = int(self.act_code[start]) if start < self.act_code.numel() else CUSTOM
                fn, idx = resolve_activation(key)[2], ()
                if isinstance(key, nn.Module):
                    mine = list(key.named_parameters())
                    idx = tuple(next(i for i, p in enumerate(params) if p is q) for _, q in mine)
                    fn = _functional(key, [name for name, _ in mine])
                groups.append(Group(start, end, code, fn, idx))
            combines = [
                CombineGroup(s, e, u, k, _combined(key, resolve_activation(act)[2]))
                for s, e, u, k, key, act in self._combines
            ]
            index = {
                k: getattr(self, k)
                for k in ("in_ptr", "in_src", "out_ptr", "out_dst", "out_edge", "act_code", "out_col", "output_pos")
            }
            with _plain_tensors():  # built from the buffers, outside any torch.func transform
                self._runtime = make_runtime(
                    index, self.level_ptr.cpu().numpy(), self._num_inputs, groups, backend, combines
                )
        self._runtime.retain = self.retain_activity
        return self._runtime

    # ---------------------------------------------------------------- changing the wiring
    def edge_endpoints(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(source, target)``: the node numbers of each edge, aligned with ``self.weight``.

        Node ``i`` is ``self.node_labels[i]``. An edge into a branch of a
        multi-branch node has that node as its target.

        Examples
        --------
        >>> net = DAGNetwork(nx.DiGraph([("a", "c"), ("b", "c")]), seed=0)
        >>> src, dst = net.edge_endpoints()
        >>> [(net.node_labels[u], net.node_labels[v]) for u, v in zip(src, dst)]
        [('a', 'c'), ('b', 'c')]
        """
        src, dst_ext = self._edge_ids()
        return src, self._id_owner_branch()[0][dst_ext]

    @property
    def node_labels(self) -> list:
        """The node labels; node number ``i`` in :meth:`edge_endpoints` is ``node_labels[i]``."""
        return list(self._labels)

    def _edge_ids(self, node_index=None, in_ptr=None, in_src=None) -> tuple[np.ndarray, np.ndarray]:
        """Source node and target id (a node, or a branch unit ``>= num_nodes``) of each weight."""
        node_index = (self.node_index if node_index is None else node_index).cpu().numpy()
        src, dst = _edge_rows(self.in_ptr if in_ptr is None else in_ptr, self.in_src if in_src is None else in_src)
        return node_index[src], node_index[dst]

    def _id_owner_branch(self) -> tuple[np.ndarray, np.ndarray]:
        """Node and dendritic branch of every id: nodes are their own (branch 0), then the branch units."""
        n = self.num_nodes
        return (
            np.concatenate([np.arange(n), self._unit_owner]),
            np.concatenate([np.zeros(n, dtype=np.int64), self._unit_branch]),
        )

    def edge_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(source, target)`` positions (rows of the engine's buffers) of each weight."""
        return _edge_rows(self.in_ptr, self.in_src)

    def evolvable_edges(self) -> np.ndarray:
        """Return a boolean mask over the weights: the edges that rewiring may remove.

        Edges into multi-branch nodes are fixed (their branches define the node).
        """
        _, dst_ext = self._edge_ids()
        return dst_ext < self.num_nodes

    def growth_space(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(limit, source_ok)`` over positions: where rewiring may grow edges.

        An edge may grow from position ``u`` to position ``v`` when
        ``u < limit[v]`` and ``source_ok[u]``. Positions follow a topological
        order, so such edges keep the graph acyclic. Here ``limit[v] = v`` for
        every ordinary non-input node and 0 for inputs and multi-branch nodes;
        branch units are never sources. :class:`SparseLinear` narrows it to
        input -> output pairs.
        """
        node_index = self.node_index.cpu().numpy()
        n, m = self.num_nodes, node_index.size
        source_ok = node_index < n
        limit = np.arange(m, dtype=np.int64)
        limit[: self._num_inputs] = 0
        limit[~source_ok] = 0
        for start, end, *_ in self._combines:
            limit[start:end] = 0
        return limit, source_ok

    def last_activity(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Return ``(H, G)`` of the last backward pass, or None.

        ``H`` holds the activations and ``G`` the gradients of the
        pre-activations, both (positions, batch). Kept only while
        ``retain_activity`` is true; a change of wiring clears it.
        """
        runtime = self._runtime
        return None if runtime is None else runtime.activity

    def rewire_(
        self,
        remove: np.ndarray | torch.Tensor | None = None,
        add_source: np.ndarray | None = None,
        add_target: np.ndarray | None = None,
        add_weight: np.ndarray | torch.Tensor | None = None,
        optimizer: torch.optim.Optimizer | None = None,
    ) -> dict:
        """Remove and add edges in place, keeping every other weight, bias and optimizer state.

        The plan is recompiled (linear time; levels may change) and the
        ``weight`` and ``bias`` Parameters keep their identity, so optimizers
        still hold them. Removed weights take their optimizer state with them;
        new ones start at ``add_weight`` (default 0) with zero state.

        Parameters
        ----------
        remove : bool mask or int indices into ``self.weight``, optional
        add_source, add_target : int arrays, optional
            Node numbers (see :meth:`edge_endpoints`) of the new edges.
        add_weight : array, optional
            Initial values of the new edges (default 0).
        optimizer : torch.optim.Optimizer, optional
            Whose state for ``weight`` and ``bias`` is carried along.

        Returns
        -------
        dict
            ``{"removed": int, "added": int}``.

        Raises
        ------
        CycleError
            If the new edges close a cycle (the message shows it); the network
            is left unchanged on any error.
        ValueError
            For an edge into an input, a self-loop, an existing edge, an
            unknown node, or an edge into or removed from a multi-branch node.

        Examples
        --------
        >>> net = DAGNetwork(nx.DiGraph([("a", "c"), ("b", "c")]), seed=0)
        >>> net.rewire_(remove=[0], add_source=[], add_target=[])
        {'removed': 1, 'added': 0}
        >>> net.num_edges
        1
        """
        e, n = self.num_edges, self.num_nodes
        keep = np.ones(e, dtype=bool)
        if remove is not None:
            remove = np.asarray(remove.cpu() if isinstance(remove, torch.Tensor) else remove)
            if remove.dtype == bool:
                if remove.shape != (e,):
                    raise ValueError(
                        f"A boolean 'remove' mask needs one entry per edge ({e}); got shape {remove.shape}."
                    )
                keep = ~remove
            else:
                remove = remove.astype(np.int64).ravel()
                if remove.size and (remove.min() < -e or remove.max() >= e):
                    raise ValueError(f"An index in 'remove' is out of range for {e} edges.")
                keep[remove] = False
        src, dst_ext = self._edge_ids()
        fixed = ~keep & (dst_ext >= n)
        if fixed.any():
            k = int(np.flatnonzero(fixed)[0])
            v = self._unit_owner[dst_ext[k] - n]
            raise ValueError(
                f"Edge {self._labels[src[k]]!r} -> {self._labels[v]!r} feeds a branch of a "
                "multi-branch node; those edges cannot be removed."
            )
        add_src = np.asarray([] if add_source is None else add_source, dtype=np.int64).ravel()
        add_dst = np.asarray([] if add_target is None else add_target, dtype=np.int64).ravel()
        if add_src.shape != add_dst.shape:
            raise ValueError(f"'add_source' and 'add_target' differ in length ({add_src.size} vs {add_dst.size}).")
        if add_src.size:
            bad = (add_src < 0) | (add_src >= n) | (add_dst < 0) | (add_dst >= n)
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"New edge {int(add_src[k])} -> {int(add_dst[k])}: node numbers run from 0 to {n - 1}."
                )
            fixed_node = np.zeros(n, dtype=bool)
            for start, end, *_ in self._combines:
                fixed_node[self.node_index[start:end].cpu().numpy()] = True
            if fixed_node[add_dst].any():
                k = int(np.flatnonzero(fixed_node[add_dst])[0])
                raise ValueError(
                    f"New edge into {self._labels[add_dst[k]]!r}, a multi-branch node; edges cannot grow into those."
                )
        values = None
        if add_weight is not None:
            values = torch.as_tensor(
                add_weight.detach().cpu() if isinstance(add_weight, torch.Tensor) else add_weight, dtype=torch.float64
            ).reshape(-1)
            if values.numel() != add_src.size:
                raise ValueError(f"'add_weight' has {values.numel()} values for {add_src.size} new edges.")
            bad = ~torch.isfinite(values) | beyond(values, self.weight.dtype)
            if bool(bad.any()):
                k = int(bad.nonzero()[0, 0])
                raise NonFiniteValueError(
                    f"'add_weight' of new edge {self._labels[add_src[k]]!r} -> "
                    f"{self._labels[add_dst[k]]!r} is {values[k].item():g}; it must be "
                    f"finite in {self.weight.dtype}."
                )
            values = values.to(self.weight.dtype)

        kept = np.flatnonzero(keep)
        n_units = self._unit_owner.size
        new_dst_ext = np.concatenate([dst_ext[kept], add_dst])
        plan = self._compile_edges(np.concatenate([src[kept], add_src]), new_dst_ext)
        if plan.num_nodes != n + n_units:
            raise ValueError("A rewiring must keep every branch of a multi-branch node.")
        ei = plan.edge_index
        old = np.full(ei.size, -1, dtype=np.int64)
        survivor = ei < kept.size
        old[survivor] = kept[ei[survivor]]
        fill = 0.0 if values is None else values[ei[ei >= kept.size] - kept.size]
        self._replace_plan(plan, torch.from_numpy(old), fill, optimizer)
        return {"removed": int(e - kept.size), "added": int(add_src.size)}

    def _compile_edges(self, src: np.ndarray, dst_ext: np.ndarray) -> Plan:
        """Compile the same nodes with new edges (targets may be branch units)."""
        n = self.num_nodes
        owner, branch = self._id_owner_branch()
        cfg = self.config
        wiring = Wiring(
            n,
            src,
            owner[dst_ext],
            labels=self._labels,
            activation=self._node_activation,
            combine=self._node_combine,
            branch=branch[dst_ext] if self._combines else None,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeadNodeWarning)
            plan, _ = compile_plan(
                wiring,
                self.inputs,
                self.outputs,
                cfg["activation"],
                cfg["output_activation"],
                cfg["layering"],
                cfg["max_width"],
            )
        return plan

    def _replace_plan(self, plan: Plan, edge_map: torch.Tensor, fill, optimizer) -> None:
        """Switch to ``plan``; weight ``i`` becomes old weight ``edge_map[i]`` (``fill`` where -1)."""
        n_in = self._num_inputs
        old_pos = np.empty(plan.num_nodes, dtype=np.int64)
        old_pos[self.node_index.cpu().numpy()] = np.arange(plan.num_nodes)
        bias_map = torch.from_numpy(old_pos[plan.node_index[n_in:]] - n_in)
        device = self.weight.device
        remap_parameter_(self.weight, edge_map, fill, optimizer)
        if self.bias is not None:
            remap_parameter_(self.bias, bias_map, 0.0, optimizer)
        if self.weight_modifier is not None and hasattr(self.weight_modifier, "remap_edges"):
            self.weight_modifier.remap_edges(edge_map.to(device), self, optimizer=optimizer)
        self._set_plan(plan, device)
        if self.weight_modifier is not None and hasattr(self.weight_modifier, "rewired"):
            self.weight_modifier.rewired(self)

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        # A checkpoint written after a rewiring holds another plan: adopt it first. Every index buffer
        # must be the one its plan gives, or nothing is loaded (the kernels index memory with them).
        plan, problem = self._saved_plan(state_dict, prefix)
        if problem is None:
            problem = self._index_mismatch(state_dict, prefix, plan)
        if problem is None:
            problem = self._value_mismatch(state_dict, prefix)
        if problem is not None:
            error_msgs.append(
                f"Cannot load the state_dict into {prefix.rstrip('.') or 'the network'!r}: "
                f"{problem}. Load a state_dict written by DAGNetwork.state_dict()."
            )
            return
        if plan is not None:
            unknown = torch.full((plan.num_edges,), -1, dtype=torch.int64)
            self._replace_plan(plan, unknown, 0.0, None)  # values come from the state dict
        own = {k: getattr(self, k) for k in _TOPOLOGY_KEYS}
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        for k, t in own.items():  # load_state_dict(assign=True) puts the saved (narrowed) tensors in
            if getattr(self, k) is not t:
                self._buffers[k] = t
        derived = {prefix + k for k in _INDEX_BUFFERS if k not in _TOPOLOGY_KEYS}
        unexpected_keys[:] = [k for k in unexpected_keys if k not in derived]  # older state_dicts: checked above

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        for k in _TOPOLOGY_KEYS:  # positions and edge counts in the smallest integer type that holds them
            t = destination[prefix + k]
            destination[prefix + k] = t.to(_index_dtype(int(t.max()) if t.numel() else 0))

    def _saved_plan(self, state_dict, prefix) -> tuple[Plan | None, str | None]:
        """``(plan, None)`` for a saved wiring to adopt, ``(None, None)`` if none, ``(None, problem)`` if invalid."""
        saved = {k: state_dict.get(prefix + k) for k in _TOPOLOGY_KEYS}
        if not all(isinstance(t, torch.Tensor) for t in saved.values()):
            return None, None
        for k, t in saved.items():
            if not _is_index(t):
                return None, f"{k!r} must be a 1-D integer tensor, got {t.dtype} of shape {tuple(t.shape)}"
        node_index, in_ptr, in_src = (saved[k].detach().cpu().long() for k in _TOPOLOGY_KEYS)
        m = self.node_index.numel()
        if node_index.numel() != m or not torch.equal(node_index.sort().values, torch.arange(m)):
            return None, f"'node_index' must order the network's {m} positions (nodes and branches)"
        if in_ptr.numel() != m + 1 or in_ptr[0] != 0 or bool((in_ptr.diff() < 0).any()) or in_ptr[-1] != in_src.numel():
            return None, (f"'in_ptr' must rise from 0 to the length of 'in_src' ({in_src.numel()}) in {m + 1} entries")
        if in_src.numel() and (int(in_src.min()) < 0 or int(in_src.max()) >= m):
            return None, f"'in_src' holds positions outside 0..{m - 1}"
        if all(
            t.shape == getattr(self, k).shape and torch.equal(t, getattr(self, k).cpu().long())
            for k, t in zip(_TOPOLOGY_KEYS, (node_index, in_ptr, in_src))
        ):
            return None, None
        src, dst_ext = self._edge_ids(node_index, in_ptr, in_src)
        try:
            plan = self._compile_edges(src, dst_ext)
        except (ValueError, IndexError, KeyError) as e:
            return None, f"its wiring is not a valid one for this network ({e})"
        if not np.array_equal(plan.node_index, node_index.numpy()):
            return None, "its wiring does not compile to its saved plan"
        return plan, None

    def _value_mismatch(self, state_dict, prefix) -> str | None:
        """What keeps the weights and biases of ``state_dict`` from loading in this dtype (None: nothing)."""
        dtype = self.weight.dtype
        for name in ("weight", "bias"):
            t = state_dict.get(prefix + name)
            problem = value_problem(name, t, dtype) if isinstance(t, torch.Tensor) and dtype in DTYPES else None
            if problem:
                return problem + ("; convert the network to float64 (net.double()) first" if "inf" in problem else "")
        return None

    def _index_mismatch(self, state_dict, prefix, plan: Plan | None) -> str | None:
        """What is wrong with the index buffers and weight size of ``state_dict`` for ``plan`` (None: the current one)."""
        if plan is None:
            want = {k: getattr(self, k) for k in _INDEX_BUFFERS}
            num_edges = self.num_edges
        else:
            want, num_edges = _plan_buffers(plan), plan.num_edges
        for name, own in want.items():
            t = state_dict.get(prefix + name)
            if t is None:
                continue
            if not (isinstance(t, torch.Tensor) and t.shape == own.shape and _is_index(t)):
                return f"the index buffer {name!r} must be an integer tensor of shape {tuple(own.shape)}"
            t = t.detach().cpu().long()
            if name == "edge_index":  # the edges' order in to_wiring(): any order of them
                if not torch.equal(t.sort().values, torch.arange(num_edges)):
                    return f"the index buffer 'edge_index' must order the {num_edges} edges"
            elif not torch.equal(t, own.cpu().long()):
                return (
                    f"the index buffer {name!r} does not match the wiring given by "
                    f"{', '.join(map(repr, _TOPOLOGY_KEYS))}"
                )
        weight = state_dict.get(prefix + "weight")
        if isinstance(weight, torch.Tensor) and weight.shape != (num_edges,):
            return f"'weight' has shape {tuple(weight.shape)}, but its wiring has {num_edges} edges"
        return None

    # ---------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        n_in = self._num_inputs
        if weight.dtype not in DTYPES:
            _check_dtype(weight.dtype)
        x = as_batch(x, n_in, "in_features", type(self).__name__, like=weight)
        compiling = torch.compiler.is_compiling()  # the engine runs as a custom op the compiler does not trace
        backend = resolve_backend(self.config["backend"], weight.device) if compiling else self._get_runtime().backend
        autocasting = autocast_dtype(x.device.type) is not None
        fp32_region = autocasting and backend != "triton"
        if x.dtype != weight.dtype and weight.dtype == torch.float32 and autocasting:
            if fp32_region:  # only triton computes in the autocast dtype; the others in float32
                x = x.to(weight.dtype)
        elif x.dtype != weight.dtype:
            raise InputShapeError(
                f"Expected input of dtype {weight.dtype}, got {x.dtype}; "
                f"convert with x.to({weight.dtype}) or net.to(dtype)."
            )
        if x.device != weight.device:
            raise InputShapeError(f"Input is on {x.device} but the network is on {weight.device}.")
        if self.weight_modifier is not None:
            weight = self.weight_modifier(weight)
        bias = self.bias
        bias = self._no_bias if bias is None else bias
        with torch.autocast(x.device.type, enabled=False) if fp32_region else contextlib.nullcontext():
            # the activation modules' parameters as they are now (torch.func.functional_call swaps them)
            params = [p for m in self.activation_modules for p in m.parameters()]
            if compiling:
                out = network_forward(x.reshape(-1, n_in), weight, bias, id(self), params)[0]
            else:
                out = run_network(x.reshape(-1, n_in), weight, bias, self._runtime, *params)
        return out if x.dim() == 2 else out.reshape(*x.shape[:-1], out.shape[-1])

    # ---------------------------------------------------------------- views
    @property
    def in_features(self) -> int:
        return self._num_inputs

    @property
    def out_features(self) -> int:
        return int(self.output_pos.numel())

    @property
    def num_nodes(self) -> int:
        return len(self._labels)

    @property
    def num_edges(self) -> int:
        return int(self.weight.numel())

    @property
    def num_layers(self) -> int:
        return int(self.level_ptr.numel() - 1)

    @property
    def inputs(self) -> list:
        idx = self.node_index[: self._num_inputs].tolist()
        return [self._labels[i] for i in idx]

    @property
    def outputs(self) -> list:
        idx = self.node_index[self.output_pos].tolist()
        return [self._labels[i] for i in idx]

    def extra_repr(self) -> str:
        backend = self.config["backend"] or default_backend(self.weight.device)
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"nodes={self.num_nodes}, edges={self.num_edges}, layers={self.num_layers}, "
            f"bias={self.bias is not None}, backend={backend}"
        )

    def levels(self) -> dict:
        """Return ``{node: level}`` for every node."""
        lv = np.repeat(np.arange(self.num_layers), np.diff(self.level_ptr.cpu().numpy()))
        n = self.num_nodes
        return {self._labels[i]: l for i, l in zip(self.node_index.tolist(), lv.tolist()) if i < n}

    def to_wiring(self) -> Wiring:
        """Return the current network as a :class:`Wiring` (wiring order, current values).

        Examples
        --------
        >>> net = DAGNetwork(nx.DiGraph([(0, 1)]), seed=0)
        >>> net.to_wiring().weight.tolist() == net.weight.tolist()
        True
        """
        n, e = self.num_nodes, self.num_edges
        node_index = self.node_index.cpu().numpy()
        m = node_index.size  # positions: nodes and branch units
        owner, branch_of = self._id_owner_branch()
        edge_index = self.edge_index.cpu().numpy()
        weight = np.empty(e)
        weight[edge_index] = self.weight.detach().cpu().double().numpy()
        bias_ext = np.full(m, np.nan)
        if self.bias is not None:
            bias_ext[node_index[self._num_inputs :]] = self.bias.detach().cpu().double().numpy()
        src = np.empty(e, dtype=np.int64)
        dst_ext = np.empty(e, dtype=np.int64)
        src[edge_index], dst_ext[edge_index] = self._edge_ids()  # weight order -> wiring order
        activation: list = [None] * n
        for start, end, key in self._groups:
            for p in range(start, end):
                if node_index[p] < n:
                    activation[node_index[p]] = key
        extra = {}
        if self._combines:
            bias = bias_ext[:n].copy()
            combine: list = [None] * n
            branch_bias: list = [None] * n
            for start, end, _, _, key, act in self._combines:
                for v in node_index[start:end]:
                    activation[v], combine[v], bias[v] = act, key, np.nan
                    if self.bias is not None:
                        first, last = np.searchsorted(self._unit_owner, [v, v + 1])  # owner-sorted
                        branch_bias[v] = bias_ext[n + first : n + last].tolist()
            extra = dict(
                branch=branch_of[dst_ext], combine=combine, branch_bias=branch_bias if self.bias is not None else None
            )
        else:
            bias = bias_ext
        return Wiring(
            n, src, owner[dst_ext], weight=weight, bias=bias, labels=self._labels, activation=activation, **extra
        )

    def to_torch(self) -> nn.Module:
        """Return a copy of the network as standard torch operations only (:class:`~dagnet.nn.TorchDAG`).

        For deployment where dagnet is not installed: ``torch.export.export``,
        ``torch.jit.trace`` and ``torch.onnx.export`` capture it.

        Examples
        --------
        >>> net = DAGNetwork(nx.DiGraph([(0, 1), (0, 2), (1, 2)]), seed=0)
        >>> x = torch.randn(3, 1)
        >>> torch.allclose(net.to_torch()(x), net(x), atol=1e-6)
        True
        """
        from .to_torch import TorchDAG

        return TorchDAG(self)

    def to_graph(self) -> nx.DiGraph:
        """Return a new ``networkx.DiGraph`` of the network with its current values.

        Every edge carries its ``weight``; every node its ``layer``, and every
        non-input node its ``bias`` and ``activation`` (a name, or the callable).

        Examples
        --------
        >>> net = DAGNetwork(nx.DiGraph([("a", "b")]), seed=0)
        >>> g = net.to_graph()
        >>> g.nodes["b"]["layer"], g.nodes["b"]["activation"]
        (1, 'identity')
        """
        g = self.to_wiring().to_graph()
        for node, level in self.levels().items():
            g.nodes[node]["layer"] = level
        if self.bias is None:
            for node in self._labels:
                g.nodes[node].pop("bias", None)
        return g


def _check_module_specs(wiring: Wiring) -> None:
    """Refuse ``nn.Module`` combines, and ``nn.Module`` activations on multi-branch nodes."""
    for v, spec in enumerate(wiring.combine or ()):
        if isinstance(spec, nn.Module):
            raise GraphError(f"Node {wiring.label(v)!r}: an nn.Module combine is not supported; use a function.")
        try:
            combines = resolve_combine(spec)[0] is not None
        except ValueError:  # compile_plan names the node and the known combines
            continue
        if combines and wiring.activation is not None and isinstance(wiring.activation[v], nn.Module):
            raise GraphError(
                f"Node {wiring.label(v)!r}: an nn.Module activation is not supported on a node "
                "with a combine; use a function."
            )


def _check_dtype(dtype) -> None:
    if dtype not in DTYPES:
        names = ", ".join(str(d) for d in DTYPES)
        raise TypeError(
            f"DAGNetwork computes in {names}; got dtype={dtype}. Pass dtype=torch.float32 "
            "(or float64), or convert the network with net.float() / net.double()."
        )


def _plan_buffers(plan: Plan) -> dict[str, torch.Tensor]:
    """The index buffers of a network with ``plan`` (on the CPU), by name."""
    n, e = plan.num_nodes, plan.num_edges
    small = torch.int32 if max(n, e) < 2**31 - 1 else torch.int64
    out_col = np.full(n, -1, dtype=np.int64)
    out_col[plan.output_pos] = np.arange(plan.output_pos.size)
    arrays = dict(
        in_ptr=(plan.in_ptr, torch.int64),
        in_src=(plan.in_src, small),
        out_ptr=(plan.out_ptr, torch.int64),
        out_dst=(plan.out_dst, small),
        out_edge=(plan.out_edge, small),
        act_code=(plan.act_code, torch.int8),
        out_col=(out_col, small),
        output_pos=(plan.output_pos, torch.int64),
        level_ptr=(plan.level_ptr, torch.int64),
        node_index=(plan.node_index, torch.int64),
        edge_index=(plan.edge_index, torch.int64),
    )
    return {name: torch.as_tensor(np.ascontiguousarray(arr)).to(dt) for name, (arr, dt) in arrays.items()}


def _index_dtype(largest: int) -> torch.dtype:
    """The smallest of int16, int32 and int64 that holds ``0 .. largest``."""
    return next(dt for dt in (torch.int16, torch.int32, torch.int64) if largest <= torch.iinfo(dt).max)


def _is_index(t: torch.Tensor) -> bool:
    return (
        t.dim() == 1
        and t.layout == torch.strided
        and not t.is_floating_point()
        and not t.is_complex()
        and t.dtype != torch.bool
    )


def _plain_tensors():
    """A context in which torch.func transforms (grad, vmap) do not wrap new tensors."""
    disable = getattr(torch._C, "_DisableFuncTorch", None)
    return disable() if disable is not None else contextlib.nullcontext()


def _edge_rows(in_ptr: torch.Tensor, in_src: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Source and target position of each weight, from the CSR-by-target arrays."""
    in_ptr = in_ptr.cpu().numpy()
    return in_src.cpu().numpy().astype(np.int64), np.repeat(np.arange(in_ptr.size - 1), np.diff(in_ptr))


def _combined(key, act):
    def call(z):
        return act(apply_combine(key, z))

    return call


def _functional(module: nn.Module, names: list[str]):
    def call(z, *params):
        return torch.func.functional_call(module, dict(zip(names, params)), (z,))

    call.__name__ = type(module).__name__
    return call
