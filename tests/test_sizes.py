"""Absurd sizes are refused before anything is allocated, with the expected edges and bytes; normal ones pass.

A refused call must raise the size error without ever reaching the sampler:
each generator's random source (or first big allocation) is replaced by a
function that fails the test if it is called.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from scipy.stats import qmc

import dagnet.nn.sparse_linear as sparse_linear_module
import dagnet.topology.erdos_renyi as er_module
import dagnet.topology.layered as layered_module
import dagnet.topology.paths as paths_module
import dagnet.topology.scale_free as scale_free_module
import dagnet.topology.small_world as small_world_module
from dagnet import DAGNetwork, Wiring
from dagnet.errors import SizeError
from dagnet.nn import ActiveDendrites, DendriteActivatedLinear, DendriticTree, SparseLinear
from dagnet.nn.sparse_mlp import sparse_mlp
from dagnet.topology import (
    _budget,
    erdos_renyi_dag,
    layered_sparse,
    path_network,
    random_walk_paths,
    scale_free_dag,
    small_world_dag,
    sobol_paths,
)

GIB = 2**30
GENERATOR_MODULES = (
    er_module,
    layered_module,
    paths_module,
    scale_free_module,
    small_world_module,
    sparse_linear_module,
)


class Reached(Exception):
    """Raised in place of the generator's first allocation: the size check let the call through."""


def _never(*args, **kwargs):
    raise Reached


@pytest.fixture
def no_sampling(monkeypatch):
    """Make every generator fail with Reached as soon as it would start drawing or building."""
    for module in GENERATOR_MODULES:
        monkeypatch.setattr(module, "numpy_rng", _never)
    monkeypatch.setattr(paths_module, "layer_labels", _never)
    monkeypatch.setattr(qmc, "Sobol", _never)


@pytest.fixture
def machine(monkeypatch):
    """Pretend the machine has ``machine(bytes)`` of memory."""

    def set_limit(limit):
        monkeypatch.setattr(_budget, "memory_limit", lambda: limit)

    set_limit(24 * GIB)
    return set_limit


def _refused(call, *parts):
    with pytest.raises(SizeError) as info:
        call()
    message = str(info.value)
    for part in parts:
        assert part in message, message
    return message


# ----------------------------------------------------------------- the two cases
def test_erdos_renyi_of_a_billion_nodes(no_sampling, machine):
    message = _refused(
        lambda: erdos_renyi_dag(10**9, 0.5),
        "erdos_renyi_dag(n=1000000000, p=0.5) would make about 2.5e+17 edges and 1e+09 nodes (~5.8e+19 bytes",
        "more than the 24 GiB of memory this machine has. Choose a smaller n or p.",
    )
    assert "as_wiring=True" not in message  # it would not fit either
    _refused(
        lambda: erdos_renyi_dag(10**9, 0.5, as_wiring=True),
        "erdos_renyi_dag(n=1000000000, p=0.5, as_wiring=True) would make about 2.5e+17 edges "
        "(~8e+18 bytes, 7.28e+06 TiB)",
    )


def test_layered_sparse_of_two_billion_neurons(no_sampling, machine):
    _refused(
        lambda: layered_sparse([10**9, 10**9]),
        "layered_sparse(sizes=[1000000000, 1000000000], epsilon=20) would make about 4e+10 edges and "
        "2e+09 nodes (~1.02e+13 bytes, 9.26 TiB)",
    )
    _refused(
        lambda: layered_sparse([10**9, 10**9], as_wiring=True),
        "about 4e+10 edges and 2e+09 nodes (~1.58e+12 bytes, 1.44 TiB)",
    )


def test_the_refusal_holds_on_the_real_machine(no_sampling):
    """Without a pretend limit: the machine's own memory (far below exabytes) refuses the issue's cases."""
    assert 2**20 < _budget.memory_limit() < 2**50
    for call in (lambda: erdos_renyi_dag(10**9, 0.5, as_wiring=True), lambda: layered_sparse([10**9] * 2)):
        message = _refused(call, "of memory this machine has")
        assert re.search(r"more than the [\d.]+ (GiB|TiB) of memory", message)


