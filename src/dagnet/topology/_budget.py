"""Refuse graphs and layers too big for this machine's memory, before anything is allocated.

A generator knows, from its arguments alone, how many edges and nodes it is
about to make (exactly or in expectation). :func:`check_size` turns those
counts into bytes with the rough per-edge and per-node costs below, measured
as peak resident memory of the generators, and raises a
:class:`~dagnet.errors.SizeError` (a ``ValueError``) that gives the counts
and the bytes when they exceed the machine's memory. The
costs are kept on the low side, so whatever is refused could not have been
built, while anything that fits is left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SizeError

__all__ = [
    "GRAPH_EDGE",
    "GRAPH_NODE",
    "LABEL_NODE",
    "NETWORK_EDGE",
    "NETWORK_NODE",
    "PATH_EDGE",
    "PATH_SEGMENT",
    "SCALE_FREE_EDGE",
    "SMALL_WORLD_EDGE",
    "WIRING_EDGE",
    "check_graph_size",
    "check_size",
    "memory_limit",
]

# Bytes per edge or node, rounded down from measured peaks (numpy 2, networkx 3, torch 2).
WIRING_EDGE = 32  # a sampled edge: positions, gaps, the int64 source and target of a Wiring
GRAPH_EDGE = 200  # an edge of a networkx.DiGraph (two adjacency-dict entries)
GRAPH_NODE = 300  # a node of a networkx.DiGraph
LABEL_NODE = 150  # a (layer, index) label, as layered networks give their nodes
NETWORK_EDGE = 64  # an edge of a DAGNetwork: weight and indices of the sparse engine
NETWORK_NODE = 160  # a node of a DAGNetwork
PATH_EDGE = 150  # an edge of a path network: its own array of path ids
PATH_SEGMENT = 40  # one path through one pair of layers: its visit, key and id
SCALE_FREE_EDGE = 40  # Barabási–Albert growth: endpoints, the degree-weighted list, the draws
SMALL_WORLD_EDGE = 64  # Watts–Strogatz rewiring: endpoints, the set of present pairs, the sort

_FALLBACK_LIMIT = 2**50  # 1 PiB, when the machine's memory cannot be read


def memory_limit() -> int:
    """Return the bytes of memory this process may use: physical memory, or a lower cgroup limit.

    When neither can be read, 1 PiB: then only sizes that no machine holds are refused.

    Examples
    --------
    >>> memory_limit() > 2**20
    True
    """
    limit = None
    try:
        limit = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        pass
    for file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(file).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) > 0:
            limit = int(text) if limit is None else min(limit, int(text))
    return int(limit) if limit and limit > 0 else _FALLBACK_LIMIT


def _bytes(x: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if x >= size:
            return f"{x / size:.3g} {unit}"
    return f"{x:.3g} bytes"


def check_size(
    call: str,
    edges: float,
    edge_bytes: float,
    nodes: float = 0,
    node_bytes: float = 0,
    advice: str = "",
    limit: int | None = None,
    extra_bytes: float = 0,
    counts: str | None = None,
) -> float:
    """Return the estimated bytes of a graph of ``edges`` edges and ``nodes`` nodes; raise if over ``limit``.

    Parameters
    ----------
    call : str
        The call as the user wrote it, e.g. ``"erdos_renyi_dag(n=1000, p=0.5)"``;
        the message starts with it.
    edges, nodes : float
        Expected number of edges and of nodes (floats: they may exceed int64).
    edge_bytes, node_bytes : float
        Bytes each costs, e.g. ``WIRING_EDGE + GRAPH_EDGE``.
    advice : str
        What to change, e.g. ``"Choose a smaller n or p."``.
    limit : int, optional
        Bytes allowed; default :func:`memory_limit`.
    extra_bytes : float
        Bytes needed besides the edges and nodes.
    counts : str, optional
        What is made, for the message, in place of "about E edges and N nodes".

    Returns
    -------
    float
        The estimated bytes.

    Raises
    ------
    SizeError
        If the estimate exceeds ``limit``; the message gives the number of
        edges and nodes, the bytes, and the limit.

    Examples
    --------
    >>> check_size("f(n=10)", 45, WIRING_EDGE)
    1440.0
    >>> check_size("f(n=10**9)", 2.5e17, WIRING_EDGE, limit=2**34)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dagnet.errors.SizeError: f(n=10**9) would make about 2.5e+17 edges (~8e+18 bytes, 7.28e+06 TiB), ...
    """
    need = float(edges) * edge_bytes + float(nodes) * node_bytes + float(extra_bytes)
    limit = memory_limit() if limit is None else int(limit)
    if need > limit:
        if counts is None:
            counts = f"about {float(edges):.3g} edges"
            if nodes and node_bytes:
                counts += f" and {float(nodes):.3g} nodes"
        raise SizeError(
            f"{call} would make {counts} (~{need:.3g} bytes, {_bytes(need)}), more than the "
            f"{_bytes(limit)} of memory this machine has." + (f" {advice}" if advice else "")
        )
    return need


def check_graph_size(
    func: str,
    args: str,
    edges: float,
    edge_bytes: float,
    nodes: float,
    node_bytes: float,
    as_wiring: bool,
    advice: str,
    limit: int | None = None,
    extra_bytes: float = 0,
    counts: str | None = None,
) -> float:
    """:func:`check_size` for a generator that returns a Wiring or, unless ``as_wiring``, a networkx DiGraph.

    ``edge_bytes``/``node_bytes`` are the costs of the Wiring; a DiGraph adds
    :data:`GRAPH_EDGE` and :data:`GRAPH_NODE`. The message shows the call as
    ``func(args)`` and, when only the DiGraph is too big, suggests ``as_wiring=True``.

    Examples
    --------
    >>> check_graph_size("f", "n=10", 45, WIRING_EDGE, 10, 0, True, "Choose a smaller n.")
    1440.0
    >>> check_graph_size("f", "n=10**7", 1e8, WIRING_EDGE, 1e7, 0, False, "Choose a smaller n.",
    ...                  limit=2**34)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dagnet.errors.SizeError: f(n=10**7) would make ... (~2.62e+10 bytes, 24.4 GiB), ... as_wiring=True (3.2e+09 bytes).
    """
    call = f"{func}({args}{', as_wiring=True' if as_wiring else ''})"
    if as_wiring:
        return check_size(call, edges, edge_bytes, nodes, node_bytes, advice, limit, extra_bytes, counts)
    limit = memory_limit() if limit is None else int(limit)
    wiring = float(edges) * edge_bytes + float(nodes) * node_bytes + float(extra_bytes)
    if wiring <= limit:
        advice = f"{advice.rstrip('.')}, or pass as_wiring=True ({wiring:.3g} bytes)."
    return check_size(
        call, edges, edge_bytes + GRAPH_EDGE, nodes, node_bytes + GRAPH_NODE, advice, limit, extra_bytes, counts
    )
