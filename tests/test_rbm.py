"""SparseRBM: energies against enumeration, CD gradients against a dense RBM, rules rewiring it."""

from __future__ import annotations

import copy
import itertools
import pickle

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagnet.evolve import SET, DropConnect, LearnedMasks, MagnitudePruning, RigL
from dagnet.nn import SparseRBM
from dagnet.topology.layered import set_probability

F64 = torch.float64


def rbm64(n_v, n_h, density=0.6, std=0.8, **kw):
    """A float64 RBM with large random weights and biases, so that the tests see every term."""
    rbm = SparseRBM(n_v, n_h, density=density, init_std=std, dtype=F64, **kw)
    g = torch.Generator().manual_seed(kw.get("seed", 0) + 1)
    with torch.no_grad():
        rbm.visible_bias.copy_(torch.randn(n_v, generator=g, dtype=F64))
        rbm.hidden_bias.copy_(torch.randn(n_h, generator=g, dtype=F64))
    return rbm


def dense_of(rbm, weight=None):
    """``W`` (n_hidden, n_visible) built from the stored weights, differentiably."""
    rows, cols = rbm.linear.connections()
    w = rbm.weight if weight is None else weight
    W = torch.zeros(rbm.n_hidden, rbm.n_visible, dtype=w.dtype)
    return W.index_put((torch.from_numpy(rows), torch.from_numpy(cols)), w)


def binary(n, d, seed):
    return (torch.rand(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64) < 0.5).to(F64)


def all_states(d):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=d)), dtype=F64)


# ------------------------------------------------------------------ energies
@pytest.mark.parametrize("density", [1.0, 0.5])
def test_free_energy_matches_enumeration_of_hidden_states(density):
    rbm = rbm64(5, 4, density=density, seed=3)
    W, b, c = dense_of(rbm).detach(), rbm.visible_bias.detach(), rbm.hidden_bias.detach()
    V, Hs = all_states(5), all_states(4)
    neg_energy = (V @ b)[:, None] + (Hs @ c)[None, :] + (Hs @ W @ V.T).T  # -E(v, h), (v, h)
    expected = -torch.logsumexp(neg_energy, dim=1)
    assert torch.allclose(rbm.free_energy(V).detach(), expected, atol=1e-12)
    # log Z from the free energies (all visible states) equals log Z from every joint state
    log_z = torch.logsumexp(-rbm.free_energy(V).detach(), 0)
    assert torch.allclose(log_z, torch.logsumexp(neg_energy.reshape(-1), 0), atol=1e-12)


def test_free_energy_gradient_is_minus_expected_sufficient_statistics():
    rbm = rbm64(6, 3, seed=1)
    v = binary(4, 6, 0)
    rbm.free_energy(v).sum().backward()
    W = dense_of(rbm).detach()
    ph = torch.sigmoid(v @ W.T + rbm.hidden_bias.detach())
    rows, cols = rbm.linear.connections()
    assert torch.allclose(rbm.weight.grad, -(ph.T @ v)[rows, cols], atol=1e-12)
    assert torch.allclose(rbm.visible_bias.grad, -v.sum(0))
    assert torch.allclose(rbm.hidden_bias.grad, -ph.sum(0), atol=1e-12)


