"""One common test of argument validation: every public callable, one bad value, one message template.

Each entry calls a public class or function of dagnet with one bad argument
and checks the error names the parameter and its owner in the shared
template of :mod:`dagnet._checks` ("The 'x' parameter of f must be ...").
"""

from __future__ import annotations

import re

import networkx as nx
import pytest
import torch

import dagnet.activations as act
import dagnet.analysis as analysis
import dagnet.data as data
import dagnet.evolve as evolve
import dagnet.nn as dnn
import dagnet.topology as topology
import dagnet.train as train
from dagnet._checks import (
    Interval,
    Options,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_sizes,
    invalid,
)


def _graph():
    return topology.erdos_renyi_dag(6, 0.5, seed=0)


def _isotropic():
    return dnn.IsotropicMLP([3, 4, 2], seed=0)


def _digits():
    return data.load_digits()


# (callable, parameter, owner, exception type)
CASES = [
    # dagnet.nn
    (lambda: dnn.DendriticTree(0, 2, 2), "out_features", "DendriticTree", ValueError),
    (lambda: dnn.DendriticTree(4, 2.5, 2), "branching", "DendriticTree", ValueError),
    (lambda: dnn.DendriticTree(4, 2, 0), "depth", "DendriticTree", ValueError),
    (lambda: dnn.DendriticTree(4, 2, 2, dropout=1.0), "dropout", "DendriticTree", ValueError),
    (lambda: dnn.DendriticTree(4, 2, 2, bias=1), "bias", "DendriticTree", ValueError),
    (lambda: dnn.DendriteActivatedLinear(0, 2), "in_features", "DendriteActivatedLinear", ValueError),
    (lambda: dnn.DendriteActivatedLinear(2, True), "out_features", "DendriteActivatedLinear", ValueError),
    (
        lambda: dnn.DendriteActivatedLinear(2, 2, max_chunk_elements=0),
        "max_chunk_elements",
        "DendriteActivatedLinear",
        ValueError,
    ),
    (lambda: dnn.ActiveDendrites(0, 4, 2, 2, 1), "in_features", "ActiveDendrites", ValueError),
    (lambda: dnn.ActiveDendrites(3, 4, 0, 2, 1), "context_features", "ActiveDendrites", ValueError),
    (lambda: dnn.ActiveDendrites(3, 4, 2, 0, 1), "segments", "ActiveDendrites", ValueError),
    (lambda: dnn.ActiveDendrites(3, 4, 2, 2, 5), "k", "ActiveDendrites", ValueError),
    (lambda: dnn.ActiveDendrites(3, 4, 2, 2, 1, abs_max="no"), "abs_max", "ActiveDendrites", ValueError),
    (lambda: dnn.k_winners_take_all(torch.zeros(2, 3), 4), "k", "k_winners_take_all", ValueError),
    (lambda: dnn.RandomlyWiredBlocks(3, 2, 0, _graph()), "hidden", "RandomlyWiredBlocks", ValueError),
    (lambda: dnn.SparseLinear(0, 3), "in_features", "SparseLinear", ValueError),
    (lambda: dnn.SparseLinear(3, -1), "out_features", "SparseLinear", ValueError),
    (lambda: dnn.Dropout(1.5), "p", "Dropout", ValueError),
    (lambda: dnn.IsotropicMLP([3, 0, 2]), "sizes", "IsotropicMLP", ValueError),
    (lambda: dnn.IsotropicMLP([3, 4, 2], init_scale=0.0), "init_scale", "IsotropicMLP", ValueError),
    (lambda: dnn.IsotropicMLP([3, 4, 2], bias=None), "bias", "IsotropicMLP", ValueError),
    (lambda: dnn.IsotropicMLP([3, 4, 2], trainable_length=0), "trainable_length", "IsotropicMLP", ValueError),
    (lambda: _isotropic().grow(1, 0), "n", "IsotropicMLP.grow", ValueError),
    (lambda: _isotropic().grow(1, 1.5), "n", "IsotropicMLP.grow", TypeError),
    (lambda: _isotropic().diagonalise(1, mode="right"), "mode", "IsotropicMLP.diagonalise", ValueError),
    (lambda: dnn.sparse_mlp([4, 3, 2], activation="gelu"), "activation", "sparse_mlp", ValueError),
    (lambda: dnn.sparse_mlp([4, 3, 2], dropout=-0.1), "dropout", "sparse_mlp", ValueError),
    (lambda: dnn.sparse_mlp([4, 0, 2]), "sizes", "sparse_mlp", ValueError),
    (lambda: dnn.erk_densities([(4, 3)], 0.0), "density", "erk_densities", ValueError),
    (lambda: dnn.erk_densities([(4,)], 0.5), "shapes", "erk_densities", ValueError),
    # dagnet.topology
    (lambda: topology.erdos_renyi_dag(-1, 0.5), "n", "erdos_renyi_dag", ValueError),
    (lambda: topology.erdos_renyi_dag(5, 1.5), "p", "erdos_renyi_dag", ValueError),
    (lambda: topology.random_io_dag(0, 3, 2, 0.5, 1, 1), "num_inputs", "random_io_dag", ValueError),
    (lambda: topology.random_io_dag(2, 3, 2, 0.5, 0, 1), "fan_in", "random_io_dag", ValueError),
    (lambda: topology.scale_free_dag(1, 1), "n", "scale_free_dag", ValueError),
    (lambda: topology.scale_free_dag(10, 10), "m", "scale_free_dag", ValueError),
    (lambda: topology.small_world_dag(0, 0, 0.5), "n", "small_world_dag", ValueError),
    (lambda: topology.small_world_dag(10, 3, 0.5), "k", "small_world_dag", ValueError),
    (lambda: topology.small_world_dag(10, 2, float("nan")), "p", "small_world_dag", ValueError),
    (lambda: topology.layered_sparse([4]), "sizes", "layered_sparse", ValueError),
    (lambda: topology.layered_sparse([4, 3], epsilon=0), "epsilon", "layered_sparse", ValueError),
    (lambda: topology.random_walk_paths([3, 3], -1), "num_paths", "random_walk_paths", ValueError),
    (lambda: topology.sobol_paths([3, 3], 2.0), "num_paths", "sobol_paths", ValueError),
    (lambda: topology.connectome("worm"), "name", "connectome", ValueError),
    (lambda: topology.connectome(synapses="gap"), "synapses", "connectome", ValueError),
    (lambda: topology.to_dag(nx.path_graph(3), order="ring"), "order", "to_dag", ValueError),
    # dagnet.evolve
    (lambda: evolve.SET(zeta=1.5), "zeta", "SET", ValueError),
    (lambda: evolve.SET(regrow="gradient"), "regrow", "SET", ValueError),
    (lambda: evolve.SET(init="ones"), "init", "SET", ValueError),
    (lambda: evolve.SET(init_scale=-1), "init_scale", "SET", ValueError),
    (lambda: evolve.RigL(drop_fraction=-0.1), "drop_fraction", "RigL", ValueError),
    (lambda: evolve.RigL(update_every=0), "update_every", "RigL", ValueError),
    (lambda: evolve.RigL(anneal="linear"), "anneal", "RigL", ValueError),
    (lambda: evolve.RigL(stop_step=0), "stop_step", "RigL", ValueError),
    (lambda: evolve.MagnitudePruning(amount=2), "amount", "MagnitudePruning", ValueError),
    (lambda: evolve.MagnitudePruning(scope="net"), "scope", "MagnitudePruning", ValueError),
    (lambda: evolve.IterativeMagnitudePruning(rewind="never"), "rewind", "IterativeMagnitudePruning", ValueError),
    (lambda: evolve.NeuronPruning(percentile=101), "percentile", "NeuronPruning", ValueError),
    (lambda: evolve.NeuronPruning(start=-1), "start", "NeuronPruning", ValueError),
    (lambda: evolve.NeuronPruning(every=0), "every", "NeuronPruning", ValueError),
    (lambda: evolve.NeuronPruning(skip_last="yes"), "skip_last", "NeuronPruning", ValueError),
    (lambda: evolve.DropConnect(p=1.0), "p", "DropConnect", ValueError),
    (lambda: evolve.DropConnectMask(p=-0.5), "p", "DropConnectMask", ValueError),
    (lambda: evolve.LearnedMasks(lambda_=-1.0), "lambda_", "LearnedMasks", ValueError),
    (lambda: evolve.LearnedMasks(init_score=0.0), "init_score", "LearnedMasks", ValueError),
    (lambda: evolve.LearnedMasks(eps=float("inf")), "eps", "LearnedMasks", ValueError),
    (lambda: evolve.Neuroadaptation(threshold=0), "threshold", "Neuroadaptation", ValueError),
    (lambda: evolve.Neuroadaptation(scaffold=-1), "scaffold", "Neuroadaptation", ValueError),
    (lambda: evolve.Neuroadaptation(every=0), "every", "Neuroadaptation", ValueError),
    (lambda: evolve.every_steps(0), "n", "every_steps", ValueError),
    (lambda: evolve.every_epochs(every=0), "every", "every_epochs", ValueError),
    (lambda: evolve.every_epochs(start=-1), "start", "every_epochs", ValueError),
    # dagnet.train
    (lambda: train.fit(torch.nn.Linear(64, 10), _digits(), epochs=0), "epochs", "fit", ValueError),
    (lambda: train.fit(torch.nn.Linear(64, 10), _digits(), batch_size=2.5), "batch_size", "fit", ValueError),
    (lambda: train.fit(torch.nn.Linear(64, 10), _digits(), checkpoint_every=0), "checkpoint_every", "fit", ValueError),
    (lambda: train.fit(torch.nn.Linear(64, 10), _digits(), progress=1), "progress", "fit", ValueError),
    (lambda: train.fit(torch.nn.Linear(64, 10), _digits(), on_nonfinite="skip"), "on_nonfinite", "fit", ValueError),
    (lambda: train.fit(torch.nn.Linear(64, 10), _digits(), loss="hinge"), "loss", "fit", ValueError),
    (lambda: train.fit("model", _digits()), "model", "fit", ValueError),
    # dagnet.data
    (lambda: data.load_digits(test_size=1.0), "test_size", "load_digits", ValueError),
    (lambda: data.num_batches(10, 0), "batch_size", "num_batches", ValueError),
    (lambda: list(data.batches(torch.zeros(4, 2), torch.zeros(4), 0)), "batch_size", "batches", ValueError),
    # dagnet.analysis
    (lambda: analysis.describe(_graph(), fit="both"), "fit", "describe", ValueError),
    (lambda: analysis.describe(_graph()).degree("all"), "which", "GraphSummary.degree", ValueError),
    (lambda: analysis.plot_degree_distribution(_graph(), which="all"), "which", "plot_degree_distribution", ValueError),
    (lambda: analysis.draw_layered(_graph(), layering="middle"), "layering", "draw_layered", ValueError),
    # dagnet.activations
    (lambda: act.ada(torch.zeros(2), alpha=-1.0), "alpha", "ada", ValueError),
    (lambda: act.leaky_ada(torch.zeros(2), slope=float("nan")), "slope", "leaky_ada", ValueError),
    (lambda: act.and_ail(torch.zeros(2), torch.zeros(2), normalized=1), "normalized", "and_ail", ValueError),
    (lambda: act.AIL(kind="nand"), "kind", "AIL", ValueError),
    (lambda: act.all_relu_slope(-1), "layer_index", "AllReLU", ValueError),
    (
        lambda: act.isotropic_tanh(torch.zeros(2, 2), intrinsic_length=-1.0),
        "intrinsic_length",
        "isotropic_tanh",
        ValueError,
    ),
    (lambda: act.ADA(alpha=-1.0), "alpha", "ADA", ValueError),
    (lambda: act.ADA(trainable="no"), "trainable", "ADA", ValueError),
]


