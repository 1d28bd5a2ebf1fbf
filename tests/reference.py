"""A plain per-node reference of the network semantics, for tests.

One node at a time, in topological order, each weight and bias its own float64
scalar leaf: slow, obviously right, and differentiated by ordinary autograd.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import torch

from dagnet.activations import resolve_activation
from dagnet.activations.combine import apply_combine, resolve_combine


def reference_forward(
    graph: nx.DiGraph, inputs, outputs, x, weight, bias, activation="relu", output_activation="identity"
):
    """Return the (batch, outputs) result of the DAG semantics.

    ``weight`` maps each edge (u, v) and ``bias`` each non-input node to a
    scalar tensor; ``x`` is (batch, len(inputs)).
    """
    value = {u: x[:, j] for j, u in enumerate(inputs)}
    outs = set(outputs)
    for v in nx.topological_sort(graph):
        if v in value:
            continue
        spec = graph.nodes[v].get("activation")
        key, _ = resolve_combine(graph.nodes[v].get("combine"))
        if key is not None:  # one weighted sum per dendritic branch, then the combine
            k = sum(1 for b in bias if isinstance(b, tuple) and len(b) == 3 and b[0] == v and b[1] == "branch")
            z = [bias[(v, "branch", i)].expand(x.shape[0]) for i in range(k)]
            for u in graph.predecessors(v):
                i = graph.edges[u, v].get("branch", 0)
                z[i] = z[i] + weight[(u, v)] * value[u]
            _, _, fn = resolve_activation(spec if spec is not None else "identity")
            value[v] = fn(apply_combine(key, torch.stack(z).unsqueeze(0))).squeeze(0)
            continue
        z = bias[v].expand(x.shape[0])
        for u in graph.predecessors(v):
            z = z + weight[(u, v)] * value[u]
        if spec is None:
            spec = output_activation if v in outs else activation
        _, _, fn = resolve_activation(spec)
        value[v] = fn(z.unsqueeze(0)).squeeze(0)
    return torch.stack([value[o] for o in outputs], dim=1)


def net_values(net):
    """Return ``({edge: weight}, {node: bias})`` of a DAGNetwork, as float64 leaves."""
    w = net.to_wiring()
    labels = w.node_labels()
    weight = {
        (labels[s], labels[t]): torch.tensor(v, dtype=torch.float64, requires_grad=True)
        for s, t, v in zip(w.source.tolist(), w.target.tolist(), w.weight.tolist())
    }
    inputs = set(net.inputs)
    bias = {
        labels[i]: torch.tensor(0.0 if np.isnan(b) else b, dtype=torch.float64, requires_grad=net.bias is not None)
        for i, b in enumerate(w.bias.tolist())
        if labels[i] not in inputs
    }
    for i, values in enumerate(w.branch_bias or []):
        for k, b in enumerate(values or []):
            bias[(labels[i], "branch", k)] = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    return weight, bias


def net_grads(net):
    """Return ``({edge: dweight}, {node: dbias})`` of a DAGNetwork after backward."""
    w = net.to_wiring()
    labels = w.node_labels()
    gw = np.empty(net.num_edges)
    gw[net.edge_index.cpu().numpy()] = net.weight.grad.detach().cpu().double().numpy()
    dweight = {(labels[s], labels[t]): gw[k] for k, (s, t) in enumerate(zip(w.source.tolist(), w.target.tolist()))}
    dbias = {}
    if net.bias is not None:
        n = len(labels)
        idx = net.node_index[net.in_features :].tolist()
        for i, g in zip(idx, net.bias.grad.detach().cpu().double().tolist()):
            if i < n:
                dbias[labels[i]] = g
            else:  # a branch unit of a multi-branch node
                u = i - n
                dbias[(labels[int(net._unit_owner[u])], "branch", int(net._unit_branch[u]))] = g
    return dweight, dbias


def assert_state_shapes(optimizer) -> None:
    """Every per-entry optimizer state tensor has its parameter's shape (none left dangling)."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() > 0:
                    assert value.shape == p.shape, (key, value.shape, p.shape)
