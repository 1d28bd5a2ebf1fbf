"""Every seed a user passes may be an int, a numpy Generator or a random.Random (or None)."""

from __future__ import annotations

import random

import networkx as nx
import numpy as np
import pytest
import torch

import dagnet
from dagnet.data import load_digits
from dagnet.evolve import SET
from dagnet.nn import Dropout, IsotropicMLP, Population, sparse_mlp
from dagnet.seeding import numpy_rng, resolve_seed, torch_generator
from dagnet.topology import (
    erdos_renyi_dag,
    random_io_dag,
    random_walk_paths,
    scale_free_dag,
    small_world_dag,
    sobol_paths,
)


def _state(obj):
    if isinstance(obj, nx.DiGraph):
        return sorted(obj.edges())
    if isinstance(obj, dagnet.Wiring):
        return obj.source.tolist(), obj.target.tolist()
    if isinstance(obj, torch.nn.Module):
        return [t.tolist() for t in obj.state_dict().values()]
    if isinstance(obj, dagnet.data.Dataset):
        return obj.y_train.tolist()
    raise TypeError(obj)


MAKERS = {
    "DAGNetwork": lambda s: dagnet.DAGNetwork(erdos_renyi_dag(15, 0.3, seed=0), seed=s),
    "SparseLinear": lambda s: dagnet.SparseLinear(12, 6, density=0.4, seed=s),
    "sparse_mlp": lambda s: sparse_mlp([8, 6, 3], epsilon=2, dropout=0.2, seed=s),
    "Dropout": lambda s: Dropout(0.5, seed=s),
    "IsotropicMLP": lambda s: IsotropicMLP([4, 5, 2], seed=s),
    "Population": lambda s: Population([nx.DiGraph([(0, 2), (1, 2)]), nx.DiGraph([(0, 2), (1, 3), (3, 2)])], seed=s),
    "erdos_renyi_dag": lambda s: erdos_renyi_dag(30, 0.2, seed=s),
    "scale_free_dag": lambda s: scale_free_dag(30, 2, seed=s),
    "small_world_dag": lambda s: small_world_dag(30, 4, 0.3, seed=s),
    "random_io_dag": lambda s: random_io_dag(4, 10, 2, 0.3, 2, 3, seed=s),
    "random_walk_paths": lambda s: random_walk_paths([6, 8, 3], 4, seed=s, as_wiring=True),
    "sobol_paths": lambda s: sobol_paths([6, 8, 3], 4, scramble_seed=s, as_wiring=True),
    "load_digits": lambda s: load_digits(seed=s),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
@pytest.mark.parametrize("kind", ["numpy", "random"])
def test_a_generator_seeds_as_reproducibly_as_an_int(name, kind):
    make = MAKERS[name]
    fresh = (lambda: np.random.default_rng(5)) if kind == "numpy" else (lambda: random.Random(5))
    a, b = make(fresh()), make(fresh())
    assert _state(a) == _state(b)
    other = make(np.random.default_rng(6) if kind == "numpy" else random.Random(6))
    assert _state(other) != _state(a)  # and another state gives another result


def test_rules_and_fit_take_generators():
    def run(seed):
        mlp = sparse_mlp([64, 20, 10], epsilon=3, seed=0)
        data = load_digits(seed=0)
        return dagnet.train.fit(mlp, data, epochs=2, batch_size=128, rules=[SET(seed=seed)], seed=seed, progress=False)

    a, b = run(random.Random(3)), run(random.Random(3))
    assert a.metrics[-1]["test_loss"] == b.metrics[-1]["test_loss"] and isinstance(a.seed, int)


def test_resolve_seed_draws_from_the_generator_and_refuses_other_things():
    rng = np.random.default_rng(0)
    first, second = resolve_seed(rng), resolve_seed(rng)
    assert first != second and 0 <= first < 2**63  # the generator advances
    assert resolve_seed(random.Random(1)) == random.Random(1).getrandbits(63)
    assert torch.equal(
        torch.rand(3, generator=torch_generator(random.Random(2))),
        torch.rand(3, generator=torch_generator(random.Random(2))),
    )
    assert numpy_rng(random.Random(2)).random() == numpy_rng(random.Random(2)).random()
    for bad in (-1, 1.5, "0", True, np.random.RandomState(0)):
        with pytest.raises(ValueError, match="numpy Generator, a random.Random or None"):
            resolve_seed(bad)