# ----------------------------------------------------------------- one per generator
@pytest.mark.parametrize(
    "call, parts",
    [
        (
            lambda: scale_free_dag(10**9, 50),
            ["scale_free_dag(n=1000000000, m=50) would make about 5e+10 edges", "Choose a smaller n or m."],
        ),
        (
            lambda: small_world_dag(10**9, 100, 0.1),
            ["small_world_dag(n=1000000000, k=100, p=0.1) would make about 5e+10 edges", "Choose a smaller n or k."],
        ),
        (
            lambda: random_walk_paths([10**5] * 4, 10**9, as_wiring=True),
            [
                (
                    "random_walk_paths(sizes=[100000, 100000, 100000, 100000], num_paths=1000000000, as_wiring=True) "
                    "would make 3e+09 path segments, about 2.85e+09 distinct edges"
                ),
                "Choose fewer paths or smaller layers.",
            ],
        ),
        (
            lambda: sobol_paths([10**5] * 4, 10**9),
            [
                (
                    "sobol_paths(sizes=[100000, 100000, 100000, 100000], num_paths=1000000000) would make "
                    "3e+09 path segments"
                )
            ],
        ),
        (
            lambda: SparseLinear(10**6, 10**6, density=0.5),
            [
                "SparseLinear(1000000, 1000000, density=0.5) would make about 5e+11 edges and 2e+06 nodes (~4.8e+13 bytes",
                "Choose smaller layers or a lower density",
            ],
        ),
        (
            lambda: SparseLinear(10**7, 10**7),
            ["SparseLinear(10000000, 10000000, epsilon=20) would make about 4e+08 edges and 2e+07 nodes"],
        ),
        (
            lambda: sparse_mlp([10**6] * 3, density=0.5),
            ["sparse_mlp([1000000, 1000000, 1000000], density=0.5) would make about 1e+12 edges and 4e+06 nodes"],
        ),
    ],
    ids=["scale_free", "small_world", "random_walk", "sobol", "sparse_linear", "sparse_linear_epsilon", "sparse_mlp"],
)
def test_each_generator_refuses_absurd_sizes(no_sampling, machine, call, parts):
    _refused(call, *parts)


def test_path_network_refuses_before_building(monkeypatch, machine):
    machine(2**20)
    monkeypatch.setattr(paths_module, "layer_labels", _never)
    visits = np.zeros((10**5, 3), dtype=np.int64)
    _refused(
        lambda: path_network(visits, [10, 10, 10]),
        "path_network(visits of shape (100000, 3), sizes=[10, 10, 10]) would make 2e+05 path segments",
    )


def test_graph_form_suggests_as_wiring_only_where_that_fits(no_sampling, machine):
    machine(GIB)
    p = 2e7 / (10**6 * (10**6 - 1))  # 10^7 edges: 320 MB as a Wiring, over 2 GB as a DiGraph
    _refused(
        lambda: erdos_renyi_dag(10**6, p),
        "would make about 1e+07 edges and 1e+06 nodes",
        "Choose a smaller n or p, or pass as_wiring=True (3.2e+08 bytes).",
    )
    with pytest.raises(Reached):
        erdos_renyi_dag(10**6, p, as_wiring=True)


# ----------------------------------------------------------------- normal sizes pass
@pytest.mark.parametrize(
    "call",
    [
        lambda: erdos_renyi_dag(10**6, 2e7 / (10**6 * (10**6 - 1)), seed=1, as_wiring=True),  # bench: 10^7 edges
        lambda: erdos_renyi_dag(2**32, 1e-12, as_wiring=True),  # many nodes, few edges: no cost per node
        lambda: scale_free_dag(10**6, 5, seed=1, as_wiring=True),
        lambda: small_world_dag(10**6, 10, 0.1, seed=1, as_wiring=True),
        lambda: layered_sparse([10000] * 4, 20, seed=1, as_wiring=True),
        lambda: layered_sparse([10**5] * 3, 20, seed=1),
        lambda: random_walk_paths([10000] * 4, 10**5, seed=1, as_wiring=True),
        lambda: sobol_paths([16384] * 4, 16 * 16384, as_wiring=True),
        lambda: SparseLinear(20000, 20000, seed=0),
        lambda: sparse_mlp([20000, 20000, 20000, 10], epsilon=20, seed=0),
    ],
)
def test_benchmark_sizes_pass_on_a_4_gib_machine(no_sampling, machine, call):
    machine(4 * GIB)
    with pytest.raises(Reached):
        call()


