"""4Ward's own code (github.com/BoCtrl-C/forward), driven from a local checkout on a benchmark's graph.

Nothing of 4Ward ships with dagnet: :func:`load_fourward` imports its package
``forward`` from a checkout named at run time (``dagnet bench engine
--fourward-code PATH``), and :class:`FourWardCode` builds its network,
``forward.models.ForWard``, on the same graph with the same weights as a
:class:`dagnet.DAGNetwork`, so its training step can be timed beside
dagnet's and its outputs checked against them.

What is 4Ward's here: its network class, its constructor (dense weights,
0/1 masks, the bias as an extra row against a column of ones) and its
forward pass, which is what a training step runs. What is not: its layering
function ``longest_path_algorithm``, a quadratic Python loop (26 s for 4,000
nodes and 80,000 edges on one core), is replaced while the constructor runs
by :func:`fourward_layers`, which returns the same layers (the tests check
this against 4Ward's own function) in linear time. The network is built with
``stand_alone=True`` (no activation on the last layer, the sinks): ReLU on
hidden nodes and identity on outputs, as DAGNetwork's defaults.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import networkx as nx
import numpy as np
import torch
from torch import nn

from ..layering import alap
from ..wiring import Wiring
from .baselines import _prepare

__all__ = ["load_fourward", "fourward_layers", "FourWardCode"]


def _package_root(path: str | Path) -> Path:
    """The folder that holds the package ``forward`` (a checkout, or the package folder itself)."""
    folder = Path(path).expanduser().resolve()
    if (folder / "forward" / "models.py").is_file():
        return folder
    if folder.name == "forward" and (folder / "models.py").is_file():
        return folder.parent
    if not folder.exists():
        raise FileNotFoundError(
            f"4Ward's code: {str(path)!r} does not exist; clone https://github.com/BoCtrl-C/forward there "
            "(or pass the path of such a checkout)."
        )
    raise FileNotFoundError(
        f"4Ward's code: {str(path)!r} holds no forward/models.py; pass the root of a checkout of "
        "https://github.com/BoCtrl-C/forward."
    )


def load_fourward(path: str | Path) -> ModuleType:
    """Import 4Ward's ``forward.models`` from the checkout at ``path`` and return it.

    ``path`` is the root of a checkout of BoCtrl-C/forward (holding
    ``forward/models.py``) or its ``forward`` folder. The folder is on
    ``sys.path`` only while the import runs.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist or holds no ``forward/models.py``.
    ValueError
        If another module named ``forward`` is imported already, or the
        module has no ``ForWard`` class.

    Examples
    --------
    >>> load_fourward("/nonexistent")
    Traceback (most recent call last):
        ...
    FileNotFoundError: 4Ward's code: '/nonexistent' does not exist; clone https://github.com/BoCtrl-C/forward there (or pass the path of such a checkout).
    """
    root = _package_root(path)
    loaded = sys.modules.get("forward")
    if loaded is not None:
        where = Path(getattr(loaded, "__file__", "") or ".").resolve().parent.parent
        if where != root:
            raise ValueError(
                f"4Ward's code: a module named 'forward' is imported already from {where}, not from {root}."
            )
    sys.path.insert(0, str(root))
    try:
        models = importlib.import_module("forward.models")
    finally:
        sys.path.remove(str(root))
    if not hasattr(models, "ForWard"):
        raise ValueError(f"4Ward's code: {models.__file__} has no class ForWard.")
    return models


def fourward_layers(wiring: Wiring) -> list[list[int]]:
    """Return 4Ward's layers of ``wiring`` (node indices, each layer sorted), as lists.

    Layer ``k`` holds the nodes whose longest path to a sink leaves ``depth -
    1 - k`` edges, the sources all on layer 0: what 4Ward's
    ``longest_path_algorithm`` followed by ``push_sources`` gives, computed
    with :func:`dagnet.layering.alap` in linear time.

    Examples
    --------
    >>> fourward_layers(Wiring(4, source=[0, 1, 2], target=[2, 3, 3]))
    [[0, 1], [2], [3]]
    """
    level = alap(wiring)
    order = np.lexsort((np.arange(wiring.num_nodes), level))
    cuts = np.searchsorted(level[order], np.arange(1, int(level.max()) + 1))
    return [part.tolist() for part in np.split(order, cuts)]


class FourWardCode(nn.Module):
    """4Ward's own network (``forward.models.ForWard``) on ``wiring``, with the wiring's weights and biases.

    Parameters
    ----------
    models : module
        4Ward's ``forward.models``, from :func:`load_fourward`.
    wiring : Wiring
        The DAG and its values, e.g. ``net.to_wiring()`` of a DAGNetwork
        (missing values are drawn with DAGNetwork's rule from ``seed``).
    seed : int, numpy Generator or random.Random, optional
        Seed of the values the wiring leaves unset.
    device : optional
        Where the network goes after it is built (on the CPU).

    Attributes
    ----------
    net : ForWard
        4Ward's module; its parameters live in the dtype that is torch's
        default when this is built, as 4Ward allocates them.
    output_columns : list of int
        For each of its outputs, the column of DAGNetwork's outputs it
        computes: 4Ward's outputs are the sinks that are not sources, so a node
        without edges, an output of DAGNetwork, is not among them.

    Examples
    --------
    >>> models = load_fourward("bench/_external/forward")  # doctest: +SKIP
    >>> net = FourWardCode(models, dagnet_net.to_wiring())  # doctest: +SKIP
    >>> torch.allclose(net(x), dagnet_net(x)[:, net.output_columns])  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        models: ModuleType,
        wiring: Wiring,
        seed: int | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        spec = _prepare(wiring, "relu", "identity", seed)
        n = wiring.num_nodes
        graph = nx.DiGraph()
        graph.add_nodes_from(range(n))  # 4Ward wants the node ids 0..n-1
        graph.add_edges_from(zip(wiring.source.tolist(), wiring.target.tolist()))
        layers = fourward_layers(wiring)
        own_layering = models.longest_path_algorithm
        models.longest_path_algorithm = lambda dag: [list(layer) for layer in layers]
        try:
            with torch.random.fork_rng(devices=[]):  # ForWard seeds torch's global generator
                net = models.ForWard(graph, stand_alone=True)
        finally:
            models.longest_path_algorithm = own_layering
        if net.sources != spec.inputs.tolist():
            raise ValueError("4Ward's code: its inputs are not DAGNetwork's (the sources in node order).")
        self._fill(net, spec, wiring)
        column = {int(v): j for j, v in enumerate(spec.outputs.tolist())}
        self.output_columns = [column[int(v)] for v in net.sinks]
        self.net = net.to(device)
        # Its forward pass reads the plain lists ``weights`` and ``masks``: point them at the moved parameters.
        net.weights = [getattr(net, f"W{l}") for l in range(1, len(net.L))]
        net.masks = [getattr(net, f"M{l}") for l in range(1, len(net.L))]

    @staticmethod
    def _fill(net, spec, wiring: Wiring) -> None:
        """Write the wiring's weights and biases into 4Ward's dense layer weights."""
        level = np.empty(wiring.num_nodes, dtype=np.int64)
        column = np.empty(wiring.num_nodes, dtype=np.int64)
        for l, layer in enumerate(net.L):
            level[layer] = l
            column[layer] = np.arange(len(layer))
        edge_level = level[wiring.target]
        for l, (preds, W) in enumerate(zip(net.layer_preds, net.weights), start=1):
            edges = np.flatnonzero(edge_level == l)
            rows = np.searchsorted(np.asarray(preds, dtype=np.int64), wiring.source[edges])
            dense = np.zeros(tuple(W.shape))
            dense[rows, column[wiring.target[edges]]] = spec.weight[edges]
            dense[-1] = spec.bias[net.L[l]]  # 4Ward's bias row, against its column of ones
            with torch.no_grad():
                W.copy_(torch.from_numpy(dense))

    @property
    def in_features(self) -> int:
        return int(self.net.in_features)

    @property
    def out_features(self) -> int:
        return int(self.net.out_features)

    @property
    def num_layers(self) -> int:
        """Layers, layer 0 (the sources) included."""
        return len(self.net.L)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
