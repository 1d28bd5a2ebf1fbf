"""The ``dagnet graph`` command: generate graphs to files, and describe graph files.

The main CLI calls :func:`add_graph_parser` with its sub-parsers::

    dagnet graph generate KIND [options] -o FILE   # KIND: erdos-renyi, scale-free, ...
    dagnet graph stats FILE [--weight NAME] [--plot out.png]

Files ending in ``.graphml`` are GraphML; ``.txt``, ``.tsv``, ``.edges`` and
``.edgelist`` are edge lists (``--format`` overrides the guess).

Errors are one line on stderr; the exit code is 2 for a usage error (bad
options, a missing or malformed graph file) and 1 for a runtime error (a file
that cannot be written, memory), as for every ``dagnet`` command (see
:mod:`dagnet.cli`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from xml.etree import ElementTree

import networkx as nx
from matplotlib.figure import Figure

from ..analysis import describe, draw_layered, plot_degree_distribution
from ..topology.connectome import connectome
from ..topology.erdos_renyi import erdos_renyi_dag
from ..topology.feedback import feedforward_cut
from ..topology.io import read_edgelist, read_graphml, write_edgelist, write_graphml
from ..topology.layered import layered_sparse
from ..topology.paths import random_walk_paths, sobol_paths
from ..topology.scale_free import scale_free_dag
from ..topology.small_world import small_world_dag
from ..wiring import Wiring
from .report import report_error

__all__ = ["add_graph_parser"]

_EDGELIST_SUFFIXES = {".txt", ".tsv", ".edges", ".edgelist"}
#: Largest graph that ``stats --plot`` also draws layer by layer.
MAX_DRAWN_NODES = 500


def _format(path: str, given: str | None) -> str:
    if given:
        return given
    suffix = Path(path).suffix.lower()
    if suffix == ".graphml":
        return "graphml"
    if suffix in _EDGELIST_SUFFIXES:
        return "edgelist"
    raise ValueError(
        f"Cannot tell the format of {path!r} from its extension; name it *.graphml or "
        f"*{'/*'.join(sorted(_EDGELIST_SUFFIXES))}, or pass --format graphml|edgelist."
    )


def _generate(args: argparse.Namespace):
    """Return (graph, note) for the chosen KIND; generators give Wirings (fast to write)."""
    kind = args.kind
    if kind == "erdos-renyi":
        return erdos_renyi_dag(args.n, args.p, seed=args.seed, as_wiring=True), None
    if kind == "scale-free":
        return scale_free_dag(args.n, args.m, seed=args.seed, as_wiring=True), None
    if kind == "small-world":
        return small_world_dag(args.n, args.k, args.p, seed=args.seed, as_wiring=True), None
    if kind == "layered-sparse":
        return layered_sparse(args.sizes, args.epsilon, seed=args.seed, as_wiring=True), None
    if kind == "random-walk":
        return random_walk_paths(args.sizes, args.num_paths, seed=args.seed, as_wiring=True), None
    if kind == "sobol":
        return sobol_paths(args.sizes, args.num_paths, scramble_seed=args.scramble_seed, as_wiring=True), None
    graph = connectome(args.name, path=args.path, synapses=args.synapses)
    if args.keep_cycles:
        return graph, "cycles kept (--keep-cycles)"
    cut = feedforward_cut(graph, weight="count", sources=graph.graph["inputs"])
    return cut.dag, str(cut) + ", sensory neurons made sources"


def _read(path: str, fmt: str, weight: str):
    if fmt == "edgelist":
        return read_edgelist(path, weight=weight)
    try:
        return read_graphml(path)
    except (ElementTree.ParseError, nx.NetworkXError) as err:
        raise ValueError(
            f"{path} is not a GraphML file that can be read ({err}); check the file, or pass "
            "--format edgelist if it is an edge list."
        ) from None


def _run_generate(args: argparse.Namespace) -> int:
    try:
        fmt = _format(args.output, args.format)
        graph, note = _generate(args)
        if fmt == "graphml":
            write_graphml(graph, args.output)
        else:
            write_edgelist(graph, args.output)
    except Exception as err:  # noqa: BLE001 - report_error raises what is not a user error
        return report_error(err, "dagnet graph generate")
    if isinstance(graph, Wiring):
        n, e = graph.num_nodes, graph.num_edges
    else:
        n, e = graph.number_of_nodes(), graph.number_of_edges()
    print(f"wrote {args.kind} graph, {n} nodes, {e} edges, to {args.output}" + (f" ({note})" if note else ""))
    return 0


def _run_stats(args: argparse.Namespace) -> int:
    try:
        fmt = _format(args.file, args.format)
        graph = _read(args.file, fmt, args.weight)
        fit = None if args.fit == "none" else args.fit
        summary = describe(graph, weight=args.weight, fit=fit)
        print(summary)
        if args.plot:
            drawn = summary.acyclic and 0 < summary.num_nodes <= MAX_DRAWN_NODES
            height = min(max(5.0, 0.12 * len(summary.level_widths) + 3.0), 14.0) if drawn else 5.0
            fig = Figure(figsize=(12.0 if drawn else 5.0, height), layout="constrained")
            axes = fig.subplots(1, 2 if drawn else 1, squeeze=False)[0]
            plot_degree_distribution(summary if fit else graph, ax=axes[0], which=fit or "total", fit=bool(fit))
            if drawn:
                draw_layered(graph, ax=axes[1])
            fig.savefig(args.plot, dpi=120)
            print(f"plot saved to {args.plot}")
    except Exception as err:  # noqa: BLE001 - report_error raises what is not a user error
        return report_error(err, "dagnet graph stats")
    return 0


def add_graph_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``graph`` command (``generate`` and ``stats``) on a CLI's sub-parsers.

    Each leaf parser sets ``func``, a handler that takes the parsed arguments
    and returns the exit code: 0 on success, 2 with a one-line message on
    stderr when the input is wrong (options, a missing or malformed file), 1
    when the work cannot be done (e.g. the output file cannot be written).

    Parameters
    ----------
    subparsers : argparse sub-parsers
        From ``parser.add_subparsers()`` of the main ``dagnet`` parser.

    Returns
    -------
    argparse.ArgumentParser
        The ``graph`` parser.

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="dagnet")
    >>> _ = add_graph_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["graph", "generate", "scale-free", "--n", "50", "--m", "2", "-o", "g.graphml"])
    >>> args.kind, args.n, args.func.__name__
    ('scale-free', 50, '_run_generate')
    """
    graph = subparsers.add_parser(
        "graph",
        help="generate graphs and describe graph files",
        description="Generate graphs (DAGs) to files, and describe graph files.",
    )
    commands = graph.add_subparsers(dest="graph_command", metavar="{generate,stats}", required=True)

    generate = commands.add_parser(
        "generate",
        help="write a generated graph to a file",
        description="Write a generated graph to a GraphML or edge-list file.",
    )
    kinds = generate.add_subparsers(dest="kind", metavar="KIND", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-o", "--output", required=True, help="file to write (*.graphml or an edge list, *.txt)")
    common.add_argument("--format", choices=("graphml", "edgelist"), help="override the format guessed from -o")
    seeded = argparse.ArgumentParser(add_help=False, parents=[common])
    seeded.add_argument("--seed", type=int, default=None, help="random seed (default: fresh entropy)")

    def kind(name: str, help: str, parent=seeded) -> argparse.ArgumentParser:
        p = kinds.add_parser(name, help=help, description=help, parents=[parent])
        p.set_defaults(func=_run_generate)
        return p

    p = kind("erdos-renyi", "Erdős–Rényi DAG: each pair i < j is an edge with probability p")
    p.add_argument("--n", type=int, required=True, help="number of nodes")
    p.add_argument("--p", type=float, required=True, help="edge probability")
    p = kind("scale-free", "Barabási–Albert graph oriented in insertion order")
    p.add_argument("--n", type=int, required=True, help="number of nodes")
    p.add_argument("--m", type=int, required=True, help="edges per new node")
    p = kind("small-world", "Watts–Strogatz graph oriented in ring order")
    p.add_argument("--n", type=int, required=True, help="number of nodes")
    p.add_argument("--k", type=int, required=True, help="ring neighbours per node (even)")
    p.add_argument("--p", type=float, required=True, help="rewiring probability")
    p = kind("layered-sparse", "SET's Erdős–Rényi sparse layers")
    p.add_argument("--sizes", type=int, nargs="+", required=True, help="neurons per layer")
    p.add_argument("--epsilon", type=float, default=20.0, help="SET's density parameter (default 20)")
    p = kind("random-walk", "layered network of random-walk paths")
    p.add_argument("--sizes", type=int, nargs="+", required=True, help="neurons per layer")
    p.add_argument("--num-paths", type=int, required=True, help="number of paths")
    p = kind("sobol", "layered network of Sobol' sequence paths", parent=common)
    p.add_argument("--sizes", type=int, nargs="+", required=True, help="neurons per layer")
    p.add_argument("--num-paths", type=int, required=True, help="number of paths")
    p.add_argument("--scramble-seed", type=int, default=None, help="scramble the sequence with this seed")
    p = kind("connectome", "a real connectome, cut to a DAG with the sensory neurons as sources", parent=common)
    p.add_argument("--name", default="celegans", choices=("celegans",), help="which connectome")
    p.add_argument("--path", default=None, help="the csv file (default: $DAGNET_DATA or ../shared/data)")
    p.add_argument(
        "--synapses",
        default="chemical",
        choices=("chemical", "all"),
        help="chemical synapses only, or gap junctions too",
    )
    p.add_argument("--keep-cycles", action="store_true", help="write the graph as it is, cycles included")

    stats = commands.add_parser(
        "stats",
        help="describe a graph file",
        description="Print statistics of a graph file: size, depth, level widths, "
        "degrees, strengths and a power-law fit of the degree tail.",
    )
    stats.add_argument("file", help="a *.graphml or edge-list file")
    stats.add_argument("--format", choices=("graphml", "edgelist"), help="override the format guessed from FILE")
    stats.add_argument("--weight", default="weight", help="edge attribute for strengths (default: weight)")
    stats.add_argument(
        "--fit",
        default="total",
        choices=("total", "in", "out", "none"),
        help="which degree's tail to fit a power law to (default: total)",
    )
    stats.add_argument(
        "--plot",
        default=None,
        metavar="PNG",
        help="save the degree distribution (and, up to 500 nodes, a layered drawing) here",
    )
    stats.set_defaults(func=_run_stats)
    return graph
