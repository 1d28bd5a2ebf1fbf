"""`with_io`: any DAG of hidden neurons placed between a data set's inputs and outputs."""

from __future__ import annotations

import networkx as nx
import numpy as np

from .._checks import check_int
from ..seeding import numpy_rng
from ..wiring import Wiring

__all__ = ["with_io"]


def with_io(
    hidden: nx.DiGraph | Wiring,
    num_inputs: int,
    num_outputs: int,
    fan_in: int,
    fan_out: int,
    seed: int | np.random.Generator | None = None,
) -> Wiring:
    """Return a network's wiring: the DAG ``hidden`` between ``num_inputs`` inputs and ``num_outputs`` outputs.

    Each hidden neuron without a hidden predecessor reads ``fan_in`` random
    inputs, every other one a single random input (a skip connection); each
    output reads ``fan_out`` random hidden neurons. Nodes are labelled
    ``("in", i)``, ``("h", i)`` (the hidden graph's node ``i``, in its node
    order) and ``("out", i)``.

    Examples
    --------
    >>> from dagnet.topology import small_world_dag
    >>> w = with_io(small_world_dag(10, 4, 0.2, seed=0), 3, 2, fan_in=2, fan_out=4, seed=0)
    >>> w.num_nodes, w.labels[0], w.labels[-1]
    (15, ('in', 0), ('out', 1))
    """
    func = "with_io"
    n_in = check_int(num_inputs, "num_inputs", func, low=1)
    num_outputs = check_int(num_outputs, "num_outputs", func, low=1)
    fan_in = check_int(fan_in, "fan_in", func, low=1)
    fan_out = check_int(fan_out, "fan_out", func, low=1)
    hidden = hidden if isinstance(hidden, Wiring) else Wiring.from_graph(hidden)
    n_h = hidden.num_nodes
    if n_h == 0:
        raise ValueError("with_io needs a hidden graph with at least one node.")
    rng = numpy_rng(seed)
    has_pred = np.bincount(hidden.target, minlength=n_h) > 0
    k = np.where(has_pred, 1, min(fan_in, n_in))
    in_dst = np.repeat(np.arange(n_h), k)
    in_src = np.concatenate([rng.choice(n_in, size=int(c), replace=False) for c in k])
    out_src = np.concatenate([rng.choice(n_h, size=min(fan_out, n_h), replace=False) for _ in range(num_outputs)])
    out_dst = np.repeat(np.arange(num_outputs), min(fan_out, n_h))
    source = np.concatenate([in_src, n_in + hidden.source, n_in + out_src])
    target = np.concatenate([n_in + in_dst, n_in + hidden.target, n_in + n_h + out_dst])
    labels = (
        [("in", i) for i in range(n_in)] + [("h", i) for i in range(n_h)] + [("out", i) for i in range(num_outputs)]
    )
    return Wiring(n_in + n_h + num_outputs, source, target, labels=labels)
