"""`TorchDAG`: a network as standard torch operations only, for torch.export, torch.jit.trace and ONNX."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..engine.torch_graph import graph_forward, graph_levels
from .dag_network import DAGNetwork

__all__ = ["TorchDAG"]


class TorchDAG(nn.Module):
    """The function of a :class:`DAGNetwork` written with ``index_select``, ``index_add`` and ``cat`` only.

    Level by level: the pre-activations of a level's nodes are the weighted
    sum of their sources' rows (one ``index_select`` of the rows computed so
    far, one ``index_add`` by target), plus the biases; each activation
    group of the level is applied to its slice, multi-branch nodes combine
    their branch sums. No dagnet kernel, no numpy, no Python-side data
    dependence: ``torch.export.export``, ``torch.jit.trace`` and
    ``torch.onnx.export`` capture it, and it runs wherever torch does
    (dagnet's module activations and combines are torch code too, so a
    loader of a ``torch.export`` file needs no dagnet). It is a copy: its
    parameters start equal to the network's and then live on their own. For
    training, the network itself is much faster.

    Examples
    --------
    >>> import networkx as nx
    >>> net = DAGNetwork(nx.DiGraph([("a", "h"), ("b", "h"), ("h", "y"), ("a", "y")]), seed=0)
    >>> x = torch.randn(4, 2)
    >>> torch.allclose(TorchDAG(net)(x), net(x), atol=1e-6)
    True
    """

    def __init__(self, net: DAGNetwork):
        super().__init__()
        if not isinstance(net, DAGNetwork):
            raise TypeError(f"TorchDAG takes a DAGNetwork, got {type(net).__name__}.")
        if net.weight_modifier is not None:
            raise ValueError(
                "TorchDAG of a network with a weight modifier: remove it first (net.weight_modifier = None)."
            )
        net = copy.deepcopy(net).cpu() if net.weight.device.type != "cpu" else copy.deepcopy(net)
        levels = graph_levels(net._get_runtime())
        self.weight = nn.Parameter(net.weight.detach().clone())
        self.bias = nn.Parameter((net.bias if net.bias is not None else net._no_bias).detach().clone())
        self.bias.requires_grad_(net.bias is not None)
        self.activation_modules = nn.ModuleList(list(net.activation_modules))
        self._act_params = list(net._act_params)
        self.n_in = net.in_features
        self._levels = []
        for level, src, tgt in levels:
            self.register_buffer(f"src_{level.level}", src.clone())
            self.register_buffer(f"tgt_{level.level}", tgt.clone())
            self._levels.append(level)
        self.register_buffer("output_pos", net.output_pos.long().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = [
            (level, getattr(self, f"src_{level.level}"), getattr(self, f"tgt_{level.level}")) for level in self._levels
        ]
        x2 = x.reshape(-1, self.n_in).to(self.weight.dtype)
        out = graph_forward(levels, self.output_pos, x2, self.weight, self.bias, self._act_params)
        return out.reshape(*x.shape[:-1], -1)