def test_gradcheck_free_energy_and_downward_product():
    rbm = rbm64(6, 4, density=0.5, std=0.5, seed=2)
    v, h = torch.rand(3, 6, dtype=F64), torch.rand(3, 4, dtype=F64)
    params = (rbm.weight, rbm.visible_bias, rbm.hidden_bias)
    assert torch.autograd.gradcheck(lambda *_: rbm.free_energy(v), params)
    assert torch.autograd.gradcheck(lambda *_: rbm.visible_probability(h), params[:2])
    assert torch.autograd.gradcheck(lambda *_: rbm.reconstruct(v), params)
    # through the visible states too
    x = torch.rand(2, 6, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(rbm.free_energy, (x,))


@pytest.mark.parametrize("n_v, n_h", [(6, 4), (4, 6)])  # enumerates the hidden, then the visible states
def test_exact_log_partition_matches_joint_enumeration(n_v, n_h):
    rbm = rbm64(n_v, n_h, density=0.7, std=1.0, seed=8)
    W, b, c = dense_of(rbm).detach(), rbm.visible_bias.detach(), rbm.hidden_bias.detach()
    V, Hs = all_states(n_v), all_states(n_h)
    neg_energy = (V @ b)[:, None] + (Hs @ c)[None, :] + (Hs @ W @ V.T).T
    assert rbm.log_partition(exact=True) == pytest.approx(torch.logsumexp(neg_energy.reshape(-1), 0).item(), abs=1e-10)
    with pytest.raises(ValueError, match="2\\^21"):
        SparseRBM(21, 30, density=0.1, seed=0).log_partition(exact=True)


@pytest.mark.parametrize("seed", [0, 1])
def test_ais_estimate_matches_the_exact_log_partition(seed):
    rbm = rbm64(14, 8, density=0.6, std=1.0, seed=seed)
    exact = rbm.log_partition(exact=True)
    assert abs(rbm.log_partition(runs=100, steps=200) - exact) < 0.1
    data = rbm.sample(100, steps=20)  # a base rate close to the model's: a better start
    assert abs(rbm.log_partition(runs=100, steps=200, base=data) - exact) < 0.05
    with pytest.raises(ValueError, match="'runs'"):
        rbm.log_partition(runs=0)


# ------------------------------------------------------------------ CD against a dense RBM
def dense_chain(W, b, c, v, k, g, sample_visible):
    """k steps of block Gibbs sampling with a dense ``W``, drawing from ``g`` as SparseRBM does."""
    for _ in range(k):
        ph = torch.sigmoid(v @ W.T + c)
        h = (torch.rand(ph.shape, generator=g, dtype=F64) < ph).to(F64)
        pv = torch.sigmoid(h @ W + b)
        v = (torch.rand(pv.shape, generator=g, dtype=F64) < pv).to(F64) if sample_visible else pv
    return v


def dense_cd(rbm, v, vk):
    """The CD estimate, as the gradient of mean F(v) - mean F(v_k) (minus the usual CD update)."""
    W, c = dense_of(rbm).detach(), rbm.hidden_bias.detach()
    p0, pk = torch.sigmoid(v @ W.T + c), torch.sigmoid(vk @ W.T + c)
    n = v.shape[0]
    return -(p0.T @ v - pk.T @ vk) / n, -(v - vk).mean(0), -(p0 - pk).mean(0)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("sample_visible", [True, False])
@pytest.mark.parametrize("persistent", [False, True])
def test_cd_gradient_matches_dense_reference(k, sample_visible, persistent):
    rbm = rbm64(9, 6, density=0.5, seed=4, sample_visible=sample_visible, persistent=persistent)
    W, b, c = dense_of(rbm).detach(), rbm.visible_bias.detach(), rbm.hidden_bias.detach()
    g = torch.Generator().set_state(rbm.rng_state.clone())
    chain = None
    rows, cols = rbm.linear.connections()
    for call in range(3):  # the persistent chain carries over; the weights are not updated in between
        v = binary(5, 9, 10 + call)
        start = chain if persistent and chain is not None else v
        vk = dense_chain(W, b, c, start, k, g, sample_visible)
        chain = vk
        rbm.zero_grad()
        loss = rbm.cd_loss(v, k=k)
        loss.backward()
        dW, db, dc = dense_cd(rbm, v, vk)
        assert torch.allclose(rbm.weight.grad, dW[rows, cols], atol=1e-12)
        assert torch.allclose(rbm.visible_bias.grad, db, atol=1e-12)
        assert torch.allclose(rbm.hidden_bias.grad, dc, atol=1e-12)
        free = lambda x: -(x @ b) - torch.nn.functional.softplus(x @ W.T + c).sum(1)  # noqa: E731
        assert torch.allclose(loss.detach(), free(v).mean() - free(vk).mean(), atol=1e-12)
    if persistent:
        assert torch.equal(rbm.chain, chain)
    else:
        assert rbm.chain.shape == (0, 9)


def test_persistent_chain_grows_with_the_batch_and_survives_state_dict():
    rbm = rbm64(8, 5, seed=5, persistent=True)
    rbm.cd_loss(binary(3, 8, 0))
    rbm.cd_loss(binary(6, 8, 1))
    assert rbm.chain.shape == (6, 8)
    other = rbm64(8, 5, seed=5, persistent=True)
    other.load_state_dict(rbm.state_dict())
    assert torch.equal(other.chain, rbm.chain) and torch.equal(other.rng_state, rbm.rng_state)
    v = binary(6, 8, 2)
    for m in (rbm, other):
        m.zero_grad()
        m.cd_loss(v, k=2).backward()
    assert torch.equal(rbm.weight.grad, other.weight.grad) and torch.equal(rbm.chain, other.chain)


def test_state_dict_pickle_and_deepcopy_continue_identically():
    rbm = rbm64(10, 4, seed=6)
    twin = rbm64(10, 4, seed=99)  # other wiring, values and sampler: all of it comes from the state dict
    twin.visible_probability(torch.ones(1, 4, dtype=F64))  # (its own wiring's downward index is built)
    twin.load_state_dict(rbm.state_dict())
    assert np.array_equal(np.stack(twin.linear.connections()), np.stack(rbm.linear.connections()))
    copies = [twin, copy.deepcopy(rbm), pickle.loads(pickle.dumps(rbm))]
    v = binary(4, 10, 0)
    ref = rbm.cd_loss(v, k=2)
    h = torch.rand(3, 4, dtype=F64)
    for c in copies:
        assert torch.equal(c.cd_loss(v, k=2), ref)
        assert torch.equal(c.visible_probability(h), rbm.visible_probability(h))
    assert torch.equal(copies[1].sample(3, steps=4), copies[2].sample(3, steps=4))


def test_same_seed_same_machine():
    a, b = SparseRBM(40, 12, seed=7), SparseRBM(40, 12, seed=7)
    assert np.array_equal(np.stack(a.linear.connections()), np.stack(b.linear.connections()))
    assert torch.equal(a.weight, b.weight)
    v = binary(5, 40, 0).float()
    assert torch.equal(a.cd_loss(v), b.cd_loss(v))
    assert torch.equal(a.sample(4, steps=3), b.sample(4, steps=3))
    c = SparseRBM(40, 12, seed=8)
    assert not torch.equal(a.weight, c.weight) or a.num_edges != c.num_edges


# ------------------------------------------------------------------ wiring, against the dense formulas
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_v=st.integers(1, 12),
    n_h=st.integers(1, 8),
    density=st.floats(0.05, 1.0),
    seed=st.integers(0, 2**16),
    rewire=st.booleans(),
)
def test_products_match_dense_rbm(n_v, n_h, density, seed, rewire):
    rbm = rbm64(n_v, n_h, density=density, seed=seed)
    if rewire:
        SET(zeta=0.5, init="normal", init_scale=0.5, seed=seed).step(rbm)
    rows, cols = rbm.linear.connections()
    assert rbm.num_edges == rows.size == rbm.weight.numel()
    assert np.unique(rows * n_v + cols).size == rows.size  # one weight per connection
    W = dense_of(rbm)
    assert torch.count_nonzero(W) <= rbm.num_edges
    v, h = torch.rand(3, n_v, dtype=F64), torch.rand(3, n_h, dtype=F64)
    b, c = rbm.visible_bias, rbm.hidden_bias
    pairs = [
        (rbm.hidden_probability(v), torch.sigmoid(v @ W.T + c)),
        (rbm.visible_probability(h), torch.sigmoid(h @ W + b)),
        (rbm.reconstruct(v), torch.sigmoid(torch.sigmoid(v @ W.T + c) @ W + b)),
        (rbm.free_energy(v), -(v @ b) - torch.nn.functional.softplus(v @ W.T + c).sum(1)),
    ]
    for got, want in pairs:
        assert torch.allclose(got, want, atol=1e-12)
        g_got = torch.autograd.grad(got.sum(), rbm.weight)[0]
        g_want = torch.autograd.grad(want.sum(), rbm.weight, retain_graph=True)[0]
        assert torch.allclose(g_got, g_want, atol=1e-12)


