"""SparseLinear, connection_probability, erk_densities and sparse_mlp."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from dagnet import SparseLinear
from dagnet.activations.modules import AllReLU
from dagnet.nn import erk_densities, sparse_mlp
from dagnet.nn.sparse_linear import connection_probability

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _allowed_pairs(layer) -> list[tuple[int, int]]:
    """Node pairs (u, v) that ``growth_space`` allows."""
    limit, source_ok = layer.growth_space()
    node_index = layer.node_index.numpy()
    return [
        (int(node_index[u]), int(node_index[v]))
        for v in range(limit.size)
        for u in range(int(limit[v]))
        if source_ok[u]
    ]


# ---------------------------------------------------------------- the layer
@pytest.mark.parametrize("backend", ["numba", "torch"])
@SETTINGS
@given(
    n_in=st.integers(1, 30),
    n_out=st.integers(1, 30),
    density=st.floats(0.01, 1.0),
    seed=st.integers(0, 2**32 - 1),
    batch=st.integers(0, 5),
    bias=st.booleans(),
)
def test_equals_a_dense_matmul(backend, n_in, n_out, density, seed, batch, bias):
    layer = SparseLinear(n_in, n_out, density=density, bias=bias, seed=seed, backend=backend, dtype=torch.float64)
    assert (layer.in_features, layer.out_features) == (n_in, n_out)
    rows, cols = layer.connections()
    assert np.all((0 <= rows) & (rows < n_out)) and np.all((0 <= cols) & (cols < n_in))
    keys = rows * n_in + cols
    assert np.all(np.diff(keys) > 0)  # distinct, ordered by output then input, as documented
    assert layer.num_edges == keys.size == layer.weight.numel()
    assert layer.density == keys.size / (n_in * n_out)
    dense = layer.to_dense()
    assert dense.shape == (n_out, n_in)
    assert torch.equal(dense[torch.from_numpy(rows), torch.from_numpy(cols)], layer.weight.detach())
    assert int((dense != 0).sum()) <= layer.num_edges
    x = torch.randn(batch, n_in, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    expected = x @ dense.T + (layer.bias.detach() if bias else 0.0)
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)
    assert (layer.bias is None) == (not bias)


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_gradcheck(backend):
    layer = SparseLinear(5, 4, density=0.6, seed=3, backend=backend, dtype=torch.float64)
    assert 0 < layer.num_edges < 20
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    w = layer.weight.detach().clone().requires_grad_(True)
    b = layer.bias.detach().clone().requires_grad_(True)

    def fn(x, w, b):
        return torch.func.functional_call(layer, {"weight": w, "bias": b}, (x,))

    assert torch.autograd.gradcheck(fn, (x, w, b))


def test_gradients_equal_those_of_the_dense_layer():
    layer = SparseLinear(7, 6, density=0.5, seed=1, dtype=torch.float64)
    dense = nn.Linear(7, 6, dtype=torch.float64)
    with torch.no_grad():
        dense.weight.copy_(layer.to_dense())
        dense.bias.copy_(layer.bias)
    x = torch.randn(4, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    target = torch.randn(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    (layer(x) - target).square().sum().backward()
    (dense(x) - target).square().sum().backward()
    rows, cols = layer.connections()
    torch.testing.assert_close(
        layer.weight.grad, dense.weight.grad[torch.from_numpy(rows), torch.from_numpy(cols)], rtol=1e-12, atol=1e-12
    )
    torch.testing.assert_close(layer.bias.grad, dense.bias.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "n_in, n_out, density, epsilon, expected",
    [
        (400, 300, 0.1, None, 0.1),
        (400, 300, None, 20, 20 * 700 / 120000),
        (400, 300, None, None, 20 * 700 / 120000),  # epsilon defaults to 20
        (500, 200, None, 3.5, 3.5 * 700 / 100000),
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_density_is_near_the_requested_one_on_large_layers(n_in, n_out, density, epsilon, expected, seed):
    layer = SparseLinear(n_in, n_out, density=density, epsilon=epsilon, seed=seed)
    assert layer.requested_density == pytest.approx(expected, rel=1e-12)
    sigma = math.sqrt(expected * (1 - expected) / (n_in * n_out))
    assert abs(layer.density - expected) < 6 * sigma
    fan_in = np.bincount(layer.connections()[0], minlength=n_out)
    assert abs(fan_in.mean() - expected * n_in) < 6 * math.sqrt(expected * n_in / n_out)


def test_full_density_and_a_capped_epsilon_give_every_connection():
    assert SparseLinear(6, 5, density=1.0, seed=0).num_edges == 30
    capped = SparseLinear(6, 5, epsilon=100, seed=0)
    assert capped.requested_density == 1.0 and capped.num_edges == 30
    assert connection_probability(1000, 1000, None, 20) == pytest.approx(0.04)
    assert connection_probability(10, 10, None, 20) == 1.0


@pytest.mark.parametrize(
    "density, epsilon, match",
    [
        (0.1, 20, "not both"),
        (0.0, None, "'density' parameter must be a float in \\(0, 1\\]. Got 0.0"),
        (1.5, None, "'density'.*Got 1.5"),
        (-0.2, None, "'density'.*Got -0.2"),
        (True, None, "'density'.*Got True"),
        ("0.1", None, "'density'.*Got '0.1'"),
        (None, 0, "'epsilon' parameter must be a positive float. Got 0"),
        (None, -3.0, "'epsilon'.*Got -3.0"),
        (None, float("inf"), "'epsilon'.*Got inf"),
        (None, float("nan"), "'epsilon'.*Got nan"),
        (None, True, "'epsilon'.*Got True"),
    ],
)
def test_density_and_epsilon_are_validated(density, epsilon, match):
    with pytest.raises(ValueError, match=match):
        SparseLinear(10, 10, density=density, epsilon=epsilon, seed=0)
    with pytest.raises(ValueError, match=match):
        connection_probability(10, 10, density, epsilon)


@pytest.mark.parametrize("n_in, n_out", [(0, 3), (3, 0), (2.5, 3)])
def test_sizes_are_validated(n_in, n_out):
    with pytest.raises(ValueError, match="features"):
        SparseLinear(n_in, n_out, density=0.5, seed=0)


@pytest.mark.parametrize("density", [0.3, 1.0])
def test_growth_space_only_allows_input_to_output_edges(density):
    layer = SparseLinear(4, 3, density=density, seed=2)
    pairs = _allowed_pairs(layer)
    inputs, outputs = set(range(4)), set(range(4, 7))
    assert len(pairs) == len(set(pairs)) == 12
    assert {(u, v) for u, v in pairs} == {(u, v) for u in inputs for v in outputs}
    assert layer.inputs == list(range(4)) and layer.outputs == list(range(4, 7))


def test_same_seed_same_layer_and_global_rng_untouched():
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    a = SparseLinear(50, 40, density=0.2, seed=11)
    b = SparseLinear(50, 40, density=0.2, seed=11)
    c = SparseLinear(50, 40, density=0.2, seed=12)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert all(np.array_equal(x, y) for x, y in zip(np.random.get_state(), numpy_state))
    assert all(np.array_equal(p, q) for p, q in zip(a.connections(), b.connections()))
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert not (a.num_edges == c.num_edges and np.array_equal(a.connections()[1], c.connections()[1]))
    d = SparseLinear(50, 40, density=0.2)
    e = SparseLinear(50, 40, density=0.2, seed=d.seed)
    assert torch.equal(d.to_dense(), e.to_dense())


def test_default_init_is_linear_rule_on_the_true_fan_in():
    layer = SparseLinear(300, 200, density=0.2, seed=0, dtype=torch.float64)
    rows, _ = layer.connections()
    fan_in = np.bincount(rows, minlength=200)[rows]
    w = layer.weight.detach().numpy()
    bound = 1 / np.sqrt(fan_in)
    assert np.all(np.abs(w) <= bound)
    assert np.abs(w).max() > 0.9 * bound[np.argmax(np.abs(w) / bound)]  # spread up to the bound
    assert np.mean(np.abs(w) / bound) == pytest.approx(0.5, abs=0.02)  # uniform in +-bound


# ---------------------------------------------------------------- ERK densities
shapes_strategy = st.lists(st.tuples(st.integers(1, 600), st.integers(1, 600)), min_size=1, max_size=5)


@SETTINGS
@given(shapes=shapes_strategy, density=st.floats(0.001, 1.0))
def test_erk_densities_meet_the_budget_with_one_scale(shapes, density):
    d = np.array(erk_densities(shapes, density))
    size = np.array([a * b for a, b in shapes], dtype=np.float64)
    raw = np.array([a + b for a, b in shapes], dtype=np.float64) / size
    assert d.shape == (len(shapes),)
    assert np.all((d > 0) & (d <= 1))
    assert (d * size).sum() == pytest.approx(density * size.sum(), rel=1e-9)
    sparse = d < 1
    if sparse.any():
        scale = d[sparse] / raw[sparse]
        np.testing.assert_allclose(scale, scale[0], rtol=1e-9)  # density proportional to ERK's raw score
        assert np.all(scale[0] * raw[~sparse] >= 1 - 1e-9)  # saturated layers would exceed 1


@SETTINGS
@given(shapes=shapes_strategy, density=st.floats(0.001, 1.0))
def test_erk_densities_without_saturation_are_exact(shapes, density):
    size = np.array([a * b for a, b in shapes], dtype=np.float64)
    raw = np.array([a + b for a, b in shapes], dtype=np.float64) / size
    scale = density * size.sum() / (raw * size).sum()
    if np.any(scale * raw >= 1):  # some layer saturates: the other test covers it
        density = 0.9 * density / (scale * raw.max())
        scale = density * size.sum() / (raw * size).sum()
    d = erk_densities(shapes, density)
    np.testing.assert_allclose(d, scale * raw, rtol=1e-12)
    assert np.dot(d, size) == pytest.approx(density * size.sum(), rel=1e-12)


def test_erk_densities_saturated_layers_stay_dense():
    shapes = [(400, 500), (100, 400), (2, 100)]
    d = erk_densities(shapes, 0.1)
    assert d[2] == 1.0 and d[0] < d[1] < 1
    assert 400 * 500 * d[0] + 100 * 400 * d[1] + 200 == pytest.approx(0.1 * (200000 + 40000 + 200), rel=1e-12)
    assert d[1] / d[0] == pytest.approx((500 / 40000) / (900 / 200000), rel=1e-12)
    assert erk_densities(shapes, 1.0) == [1.0, 1.0, 1.0]
    assert erk_densities([(10, 10, 3, 3)], 0.5) == pytest.approx([0.5])  # kernels count in the size


@pytest.mark.parametrize(
    "shapes, density, match",
    [
        ([(10, 10)], 0.0, "'density' parameter of erk_densities"),
        ([(10, 10)], 1.5, "'density' parameter of erk_densities"),
        ([(10, 10)], True, "'density' parameter of erk_densities"),
        ([], 0.5, "'shapes' parameter of erk_densities"),
        ([(10,)], 0.5, "'shapes' parameter of erk_densities"),
        ([(10, 0)], 0.5, "'shapes' parameter of erk_densities"),
    ],
)
def test_erk_densities_validate_arguments(shapes, density, match):
    with pytest.raises(ValueError, match=match):
        erk_densities(shapes, density)


# ---------------------------------------------------------------- sparse_mlp
@pytest.mark.parametrize(
    "activation, kind", [("relu", nn.ReLU), ("tanh", nn.Tanh), ("sigmoid", nn.Sigmoid), ("all_relu", AllReLU)]
)
@pytest.mark.parametrize("dropout", [0.0, 0.25])
def test_sparse_mlp_layers(activation, kind, dropout):
    sizes = [12, 20, 16, 3]
    mlp = sparse_mlp(sizes, epsilon=4, activation=activation, slope=0.7, dropout=dropout, seed=0)
    per_hidden = 3 if dropout else 2
    assert len(mlp) == 3 + 2 * (per_hidden - 1)
    linears = [m for m in mlp if isinstance(m, SparseLinear)]
    assert [(m.in_features, m.out_features) for m in linears] == list(itertools.pairwise(sizes))
    assert isinstance(mlp[-1], SparseLinear)  # logits out
    for k in range(2):
        block = list(mlp)[k * per_hidden : (k + 1) * per_hidden]
        assert isinstance(block[0], SparseLinear) and isinstance(block[1], kind)
        if activation == "all_relu":
            assert block[1].negative_slope == (-0.7 if k == 0 else 0.7)
        if dropout:
            assert type(block[2]).__name__ == "Dropout" and block[2].p == dropout
    for m, (n_in, n_out) in zip(linears, itertools.pairwise(sizes)):
        assert m.requested_density == pytest.approx(min(1.0, 4 * (n_in + n_out) / (n_in * n_out)))
    x = torch.randn(5, 12, generator=torch.Generator().manual_seed(0))
    mlp.eval()
    expected = x
    for m in mlp:
        if type(m).__name__ != "Dropout":
            expected = m(expected)
    assert torch.equal(mlp(x), expected)  # dropout is the identity in eval mode
    assert mlp(x).shape == (5, 3)
    if dropout:
        mlp.train()
        assert not torch.equal(mlp(x), expected)


def test_sparse_mlp_with_a_global_density_uses_erk():
    sizes = [100, 80, 60, 4]
    mlp = sparse_mlp(sizes, density=0.1, seed=0)
    linears = [m for m in mlp if isinstance(m, SparseLinear)]
    expected = erk_densities([(o, i) for i, o in itertools.pairwise(sizes)], 0.1)
    assert [m.requested_density for m in linears] == pytest.approx(expected)
    total = sum(i * o for i, o in itertools.pairwise(sizes))
    edges = sum(m.num_edges for m in linears)
    assert abs(edges - 0.1 * total) < 6 * math.sqrt(0.1 * total)


def test_sparse_mlp_is_seeded_and_its_layers_differ():
    a, b = sparse_mlp([30, 30, 30, 30], epsilon=3, seed=5), sparse_mlp([30, 30, 30, 30], epsilon=3, seed=5)
    for m, n in zip(a, b):
        if isinstance(m, SparseLinear):
            assert torch.equal(m.to_dense(), n.to_dense()) and torch.equal(m.bias, n.bias)
    assert not torch.equal(a[0].to_dense() != 0, a[2].to_dense() != 0)  # one seed per layer
    assert a[0].weight.dtype == torch.float32
    assert sparse_mlp([4, 3], epsilon=3, seed=0, dtype=torch.float64)[0].weight.dtype == torch.float64
    assert sparse_mlp([4, 3], epsilon=3, seed=0, bias=False)[0].bias is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sizes": [5]}, "at least two widths"),
        ({"sizes": [5, 0]}, "sizes"),
        ({"sizes": [5, 3], "activation": "gelu"}, "'activation' parameter of sparse_mlp"),
        ({"sizes": [5, 3], "dropout": 1.0}, "'dropout' parameter of sparse_mlp"),
        ({"sizes": [5, 3], "dropout": -0.1}, "'dropout' parameter of sparse_mlp"),
        ({"sizes": [5, 3], "density": 0.5, "epsilon": 3}, "not both"),
        ({"sizes": [5, 3], "density": 2.0}, "'density'"),
    ],
)
def test_sparse_mlp_validates_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sparse_mlp(seed=0, **kwargs)


# ---------------------------------------------------------------- memory
def _numel(module) -> tuple[int, int, int]:
    """(parameters, all state-dict numbers, largest tensor) of ``module``."""
    params = sum(p.numel() for p in module.parameters())
    state = [t.numel() for t in module.state_dict().values() if isinstance(t, torch.Tensor)]
    return params, sum(state), max(state)


def test_parameters_grow_linearly_with_width():
    eps = 10
    counts = {}
    for width in (500, 1000, 2000, 4000):
        mlp = sparse_mlp([width, width, width], epsilon=eps, seed=0)
        params, state, largest = _numel(mlp)
        expected = 2 * (eps * 2 * width + width)  # E[edges] = eps * (n_in + n_out) per layer, plus biases
        assert abs(params - expected) < 0.02 * expected, (width, params, expected)
        assert largest < 1.1 * eps * 2 * width  # one layer's weights: nothing holds width ** 2 numbers
        counts[width] = (params, state)
    for small, big in ((500, 1000), (1000, 2000), (2000, 4000)):
        for i in range(2):
            assert 1.9 < counts[big][i] / counts[small][i] < 2.1, (small, big, counts)


def test_save_and_load_keep_the_class(tmp_path):
    import dagnet

    layer = SparseLinear(30, 20, density=0.2, seed=3)
    dagnet.save(layer, tmp_path / "layer.pt")
    back = dagnet.load(tmp_path / "layer.pt")
    assert type(back) is SparseLinear and back.num_edges == layer.num_edges
    x = torch.randn(4, 30)
    assert torch.equal(back(x), layer(x))
    assert np.array_equal(back.growth_space()[0], layer.growth_space()[0])


def test_save_refuses_a_weight_modifier(tmp_path):
    import dagnet
    from dagnet.evolve import DropConnect

    layer = SparseLinear(10, 5, density=0.5, seed=0)
    DropConnect(0.2, seed=0).attach(layer)
    with pytest.raises(ValueError, match="weight modifier \\(DropConnectMask"):
        dagnet.save(layer, tmp_path / "layer.pt")
