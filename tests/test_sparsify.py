"""sparsify: an existing model's nn.Linear layers become SparseLinear, everything else stays."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import dagnet
from dagnet import SparseLinear, sparsify
from dagnet.evolve import SET


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 6 * 6, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)))


def test_random_keeps_the_density_and_the_values_of_the_kept_connections():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    dense = [m.weight.detach().clone() for m in (model[0], model[2])]
    biases = [m.bias.detach().clone() for m in (model[0], model[2])]
    sparsify(model, density=0.2, seed=0)
    for layer, w, b in zip((model[0], model[2]), dense, biases):
        assert isinstance(layer, SparseLinear) and abs(layer.density - 0.2) < 0.03
        rows, cols = layer.connections()
        assert torch.equal(layer.weight.detach(), w[rows, cols]) and torch.equal(layer.bias.detach(), b)
    x = torch.randn(5, 64)
    masked = nn.functional.linear(x, _dense(model[0]), model[0].bias)
    torch.testing.assert_close(model[0](x), masked)


def _dense(layer):
    rows, cols = layer.connections()
    w = torch.zeros(layer.out_features, layer.in_features)
    w[rows, cols] = layer.weight.detach()
    return w


def test_magnitude_keeps_the_largest_weights():
    lin = nn.Linear(20, 8)
    model = nn.Sequential(lin)
    w = lin.weight.detach().abs().reshape(-1)
    sparsify(model, density=0.25, keep="magnitude")
    kept = model[0].weight.detach().abs()
    assert model[0].num_edges == 40 and kept.min() >= torch.sort(w, descending=True).values[39]


def test_other_layers_stay_and_rules_work_on_the_result():
    model = sparsify(CNN(), epsilon=4, layers=lambda name, m: m.out_features == 32, seed=0)
    assert isinstance(model.conv, nn.Conv2d) and isinstance(model.head[1], SparseLinear)
    assert type(model.head[3]) is nn.Linear
    x = torch.randn(2, 1, 8, 8)
    assert model(x).shape == (2, 10)
    edges = model.head[1].num_edges
    changes = SET(zeta=0.3, seed=0).step(model)
    assert changes["head.1"]["removed"] == changes["head.1"]["added"] and model.head[1].num_edges == edges
    sparsify(model, density=0.5, layers=["head.3"], seed=1)
    assert isinstance(model.head[3], SparseLinear)


def test_seeds_and_errors():
    def make():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(30, 30), nn.Linear(30, 4))

    a, b = sparsify(make(), density=0.3, seed=4), sparsify(make(), density=0.3, seed=np.random.default_rng(4))
    assert a[0].num_edges > 0 and b[0].num_edges > 0
    assert torch.equal(sparsify(make(), density=0.3, seed=4)[0].in_src, a[0].in_src)
    with pytest.raises(ValueError, match="'head.9' is not an nn.Linear layer of the model"):
        sparsify(CNN(), layers=["head.9"])
    with pytest.raises(ValueError, match="'keep' parameter of sparsify"):
        sparsify(make(), keep="largest")
    with pytest.raises(ValueError, match="no nn.Linear layer"):
        sparsify(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="for one nn.Linear use sparse_from_dense"):
        sparsify(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="not both"):
        sparsify(make(), density=0.1, epsilon=3)
    assert isinstance(dagnet.nn.sparse_from_dense(nn.Linear(3, 2, bias=False), np.array([1])), SparseLinear)
