"""The ``dagnet graph`` command, driven through a parser built here as the main CLI builds it."""

from __future__ import annotations

import argparse

import networkx as nx
import pytest

from dagnet.cli.graph import add_graph_parser
from dagnet.topology import read_edgelist, read_graphml


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="dagnet")
    add_graph_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.mark.parametrize(
    "kind, options, edges",
    [
        ("erdos-renyi", ["--n", "60", "--p", "1.0", "--seed", "1"], 60 * 59 // 2),
        ("scale-free", ["--n", "60", "--m", "2", "--seed", "1"], 2 * 58),
        ("small-world", ["--n", "60", "--k", "4", "--p", "0.2", "--seed", "1"], 120),
        ("layered-sparse", ["--sizes", "5", "4", "3", "--seed", "1"], 5 * 4 + 4 * 3),
        ("sobol", ["--sizes", "8", "8", "8", "--num-paths", "8"], 16),
    ],
)
def test_generate_writes_the_graph(tmp_path, capsys, kind, options, edges):
    out = tmp_path / "g.graphml"
    assert run("graph", "generate", kind, *options, "-o", str(out)) == 0
    g = read_graphml(out)
    assert g.number_of_edges() == edges and nx.is_directed_acyclic_graph(g)
    assert f"{edges} edges" in capsys.readouterr().out


def test_generate_edge_lists_and_random_walks(tmp_path):
    out = tmp_path / "walk.tsv"
    assert (
        run("graph", "generate", "random-walk", "--sizes", "6", "6", "--num-paths", "12", "--seed", "3", "-o", str(out))
        == 0
    )
    g = read_edgelist(out)
    assert all(u[0] + 1 == v[0] for u, v in g.edges) and 1 <= g.number_of_edges() <= 12


def test_generate_connectome_is_a_dag_with_sensory_sources(tmp_path, data_dir, capsys):
    out = tmp_path / "worm.graphml"
    csv = data_dir / "celegans_neuronconnect.csv"
    assert run("graph", "generate", "connectome", "--path", str(csv), "-o", str(out)) == 0
    g = read_graphml(out)
    assert nx.is_directed_acyclic_graph(g) and g.in_degree("ASHL") == 0
    assert "feedforward_cut removed" in capsys.readouterr().out
    raw = tmp_path / "raw.graphml"
    assert run("graph", "generate", "connectome", "--path", str(csv), "--keep-cycles", "-o", str(raw)) == 0
    assert not nx.is_directed_acyclic_graph(read_graphml(raw))


def test_stats_prints_a_summary_and_saves_a_plot(tmp_path, capsys):
    out = tmp_path / "g.graphml"
    run("graph", "generate", "scale-free", "--n", "300", "--m", "2", "--seed", "0", "-o", str(out))
    capsys.readouterr()
    png = tmp_path / "stats.png"
    assert run("graph", "stats", str(out), "--plot", str(png)) == 0
    text = capsys.readouterr().out
    assert "nodes 300, edges 596" in text and "power law" in text and "plot saved" in text
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_usage_errors_return_two_with_a_message(tmp_path, capsys):
    assert (
        run(
            "graph", "generate", "small-world", "--n", "10", "--k", "3", "--p", "0.1", "-o", str(tmp_path / "g.graphml")
        )
        == 2
    )
    assert "must be an even int" in capsys.readouterr().err
    assert run("graph", "generate", "scale-free", "--n", "10", "--m", "2", "-o", str(tmp_path / "g.xyz")) == 2
    assert "--format" in capsys.readouterr().err
    assert run("graph", "stats", str(tmp_path / "missing.graphml")) == 2
    assert "missing.graphml" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: KIND is required
        run("graph", "generate")
