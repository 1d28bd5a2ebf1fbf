"""Graph statistics, power-law fits and pictures."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.axes import Axes

from dagnet import Wiring
from dagnet.analysis import describe, draw_layered, fit_power_law, plot_degree_distribution
from dagnet.errors import CycleError
from dagnet.topology import scale_free_dag

FEW = settings(max_examples=20, deadline=None)


# --------------------------------------------------------------------------- describe
def test_describe_a_small_dag():
    g = nx.DiGraph([("x", "a", {"w": 2.0}), ("x", "b", {"w": 1.0}), ("a", "y", {"w": 0.5}), ("b", "y"), ("x", "y")])
    g.add_node("z")
    s = describe(g, weight="w")
    assert (s.num_nodes, s.num_edges, s.num_sources, s.num_sinks) == (5, 5, 2, 2)
    assert s.acyclic and s.depth == 2 and s.level_widths.tolist() == [2, 2, 1]
    assert s.density == pytest.approx(5 / 20)
    assert s.in_degree.tolist() == [0, 1, 1, 3, 0] and s.out_degree.tolist() == [3, 1, 1, 0, 0]
    assert s.out_strength.tolist() == [3.0, 0.5, 0.0, 0.0, 0.0]  # b -> y has no weight: counts 0
    assert s.in_strength.tolist() == [0.0, 2.0, 1.0, 0.5, 0.0]
    assert s.degree_distribution("in").tolist() == [2, 2, 0, 1]
    assert s.power_law is None  # five nodes are too few
    text = str(s)
    assert "nodes 5, edges 5" in text and "depth 2" in text and "in-strength (w)" in text


def test_describe_cyclic_graphs_and_wirings_alike():
    cyclic = describe(nx.DiGraph([(0, 1), (1, 0), (1, 2)]), fit=None)
    assert not cyclic.acyclic and cyclic.depth is None and "cyclic" in str(cyclic)
    w = scale_free_dag(300, 2, seed=0, as_wiring=True)
    a, b = describe(w), describe(w.to_graph())
    assert a.depth == b.depth and np.array_equal(a.level_widths, b.level_widths)
    assert a.power_law.alpha == pytest.approx(b.power_law.alpha)


@FEW
@given(st.integers(1, 40), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_describe_agrees_with_networkx(n, p, seed):
    g = nx.gnp_random_graph(n, p, seed=seed, directed=True)
    dag = nx.DiGraph((u, v) for u, v in g.edges if u < v)
    dag.add_nodes_from(range(n))
    s = describe(dag)
    assert s.depth == nx.dag_longest_path_length(dag)
    assert s.level_widths.sum() == n and s.num_edges == dag.number_of_edges()
    assert s.density == pytest.approx(nx.density(dag))


# --------------------------------------------------------------------------- power laws
def test_continuous_power_law_exponent_within_five_standard_errors():
    rng = np.random.default_rng(0)
    x = 2.0 * (1.0 - rng.random(5000)) ** (-1.0 / 1.5)  # Pareto: alpha = 2.5, xmin = 2
    fit = fit_power_law(x, xmin=2.0)
    assert not fit.discrete and fit.n_tail == 5000
    assert abs(fit.alpha - 2.5) < 5 * fit.alpha_error
    free = fit_power_law(x)  # xmin chosen by the KS distance
    assert abs(free.alpha - 2.5) < 5 * free.alpha_error and free.xmin < 4


def test_discrete_power_law_from_a_zeta_sample():
    from scipy import stats

    x = stats.zipf.rvs(2.3, size=5000, random_state=np.random.default_rng(1))
    fit = fit_power_law(x, xmin=1)
    assert fit.discrete and abs(fit.alpha - 2.3) < 5 * fit.alpha_error
    assert fit.comparisons["exponential"].favoured == "power law"
    assert fit.comparisons["exponential"].p_value < 1e-3


def test_exponential_data_prefer_the_exponential():
    x = np.random.default_rng(2).exponential(5.0, 4000) + 1.0
    fit = fit_power_law(x, xmin=1.0)
    exp = fit.comparisons["exponential"]
    assert exp.loglik_ratio < 0 and exp.favoured == "exponential"
    assert abs(exp.params["lambda"] - 0.2) < 5 * 0.2 / math.sqrt(4000)  # MLE of the rate


def test_lognormal_fit_recovers_its_parameters():
    x = np.random.default_rng(3).lognormal(1.0, 0.5, 4000)
    fit = fit_power_law(x, xmin=float(x.min()))
    ln = fit.comparisons["lognormal"]
    assert ln.favoured == "lognormal"
    assert abs(ln.params["mu"] - 1.0) < 0.05 and abs(ln.params["sigma"] - 0.5) < 0.05
    assert "vs lognormal" in str(fit)


def test_power_law_needs_enough_data():
    with pytest.raises(ValueError, match="at least 10 positive values"):
        fit_power_law([1, 2, 3, 0, -1])
    with pytest.raises(ValueError, match="at least 10 positive values"):
        fit_power_law([3.0] * 50)


# --------------------------------------------------------------------------- pictures
def test_plot_degree_distribution_draws_data_and_fit(tmp_path):
    g = scale_free_dag(2000, 2, seed=0)
    ax = plot_degree_distribution(g)
    assert isinstance(ax, Axes) and ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert len(ax.collections) == 1 and len(ax.lines) == 1  # data points, fitted tail
    assert "alpha" in ax.lines[0].get_label()
    y = ax.collections[0].get_offsets()[:, 1]
    assert y[0] == pytest.approx(1.0) and (np.diff(y) < 0).all()  # a CCDF
    ax.figure.savefig(tmp_path / "d.png")
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"
    out = plot_degree_distribution(describe(g, fit="out"), which="out")
    assert len(out.lines) == 1
    with pytest.raises(ValueError, match="fit of the out degree"):
        plot_degree_distribution(describe(g, fit="out"), which="in")


def test_draw_layered_puts_levels_in_rows(tmp_path):
    g = nx.DiGraph([("x", "h1"), ("x", "h2"), ("h1", "y"), ("h2", "y"), ("x", "y")])
    ax = draw_layered(g)
    xy = ax.collections[1].get_offsets()
    assert xy[:, 1].tolist() == [0.0, -1.0, -1.0, -2.0]  # x, h1, h2, y by level
    assert len(ax.collections[0].get_segments()) == 5 and len(ax.texts) == 4
    late = draw_layered(nx.DiGraph([("a", "b"), ("b", "c"), ("a", "d")]), layering="alap")
    assert late.collections[1].get_offsets()[:, 1].tolist() == [0.0, -1.0, -2.0, -2.0]
    big = draw_layered(Wiring(300, np.arange(299), np.arange(1, 300)))
    assert len(big.texts) == 0  # no labels past 60 nodes
    big.figure.savefig(tmp_path / "l.png")
    with pytest.raises(CycleError, match="draw_layered needs a DAG"):
        draw_layered(nx.DiGraph([(0, 1), (1, 0)]))
