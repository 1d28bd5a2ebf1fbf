"""A plain per-node reference of the network semantics, for tests.

One node at a time, in topological order, each weight and bias its own float64
scalar leaf: slow, obviously right, and differentiated by ordinary autograd.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import torch

from dagnet.activations import resolve_activation


def reference_forward(graph: nx.DiGraph, inputs, outputs, x, weight, bias, activation="relu",
                      output_activation="identity"):
    """Return the (batch, outputs) result of the DAG semantics.

    ``weight`` maps each edge (u, v) and ``bias`` each non-input node to a
    scalar tensor; ``x`` is (batch, len(inputs)).
    """
    value = {u: x[:, j] for j, u in enumerate(inputs)}
    outs = set(outputs)
    for v in nx.topological_sort(graph):
        if v in value:
            continue
        z = bias[v].expand(x.shape[0])
        for u in graph.predecessors(v):
            z = z + weight[(u, v)] * value[u]
        spec = graph.nodes[v].get("activation")
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
        labels[i]: torch.tensor(0.0 if np.isnan(b) else b, dtype=torch.float64,
                                requires_grad=net.bias is not None)
        for i, b in enumerate(w.bias.tolist()) if labels[i] not in inputs
    }
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
        idx = net.node_index[net.in_features:].tolist()
        for i, g in zip(idx, net.bias.grad.detach().cpu().double().tolist()):
            dbias[labels[i]] = g
    return dweight, dbias
