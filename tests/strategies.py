"""Hypothesis strategies and builders shared by the test files: random DAG networks."""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import torch
from hypothesis import strategies as st

from dagnet import DAGNetwork, DeadNodeWarning


class Scaled(torch.nn.Module):
    """An activation with a trainable parameter: alpha * tanh(z)."""

    def __init__(self):
        super().__init__()
        self.alpha = torch.nn.Parameter(torch.tensor(1.3, dtype=torch.float64))

    def forward(self, z):
        return self.alpha.to(z.dtype) * torch.tanh(z)


def swish(z):
    return z * torch.sigmoid(z)


def max_rows(z):
    """A combine given as a callable over (rows, branches)."""
    return z.max(dim=1).values


COMBINES = ["sum", "max", "pynada", "and", "or", "xnor", "and_exact", "or_exact", "xnor_exact", max_rows]
ACTIVATIONS = ["relu", "tanh", "sigmoid", "identity", "leaky_relu", "gelu", "softplus", swish]
LABEL_KINDS = [lambda i: i * 7 + 3, lambda i: f"n{i}", lambda i: ("t", i), lambda i: (i, "x", 2.5)]


@st.composite
def dag_cases(draw):
    """A random DAG with mixed labels, activations, given values and roles."""
    n = draw(st.integers(1, 11))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    p = draw(st.sampled_from([0.2, 0.4, 0.7]))
    perm = rng.permutation(n)  # node order in the graph differs from the topological order
    labels = [LABEL_KINDS[draw(st.integers(0, 3))](i) for i in range(n)]
    g = nx.DiGraph()
    for i in perm:
        g.add_node(labels[i])
    for j in range(n):
        for i in range(j):
            if rng.random() < p:
                attrs = {"weight": float(rng.normal())} if rng.random() < 0.3 else {}
                g.add_edge(labels[i], labels[j], **attrs)
    module_act = Scaled()
    for v in g.nodes:
        r = rng.random()
        if r < 0.3:
            g.nodes[v]["activation"] = ACTIVATIONS[rng.integers(len(ACTIVATIONS))]
        elif r < 0.35:
            g.nodes[v]["activation"] = module_act
        if rng.random() < 0.2:
            g.nodes[v]["bias"] = float(rng.normal())
    # Some nodes become multi-branch: each in-edge joins a random branch.
    for v in g.nodes:
        if g.in_degree(v) and rng.random() < 0.25:
            combine = COMBINES[rng.integers(len(COMBINES))]
            k = 2 if combine not in ("max", max_rows) else int(rng.integers(1, 4))
            g.nodes[v]["combine"] = combine
            for u in g.predecessors(v):
                g.edges[u, v]["branch"] = int(rng.integers(k))
            if g.nodes[v].get("activation") is module_act:
                del g.nodes[v]["activation"]
            if combine != "sum":
                g.nodes[v].pop("bias", None)
    sources = [v for v in g.nodes if g.in_degree(v) == 0]
    if draw(st.booleans()):
        inputs = None
        chosen = sources
    else:
        k = draw(st.integers(1, len(sources)))
        chosen = [sources[i] for i in rng.permutation(len(sources))[:k]]
        inputs = chosen
    if draw(st.booleans()):
        outputs = None
    else:
        k = draw(st.integers(1, n))
        outputs = [list(g.nodes)[i] for i in rng.permutation(n)[:k]]
    layering = draw(st.sampled_from(["asap", "alap", "bounded"]))
    return dict(
        graph=g,
        inputs=inputs,
        outputs=outputs,
        layering=layering,
        max_width=int(rng.integers(1, 4)),
        seed=seed,
        activation=draw(st.sampled_from(["relu", "tanh", swish])),
        output_activation=draw(st.sampled_from(["identity", "sigmoid"])),
        batch=draw(st.integers(1, 5)),
    )


def build_case(case, dtype, backend):
    """The DAGNetwork a :func:`dag_cases` case describes, in ``dtype`` on ``backend``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadNodeWarning)
        return DAGNetwork(
            case["graph"],
            inputs=case["inputs"],
            outputs=case["outputs"],
            activation=case["activation"],
            output_activation=case["output_activation"],
            layering=case["layering"],
            max_width=case["max_width"],
            seed=case["seed"] % 1000,
            dtype=dtype,
            backend=backend,
        )