def test_epsilon_gives_set_density_and_density_overrides():
    rbm = SparseRBM(1024, 200, seed=0)  # epsilon 10, SET's RBM
    p = set_probability(1024, 200, 10.0)
    n = 1024 * 200
    assert abs(rbm.num_edges - n * p) < 5 * np.sqrt(n * p * (1 - p))
    assert rbm.linear.requested_density == pytest.approx(p)
    assert SparseRBM(30, 20, density=1.0, seed=0).num_edges == 600
    assert SparseRBM(30, 20, epsilon=2, seed=0).linear.requested_density == pytest.approx(2 * 50 / 600)


def test_sample_reconstruct_and_repr():
    rbm = SparseRBM(12, 5, seed=0)
    s = rbm.sample(7, steps=3)
    assert s.shape == (7, 12) and set(s.unique().tolist()) <= {0.0, 1.0}
    mean_field = SparseRBM(12, 5, seed=0, sample_visible=False).sample(7, steps=3)
    assert ((mean_field > 0) & (mean_field < 1)).all()
    v = binary(4, 12, 0).float()
    drawn = rbm.reconstruct(v, sample=True)
    assert drawn.shape == (4, 12) and not torch.equal(drawn, rbm.reconstruct(v))
    assert rbm.sample(2, steps=0).shape == (2, 12)
    assert torch.equal(rbm(v), rbm.hidden_probability(v))
    twin = copy.deepcopy(rbm)
    assert torch.equal(rbm.cd_loss(v.reshape(2, 2, 12)), twin.cd_loss(v))  # leading dimensions are batch
    text = repr(rbm)
    assert f"edges={rbm.num_edges}" in text and "n_visible=12" in text and "SparseLinear" in text


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_visible=0, n_hidden=3), "n_visible"),
        (dict(n_visible=3, n_hidden=2.5), "n_hidden"),
        (dict(n_visible=3, n_hidden=3, epsilon=2, density=0.5), "not both"),
        (dict(n_visible=3, n_hidden=3, density=1.5), "density"),
        (dict(n_visible=3, n_hidden=3, epsilon=-1), "epsilon"),
        (dict(n_visible=3, n_hidden=3, init_std=-0.1), "init_std"),
        (dict(n_visible=3, n_hidden=3, persistent=1), "persistent"),
    ],
)
def test_invalid_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SparseRBM(**kwargs)


