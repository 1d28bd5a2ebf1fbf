"""PathLinear: Sobol' layers as contiguous weight blocks, against the sparse engine on the same wiring."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dagnet import DAGNetwork
from dagnet.errors import DeadNodeWarning
from dagnet.nn import PathLinear
from dagnet.topology import path_network, sobol_paths

FEW = settings(max_examples=20, deadline=None)
POW2 = st.sampled_from([1, 2, 4, 8, 16, 32])


def _engine_twin(wiring, layer: PathLinear) -> DAGNetwork:
    """The same wiring on the sparse engine (a one-level DAGNetwork, as SparseLinear is), same values."""
    n_in, n_out = layer.in_features, layer.out_features
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadNodeWarning)
        net = DAGNetwork(
            wiring,
            inputs=[(0, i) for i in range(n_in)],
            outputs=[(1, j) for j in range(n_out)],
            activation="identity",
            dtype=torch.float64,
            seed=0,
        )
    src, dst = net.edge_endpoints()
    rows = [net.node_labels[v][1] for v in dst]
    cols = [net.node_labels[u][1] for u in src]
    with torch.no_grad():
        net.weight.copy_(layer.to_dense()[rows, cols])
        outs = [net.node_labels[int(v)][1] for v in net.node_index[n_in:]]  # node of each bias entry
        net.bias.copy_(layer.bias[outs])
    return net, rows, cols, outs


@FEW
@given(n_in=POW2, n_out=POW2, k=st.integers(1, 4), scramble=st.one_of(st.none(), st.integers(0, 3)))
def test_matches_sparse_engine_outputs_and_grads(n_in, n_out, k, scramble):
    wiring = sobol_paths([n_in, n_out], k * n_out, scramble_seed=scramble, as_wiring=True)
    layer = PathLinear.from_wiring(wiring, seed=1, dtype=torch.float64)
    net, rows, cols, outs = _engine_twin(wiring, layer)
    x = torch.randn(5, n_in, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y_path, y_net = layer(x), net(x)
    torch.testing.assert_close(y_path, y_net)
    g = torch.randn_like(y_path)
    (y_path * g).sum().backward()
    (y_net * g).sum().backward()
    # A path's weight has the gradient of the edge that carries it (paths on one edge add up).
    grad = torch.zeros(n_out, n_in, dtype=torch.float64)
    grad[rows, cols] = net.weight.grad
    expected = grad[torch.arange(n_out).expand(k, n_out), layer.perm]
    torch.testing.assert_close(layer.weight.grad, expected)
    torch.testing.assert_close(layer.bias.grad[outs], net.bias.grad)


def test_sobol_constructor_is_the_generators_first_paths():
    layer = PathLinear(16, 8, blocks=3, scramble_seed=2, seed=0, dtype=torch.float64)
    twin = PathLinear.from_wiring(
        sobol_paths([16, 8], 24, scramble_seed=2, as_wiring=True), seed=0, dtype=torch.float64
    )
    assert torch.equal(layer.perm, twin.perm) and torch.equal(layer.weight, twin.weight)


@pytest.mark.parametrize("n_in,n_out", [(8, 8), (4, 16), (16, 4)])
def test_block_structure(n_in, n_out):
    layer = PathLinear(n_in, n_out, blocks=4, seed=0)
    perm = layer.perm.numpy()
    assert perm.shape == (4, n_out) and perm.min() >= 0 and perm.max() < n_in
    # every input is read equally often by each run of max(n_in, n_out) // n_out blocks
    per = max(n_in // n_out, 1)
    for b in range(0, 4, per):
        counts = np.bincount(perm[b : b + per].reshape(-1), minlength=n_in)
        assert (counts == max(n_out // n_in, 1)).all()


def test_forward_against_loop_over_blocks_any_leading_shape():
    layer = PathLinear(8, 4, blocks=3, seed=5, dtype=torch.float64)
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    expected = layer.bias.detach().clone().expand(2, 3, 4).clone()
    for b in range(3):
        for t in range(4):
            expected[..., t] += layer.weight[b, t].detach() * x[..., int(layer.perm[b, t])]
    torch.testing.assert_close(layer(x), expected)
    assert layer(x[0, 0]).shape == (4,)


@pytest.mark.parametrize("n_in,n_out,k,shape", [(4, 8, 2, (3,)), (16, 4, 3, (2, 3)), (8, 8, 4, ())])
def test_gradcheck_float64(n_in, n_out, k, shape):
    layer = PathLinear(n_in, n_out, blocks=k, scramble_seed=1, seed=0, dtype=torch.float64)
    x = torch.randn(*shape, n_in, dtype=torch.float64, requires_grad=True)

    def f(x, w, b):
        return torch.func.functional_call(layer, {"weight": w, "bias": b}, (x,))

    assert torch.autograd.gradcheck(f, (x, layer.weight, layer.bias))


def test_input_width_is_checked():
    with pytest.raises(ValueError, match=r"shape \(\*, 8\). Got \(2, 7\)"):
        PathLinear(8, 8, blocks=1, seed=0)(torch.zeros(2, 7))


def test_duplicate_segments_are_separate_weights_summed_in_dense():
    # paths 0 and 2 share the segment 0 -> 0
    wiring = path_network(np.array([[0, 0], [1, 1], [0, 0], [0, 1]]), [2, 2], as_wiring=True)
    layer = PathLinear.from_wiring(wiring, init="deterministic", bias=False, dtype=torch.float64)
    assert layer.perm.tolist() == [[0, 1], [0, 0]]
    dense = layer.to_dense()
    w = layer.weight.detach()
    assert dense[0, 0] == w[0, 0] + w[1, 0] and dense[1, 0] == w[1, 1] and dense[1, 1] == w[0, 1]
    assert layer.bias is None


def test_state_dict_round_trip_and_repr():
    a = PathLinear(8, 8, blocks=2, seed=0)
    b = PathLinear(8, 8, blocks=2, scramble_seed=7, seed=1)
    assert not torch.equal(a.perm, b.perm)
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 8)
    assert torch.equal(a(x), b(x))
    assert set(a.state_dict()) == {"weight", "bias", "perm"}
    assert repr(a) == "PathLinear(in_features=8, out_features=8, blocks=2, bias=True)"


def test_deterministic_init_ignores_the_seed():
    a = PathLinear(16, 16, blocks=4, init="deterministic", seed=0)
    b = PathLinear(16, 16, blocks=4, init="deterministic", seed=1)
    assert torch.equal(a.weight, b.weight)
    c = PathLinear(16, 16, blocks=4, init="deterministic_positive", seed=2)
    assert (c.weight > 0).all()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(in_features=8, out_features=6, blocks=2), "power of two.*Got 6"),
        (dict(in_features=8, out_features=8, blocks=0), "blocks"),
        (dict(in_features=0, out_features=8, blocks=1), "in_features"),
        (dict(in_features=8, out_features=8, blocks=1, init="bogus"), "init.*bogus"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PathLinear(**kwargs)


def test_from_wiring_refuses_what_is_not_a_block_layer():
    with pytest.raises(ValueError, match="'paths'"):
        PathLinear.from_wiring(sobol_paths([4, 4], 8))  # a DiGraph
    with pytest.raises(ValueError, match="two layers"):
        PathLinear.from_wiring(sobol_paths([4, 4, 4], 8, as_wiring=True))
    unlabelled = sobol_paths([4, 4], 8, as_wiring=True)
    unlabelled.labels = None
    with pytest.raises(ValueError, match="two layers"):
        PathLinear.from_wiring(unlabelled)
    with pytest.raises(ValueError, match="multiple of out_features=4"):
        PathLinear.from_wiring(sobol_paths([4, 4], 6, as_wiring=True))
    with pytest.raises(ValueError, match="Paths 6 .. 11 do not visit"):
        PathLinear.from_wiring(sobol_paths([4, 6], 12, as_wiring=True))