@pytest.mark.parametrize(("call", "param", "owner", "error"), CASES, ids=[f"{c[2]}-{c[1]}" for c in CASES])
def test_a_bad_value_names_parameter_and_owner(call, param, owner, error):
    with pytest.raises(error, match=rf"^The '{re.escape(param)}' parameter of {re.escape(owner)} must be "):
        call()


def test_the_table_is_broad():
    assert len(CASES) >= 40
    owners = {c[2] for c in CASES}
    assert len(owners) >= 40


# ------------------------------------------------------------------ the constraints' wording
@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (Interval(int), "an int"),
        (Interval(int, 1), "an int >= 1"),
        (Interval(int, 0, closed="neither"), "an int > 0"),
        (Interval(int, None, 5), "an int <= 5"),
        (Interval(int, 1, 4), "an int in [1, 4]"),
        (Interval(float, 0, 1), "a float in [0, 1]"),
        (Interval(float, 0, 1, closed="left"), "a float in [0, 1)"),
        (Interval(float, 0, 1, closed="right"), "a float in (0, 1]"),
        (Interval(float, 0.5, 100.0, closed="neither"), "a float in (0.5, 100)"),
        (Interval(float, 0), "a finite float >= 0"),
        (Interval(float, 0, closed="neither"), "a finite float > 0"),
        (Interval(float), "a finite float"),
        (Options(("random", "degree")), "one of 'random', 'degree'"),
        (Options(("a",)), "one of 'a'"),
    ],
)
def test_constraint_wording(rule, text):
    assert str(rule) == text


