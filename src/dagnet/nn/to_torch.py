"""`TorchDAG`: a network as standard torch operations only, for torch.export, torch.jit.trace and ONNX."""

from __future__ import annotations

import copy

import torch
from torch import nn

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
        runtime = net._get_runtime()
        self.weight = nn.Parameter(net.weight.detach().clone())
        self.bias = nn.Parameter((net.bias if net.bias is not None else net._no_bias).detach().clone())
        self.bias.requires_grad_(net.bias is not None)
        self.activation_modules = nn.ModuleList(list(net.activation_modules))
        self._act_params = list(net._act_params)
        self.n_in = net.in_features
        level_ptr = net.level_ptr.tolist()
        in_ptr = net.in_ptr.tolist()
        self._levels = []
        for l in range(1, len(level_ptr) - 1):
            a, b = level_ptr[l], level_ptr[l + 1]
            if a == b:
                continue
            ea, eb = in_ptr[a], in_ptr[b]
            counts = torch.tensor([in_ptr[v + 1] - in_ptr[v] for v in range(a, b)], dtype=torch.long)
            self.register_buffer(f"src_{l}", net.in_src[ea:eb].long().clone())
            self.register_buffer(f"tgt_{l}", torch.repeat_interleave(torch.arange(b - a), counts))
            groups = [(g.start - a, g.end - a, g.fn, g.params) for g in runtime._groups_by_level.get(l, ())]
            combines = []
            for c in runtime._combines_by_level.get(l, ()):
                groups.append((c.start - a, c.end - a, None, ()))  # filled by the combine below
                if not a <= c.unit_start and c.unit_end <= b:  # pragma: no cover - the plan keeps units on their level
                    raise NotImplementedError("TorchDAG needs a node's branch units on the node's own level.")
                combines.append((c.start - a, c.end - a, c.unit_start - a, c.unit_end - a, c.branches, c.fn))
            groups.sort(key=lambda g: g[0])
            self._levels.append((l, a, b, ea, eb, groups, combines))
        self.register_buffer("output_pos", net.output_pos.long().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        H = x.reshape(-1, self.n_in).t().to(self.weight.dtype)
        for l, a, b, ea, eb, groups, combines in self._levels:
            src, tgt = getattr(self, f"src_{l}"), getattr(self, f"tgt_{l}")
            msg = H.index_select(0, src) * self.weight[ea:eb].unsqueeze(1)
            z = self.bias[a - self.n_in : b - self.n_in].unsqueeze(1).expand(b - a, H.shape[1])
            z = z.index_add(0, tgt, msg)
            parts = []
            for start, end, fn, params in groups:  # in position order; multi-branch nodes' rows wait
                if fn is None:
                    parts.append(z[start:end])
                else:
                    parts.append(
                        fn(z[start:end], *[self._act_params[i] for i in params]) if params else fn(z[start:end])
                    )
            level = torch.cat(parts, 0) if len(parts) > 1 else parts[0]
            for start, end, u0, u1, branches, fn in combines:
                combined = fn(level[u0:u1].reshape(end - start, branches, -1))
                level = torch.cat([level[:start], combined, level[end:]], 0)
            H = torch.cat([H, level], 0)
        return H.index_select(0, self.output_pos).t().reshape(*lead, -1)
