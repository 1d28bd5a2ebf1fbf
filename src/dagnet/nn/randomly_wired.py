"""`RandomlyWiredBlocks`: dense blocks wired by a DAG instead of stacked."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import torch
from torch import nn

from ..errors import EmptyGraphError, GraphError
from ..layering import asap
from ..seeding import torch_generator
from ..wiring import Wiring
from ._common import as_batch, check_bool, check_int, child_seeds, uniform_

__all__ = ["RandomlyWiredBlocks"]


class RandomlyWiredBlocks(nn.Module):
    r"""Dense blocks wired by any directed acyclic graph (randomly wired dense layers).

    Each node ``v`` of ``graph`` is a block with a dense layer ``L_v``. A
    block adds the outputs of its predecessors, each weighted by
    :math:`\sigma(w_e)` for a trainable edge logit :math:`w_e`, applies ReLU,
    then its dense layer:

    .. math:: h_v = L_v\Big(\mathrm{ReLU}\big(\sum_{u \to v} \sigma(w_{uv})\, h_u\big)\Big)

    How the graph meets the data:

    * **sources** (no predecessor) read the model input ``x`` itself, without
      ReLU: :math:`h_v = L_v(x)`, with ``L_v: in_features -> hidden``;
    * **sinks** (no successor) have ``L_v: hidden -> out_features`` and the
      model output is the mean of the sinks' outputs (as RandWire's output
      node averages its inputs);
    * every other block is ``hidden -> hidden`` (a node that is both source
      and sink is ``in_features -> out_features``).

    So every block has at least one input and one output, and a chain
    ``0 -> 1 -> ... -> n-1`` is exactly an MLP with ``n - 1`` ReLU hidden
    layers of width ``hidden``; other graphs add skip connections and
    parallel paths at a similar parameter count.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the model input and output, ``>= 1``.
    hidden : int
        Width of the blocks' outputs that feed other blocks, ``>= 1``.
    graph : networkx.DiGraph or Wiring
        The wiring of the blocks, a DAG with at least one node, for example
        ``dagnet.topology.erdos_renyi_dag(n, p, seed=...)``. Node attributes
        are ignored; blocks are numbered in ``graph.nodes`` order.
    bias : bool, default True
        Whether the dense layers have biases.
    seed : int, numpy Generator or random.Random, optional
        Seed of the initialisation; ``None`` draws one (stored as ``self.seed``).
    device, dtype : optional
        Of the parameters.

    Attributes
    ----------
    blocks : ModuleList of nn.Linear
        ``blocks[i]`` is the dense layer of node ``nodes[i]``, initialised by
        ``nn.Linear``'s rule (U(±1/sqrt(fan_in))) from the seeded generator.
    edge_logits : Parameter, shape (num_edges,)
        :math:`w_e`, in the order of ``graph.edges``; 0 at initialisation
        (every edge starts with weight 1/2).
    nodes : list
        Node labels, in block order.
    sources, sinks : list of int
        Block indices of the sources and of the sinks.
    order : list of int
        A topological order of the blocks (the evaluation order).

    Shape
    -----
    Input ``(*, in_features)``, output ``(*, out_features)``.

    Raises
    ------
    CycleError
        If ``graph`` has a cycle (the message names it).
    EmptyGraphError
        If ``graph`` has no node.

    References
    ----------
    Yik, W. et al. (2023). Randomly wired neural networks for climate model
    emulation (ClimateBench). Xie, S. et al. (2019). Exploring Randomly Wired
    Neural Networks for Image Recognition.

    Examples
    --------
    >>> from dagnet.topology import erdos_renyi_dag
    >>> model = RandomlyWiredBlocks(4, 2, hidden=8, graph=erdos_renyi_dag(6, 0.5, seed=0), seed=0)
    >>> model(torch.ones(3, 4)).shape
    torch.Size([3, 2])
    >>> chain = RandomlyWiredBlocks(4, 2, hidden=8, graph=nx.path_graph(3, create_using=nx.DiGraph))
    >>> [tuple(b.weight.shape) for b in chain.blocks]  # an MLP 4 -> 8 -> 8 -> 2
    [(8, 4), (8, 8), (2, 8)]
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: int,
        graph: nx.DiGraph | Wiring,
        bias: bool = True,
        seed: int | None = None,
        device=None,
        dtype=None,
    ):
        super().__init__()
        name = type(self).__name__
        self.in_features = check_int(in_features, "in_features", name)
        self.out_features = check_int(out_features, "out_features", name)
        self.hidden = check_int(hidden, "hidden", name)
        check_bool(bias, "bias", name)
        if not isinstance(graph, (nx.DiGraph, Wiring)):
            raise GraphError(
                f"The 'graph' parameter of {name} must be a networkx.DiGraph or a "
                f"dagnet.Wiring. Got {type(graph).__name__} instead."
            )
        wiring = graph if isinstance(graph, Wiring) else Wiring.from_graph(graph)
        n = wiring.num_nodes
        if n == 0:
            raise EmptyGraphError(f"{name} needs a graph with at least one node (block); got an empty one.")
        level = asap(wiring)  # raises CycleError naming a cycle
        self.order = np.argsort(level, kind="stable").tolist()
        self.nodes = wiring.node_labels()
        in_deg, out_deg = wiring.in_degree(), wiring.out_degree()
        self.sources = np.flatnonzero(in_deg == 0).tolist()
        self.sinks = np.flatnonzero(out_deg == 0).tolist()
        # For each block: the edges that enter it and their source blocks.
        self._in_edges = [[] for _ in range(n)]
        for e, (s, t) in enumerate(zip(wiring.source.tolist(), wiring.target.tolist())):
            self._in_edges[t].append((e, s))

        self.seed, (init_seed,) = child_seeds(seed, 1)
        self._init_generator = torch_generator(init_seed)
        device = torch.empty(0, device=device).device  # None -> the default device
        factory = dict(device=device, dtype=dtype)
        blocks = []
        for v in range(n):
            fan_in = self.in_features if in_deg[v] == 0 else self.hidden
            width = self.out_features if out_deg[v] == 0 else self.hidden
            # skip_init: no draw from torch's global generator; reset_parameters initialises.
            blocks.append(nn.utils.skip_init(nn.Linear, fan_in, width, bias=bias, **factory))
        self.blocks = nn.ModuleList(blocks)
        self.edge_logits = nn.Parameter(torch.empty(wiring.num_edges, **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw new block weights (``nn.Linear``'s rule) from the seeded generator; zero the edge logits."""
        for block in self.blocks:
            bound = 1.0 / math.sqrt(block.in_features)
            uniform_(block.weight, bound, self._init_generator)
            if block.bias is not None:
                uniform_(block.bias, bound, self._init_generator)
        with torch.no_grad():
            self.edge_logits.zero_()

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def num_edges(self) -> int:
        return int(self.edge_logits.numel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_batch(x, self.in_features, "in_features", type(self).__name__, like=next(self.parameters(), None))
        gate = torch.sigmoid(self.edge_logits)
        out: list[torch.Tensor | None] = [None] * self.num_blocks
        for v in self.order:
            edges = self._in_edges[v]
            if not edges:
                a = x
            else:
                a = sum(gate[e] * out[u] for e, u in edges)
                a = torch.relu(a)
            out[v] = self.blocks[v](a)
        if len(self.sinks) == 1:
            return out[self.sinks[0]]
        return torch.stack([out[v] for v in self.sinks]).mean(dim=0)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"hidden={self.hidden}, blocks={self.num_blocks}, edges={self.num_edges}, "
            f"sources={len(self.sources)}, sinks={len(self.sinks)}"
        )
