"""Whole modules holding dagnet layers pickle (torch.save(module)) and come back computing the same."""

from __future__ import annotations

import copy
import io

import networkx as nx
import pytest
import torch

import dagnet
from dagnet.evolve import SET
from dagnet.nn import Population, sparse_mlp
from dagnet.topology import erdos_renyi_dag


def _models():
    yield "dag", dagnet.DAGNetwork(erdos_renyi_dag(20, 0.3, seed=0), seed=0, activation="gelu")
    yield "sparse_mlp", sparse_mlp([8, 6, 3], epsilon=2, dropout=0.2, seed=0)
    yield "population", Population([nx.DiGraph([(0, 2), (1, 2)]), nx.DiGraph([(0, 2), (1, 3), (3, 2)])], seed=0)
    head = nn_head()
    yield "cnn", head


def nn_head():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), dagnet.SparseLinear(2 * 4 * 4, 5, density=0.3, seed=0)
    )


MODELS = list(_models())


def _input(name, model):
    if name == "cnn":
        return torch.randn(3, 1, 6, 6)
    first = model[0] if isinstance(model, torch.nn.Sequential) else model
    return torch.randn(3, first.in_features)


@pytest.mark.parametrize("name, model", MODELS, ids=[n for n, _ in MODELS])
def test_torch_save_of_the_whole_module(name, model):
    model.eval()
    x = _input(name, model)
    expected = model(x)  # builds the engine's runtime, which is not pickled
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    back = torch.load(buf, weights_only=False)
    assert torch.equal(back(x), expected)
    assert torch.equal(copy.deepcopy(model)(x), expected)


def test_a_rewired_network_pickles_with_its_wiring():
    mlp = sparse_mlp([8, 6, 3], epsilon=2, seed=0)
    SET(zeta=0.3, seed=0).step(mlp)
    x = torch.randn(4, 8)
    buf = io.BytesIO()
    torch.save(mlp, buf)
    buf.seek(0)
    back = torch.load(buf, weights_only=False)
    assert torch.equal(back(x), mlp(x)) and torch.equal(back[0].in_src, mlp[0].in_src)