def test_invalid_call_arguments_are_named():
    rbm = SparseRBM(6, 3, seed=0)
    with pytest.raises(ValueError, match="'k'"):
        rbm.cd_loss(torch.ones(2, 6), k=0)
    with pytest.raises(ValueError, match="'steps'"):
        rbm.sample(2, steps=-1)
    with pytest.raises(ValueError, match="shape"):
        rbm.free_energy(torch.ones(2, 5))
    with pytest.raises(ValueError, match="shape"):
        rbm.visible_probability(torch.ones(2, 6))


# ------------------------------------------------------------------ rules, unchanged
def digits_binary():
    from sklearn.datasets import load_digits

    return torch.as_tensor(load_digits().data > 7, dtype=torch.float32)


def test_set_rewires_an_rbm_during_cd_training():
    X = digits_binary()[:300]
    rbm = SparseRBM(64, 32, epsilon=4, seed=0)
    opt = torch.optim.SGD(rbm.parameters(), lr=0.1)
    rule = SET(zeta=0.3, init="normal", init_scale=0.05, seed=0)
    edges = rbm.num_edges
    before = set(zip(*rbm.linear.connections()))
    error0 = ((rbm.reconstruct(X) - X) ** 2).mean().item()
    order = torch.Generator().manual_seed(0)
    for epoch in range(3):
        perm = torch.randperm(X.shape[0], generator=order)
        for i in range(0, X.shape[0], 20):
            opt.zero_grad()
            rbm.cd_loss(X[perm[i : i + 20]]).backward()
            opt.step()
        if epoch < 2:
            changes = rule.step(rbm, opt)
            assert changes["linear"]["removed"] == changes["linear"]["added"] > 0
            assert rbm.num_edges == edges
    after = set(zip(*rbm.linear.connections()))
    assert len(before - after) > 0.3 * edges  # two rewirings of 30% each moved many connections
    W = dense_of(rbm).detach()
    want = torch.sigmoid(X[:5] @ W.T + rbm.hidden_bias.detach()) @ W + rbm.visible_bias.detach()
    assert torch.allclose(rbm.reconstruct(X[:5]).detach(), torch.sigmoid(want), atol=1e-5)  # the new wiring is used
    assert ((rbm.reconstruct(X) - X) ** 2).mean().item() < 0.7 * error0