def test_small_graphs_are_still_built(machine):
    machine(4 * GIB)
    assert erdos_renyi_dag(50, 0.2, seed=0, as_wiring=True).num_edges > 0
    assert layered_sparse([30, 20, 10], epsilon=2, seed=0).number_of_nodes() == 60
    assert scale_free_dag(100, 2, seed=0, as_wiring=True).num_edges == 196
    assert small_world_dag(40, 4, 0.1, seed=0, as_wiring=True).num_edges == 80
    assert random_walk_paths([8, 8], 16, seed=0, as_wiring=True).num_nodes == 16
    assert sobol_paths([8, 8], 16, as_wiring=True).num_nodes == 16
    assert SparseLinear(30, 20, density=0.5, seed=0).num_edges > 0
    assert len(sparse_mlp([10, 8, 2], epsilon=2, seed=0)) == 3


def test_erdos_renyi_n_beyond_int64_pairs():
    with pytest.raises(
        ValueError,
        match=r"The 'n' parameter of erdos_renyi_dag must be an int in "
        r"\[0, 4294967296\]. Got 10000000000 instead.",
    ):
        erdos_renyi_dag(10**10, 1e-30, as_wiring=True)


# ----------------------------------------------------------------- the helper
def test_check_size_counts_bytes_and_names_the_limit():
    assert _budget.check_size("f()", 10, 8, 5, 2) == 90.0
    with pytest.raises(
        ValueError,
        match=r"^f\(\) would make about 1e\+06 edges \(~8e\+06 bytes, 7.63 MiB\), "
        r"more than the 1 MiB of memory this machine has. Try less.$",
    ):
        _budget.check_size("f()", 10**6, 8, advice="Try less.", limit=2**20)


def test_memory_limit_falls_back_when_the_machine_cannot_say(monkeypatch):
    def unknown(name):
        raise ValueError(name)

    monkeypatch.setattr(os, "sysconf", unknown)
    real_path = _budget.Path
    monkeypatch.setattr(_budget, "Path", lambda file: real_path("/nonexistent/dagnet/" + file.lstrip("/")))
    assert _budget.memory_limit() == 2**50
    with pytest.raises(ValueError, match="more than the 1.02e\\+03 TiB"):
        _budget.check_size("f()", 2**50, 8)


@pytest.mark.parametrize(
    "call, parts",
    [
        (lambda: DAGNetwork(Wiring(10**12, [0], [1])), ["DAGNetwork(<1000000000000 nodes, 1 edges>)", "1e+12 nodes"]),
        (
            lambda: DendriteActivatedLinear(10**9, 10**9),
            ["DendriteActivatedLinear(1000000000, 1000000000)", "2e+18 weights"],
        ),
        (
            lambda: ActiveDendrites(10**6, 10**6, 10**3, 10, 5),
            ["ActiveDendrites(1000000, 1000000, 1000, 10)", "1.01e+12 weights"],
        ),
        (lambda: DendriticTree(1000, 2, 30), ["DendriticTree(1000, 2, 30)", "2.15e+12 weights"]),
    ],
)
def test_networks_and_dense_neuron_layers_refuse_absurd_sizes_before_allocating(machine, call, parts):
    _refused(call, *parts, "more than the 24 GiB")


def test_an_absurd_isotropic_mlp_in_a_configuration_is_refused(machine):
    from dagnet.cli.config import build_model, load_config

    cfg = load_config({"model": {"kind": "isotropic_mlp", "hidden": [10**9]}})
    _refused(lambda: build_model(cfg, 64, 10), "IsotropicMLP([64, 1000000000, 10])", "7.4e+10 edges")