@pytest.mark.parametrize(
    ("rule", "good", "bad"),
    [
        (Interval(int, 1), [1, 7, 10**30], [0, -1, 1.0, True, "1", None]),
        (Interval(int, 0, 3), [0, 3], [-1, 4]),
        (Interval(float, 0, 1, closed="left"), [0, 0.5, 0.999], [1, 1.0, -0.1, float("nan"), False]),
        (Interval(float, 0, closed="neither"), [1e-9, 10**400], [0, float("inf"), "1"]),
        (Options(("in", "out")), ["in", "out"], ["total", None, 1, ["in"]]),
    ],
)
def test_constraint_membership(rule, good, bad):
    assert all(v in rule for v in good)
    assert not any(v in rule for v in bad)


def test_invalid_is_the_template():
    err = invalid("k", "Layer", Interval(int, 1), 0)
    assert isinstance(err, ValueError)
    assert str(err) == "The 'k' parameter of Layer must be an int >= 1. Got 0 instead."


def test_the_checkers():
    assert check_int(3, "k", "f") == 3 and type(check_int(torch.tensor(3).item(), "k", "f")) is int
    with pytest.raises(ValueError, match=r"^The 'k' parameter of f must be an int in \[1, n\] \(n is 4\)\. Got 5"):
        check_int(5, "k", "f", 1, 4, "n")
    with pytest.raises(ValueError, match=r"must be an int >= 0\. Got -1 instead\.$"):
        check_int(-1, "k", "f", low=0)
    assert check_int(-5, "k", "f", low=None) == -5
    assert check_float(1, "p", "f", 0, 1) == 1.0
    with pytest.raises(ValueError, match=r"^The 'p' parameter of f must be a float in \[0, 1\)\. Got 1 instead\.$"):
        check_float(1, "p", "f", 0, 1, high_open=True)
    assert check_bool(False, "b", "f") is False
    with pytest.raises(ValueError, match=r"^The 'b' parameter of f must be a bool\. Got 0 instead\.$"):
        check_bool(0, "b", "f")
    assert check_choice("in", "which", "f", ("in", "out")) == "in"
    with pytest.raises(ValueError, match=r"^The 'which' parameter of f must be one of 'in', 'out'\. Got 'x'"):
        check_choice("x", "which", "f", ("in", "out"))
    assert check_sizes([3, 2], "f").tolist() == [3, 2]
    with pytest.raises(ValueError, match=r"^The 'sizes' parameter of f must be a sequence of at least 2 positive"):
        check_sizes([3, 0], "f")