def test_cd_loss_runs_both_phases_in_one_pass_so_rigl_sees_the_whole_gradient():
    rbm = rbm64(10, 6, density=0.4, seed=3)
    rule = RigL(drop_fraction=0.5, update_every=1, anneal="constant", seed=0)
    rule.attach(rbm)
    v = binary(4, 10, 0)
    rbm.cd_loss(v, k=2).backward()
    H, G = rbm.linear.last_activity()
    assert H.shape[1] == 8  # data and negative phase together
    src, dst = rbm.linear.edge_positions()
    from_activity = (H[torch.from_numpy(src)] * G[torch.from_numpy(dst)]).sum(1)
    assert torch.allclose(from_activity, rbm.weight.grad, atol=1e-12)
    edges = rbm.num_edges
    changes = rule.step(rbm)
    assert changes["linear"]["added"] > 0 and rbm.num_edges == edges


@pytest.mark.parametrize(
    "rule",
    [
        SET(seed=0),
        RigL(update_every=1, seed=0),
        MagnitudePruning(amount=0.3),
        DropConnect(p=0.3, seed=0),
        LearnedMasks(lambda_=1e-3),
    ],
    ids=lambda r: type(r).__name__,
)
def test_every_rule_trains_an_rbm(rule):
    X = digits_binary()[:200]
    rbm = SparseRBM(64, 16, epsilon=3, seed=1)
    if hasattr(rule, "attach"):
        rule.attach(rbm)
    opt = torch.optim.SGD(rbm.parameters(), lr=0.05)
    edges = rbm.num_edges
    for i in range(0, 200, 20):
        opt.zero_grad()
        loss = rbm.cd_loss(X[i : i + 20])
        if hasattr(rule, "penalty"):
            loss = loss + rule.penalty(rbm)
        loss.backward()
        opt.step()
    rule.step(rbm, opt)
    if isinstance(rule, MagnitudePruning):
        assert rbm.num_edges == edges - int(0.3 * edges)
    out = rbm.reconstruct(X[:4])
    assert out.shape == (4, 64) and torch.isfinite(out).all()
    rbm.eval()
    W = dense_of(rbm).detach() if rbm.linear.weight_modifier is None else None
    if W is not None:
        want = torch.sigmoid(torch.sigmoid(X[:4] @ W.T + rbm.hidden_bias.detach()) @ W + rbm.visible_bias.detach())
        assert torch.allclose(rbm.reconstruct(X[:4]).detach(), want, atol=1e-5)
