"""Weight modifiers: DropConnect's random masks and the learned masks of Sparse Connectivity Learning."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dagnet import DAGNetwork
from dagnet.data import Dataset
from dagnet.evolve import SET
from dagnet.evolve._base import sparse_modules
from dagnet.evolve.dropconnect import DropConnect, DropConnectMask
from dagnet.evolve.learned_masks import LearnedMasks, ScoreMask, masked_weight, step_ste
from dagnet.nn import sparse_mlp
from dagnet.topology import erdos_renyi_dag
from dagnet.train import fit
from reference import assert_state_shapes

SETTINGS = settings(max_examples=15, deadline=None)


def _dag_net(n: int, p: float, seed: int, dtype=None) -> DAGNetwork:
    g = erdos_renyi_dag(n, p, seed=seed)
    assume(g.number_of_edges() > 0)
    return DAGNetwork(g, seed=seed, dtype=dtype)


def _data(n_features: int, n_classes: int, seed: int = 0) -> Dataset:
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(96, n_features, generator=gen)
    y = torch.randint(0, n_classes, (96,), generator=gen)
    return Dataset(X[:64], y[:64], X[64:], y[64:], "noise", n_classes)


# ---------------------------------------------------------------- DropConnect
def test_dropconnect_leaves_eval_unchanged_and_draws_a_mask_per_forward():
    mlp = sparse_mlp([20, 30, 4], epsilon=4, seed=0)
    net = DAGNetwork(erdos_renyi_dag(25, 0.3, seed=1), seed=1)
    for model in (mlp, net):
        n_in = sparse_modules(model)[0][1].in_features
        x = torch.randn(6, n_in, generator=torch.Generator().manual_seed(0))
        clean = model(x)
        DropConnect(p=0.5, seed=0).attach(model)
        a, b = model(x), model(x)
        assert not torch.equal(a, clean) and not torch.equal(a, b)
        model.eval()
        assert torch.equal(model(x), clean)


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.8])
def test_dropconnect_drops_the_fraction_p_and_rescales(p):
    mask = DropConnectMask(p=p, seed=3)
    w = torch.ones(40_000)
    out = mask(w)
    dropped = float((out == 0).double().mean())
    assert abs(dropped - p) < 0.01
    assert torch.all((out == 0) | (out == 1 / (1 - p)))
    assert not torch.equal(mask(w), out) or p == 0


def test_dropconnect_gradient_flows_through_the_kept_weights():
    mask = DropConnectMask(p=0.5, seed=0)
    w = torch.randn(100, requires_grad=True)
    out = mask(w)
    out.sum().backward()
    assert torch.equal(w.grad, (out != 0).float() * 2.0)


def test_dropconnect_masks_repeat_with_the_seed_and_differ_between_modules():
    def masks(seed):
        mlp = sparse_mlp([10, 10, 10], density=1.0, seed=0)
        DropConnect(p=0.5, seed=seed).attach(mlp)
        return [m.weight_modifier(torch.ones(m.num_edges)) for _, m in sparse_modules(mlp)]

    a, b, c = masks(0), masks(0), masks(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0]) and not torch.equal(a[0], a[1])


def test_dropconnect_step_attaches_where_missing():
    mlp = sparse_mlp([6, 5, 2], epsilon=2, seed=0)
    rule = DropConnect(p=0.3, seed=0)
    assert rule.step(mlp) == {"0": {"removed": 0, "added": 0}, "2": {"removed": 0, "added": 0}}
    modifiers = [m.weight_modifier for _, m in sparse_modules(mlp)]
    assert all(isinstance(m, DropConnectMask) and m.p == 0.3 for m in modifiers)
    rule.step(mlp)
    assert [m.weight_modifier for _, m in sparse_modules(mlp)] == modifiers  # kept


def test_dropconnect_follows_the_models_mode_when_attached():
    mlp = sparse_mlp([6, 5, 2], epsilon=2, seed=0).eval()
    DropConnect(seed=0).attach(mlp)
    assert not mlp[0].weight_modifier.training


def test_dropconnect_refuses_a_second_modifier():
    mlp = sparse_mlp([6, 5, 2], epsilon=2, seed=0)
    LearnedMasks().attach(mlp)
    with pytest.raises(ValueError, match="already has a weight modifier"):
        DropConnect(seed=0).attach(mlp)
    with pytest.raises(ValueError, match=r"The 'p' parameter of DropConnect must be a float in \[0, 1\)"):
        DropConnect(p=1.0)


def test_dropconnect_generator_is_in_the_state_dict():
    mlp = sparse_mlp([8, 6, 2], epsilon=3, seed=0)
    DropConnect(p=0.5, seed=0).attach(mlp)
    x = torch.randn(4, 8)
    mlp(x)
    state = copy.deepcopy(mlp.state_dict())
    assert "0.weight_modifier._extra_state" in state
    expected = mlp(x)
    other = sparse_mlp([8, 6, 2], epsilon=3, seed=0)
    DropConnect(p=0.5, seed=7).attach(other)
    other.load_state_dict(state)
    assert torch.equal(other(x), expected)


def test_fit_with_dropconnect_resumes_bit_for_bit(tmp_path):
    data = _data(12, 3)
    sgd = functools.partial(torch.optim.SGD, lr=0.05, momentum=0.9)

    def run(epochs, out, resume=False, seed=0, rule_seed=5):
        mlp = sparse_mlp([12, 16, 3], epsilon=4, seed=seed)
        fit(
            mlp,
            data,
            optimizer=sgd,
            epochs=epochs,
            batch_size=16,
            rules=[DropConnect(p=0.4, seed=rule_seed)],
            seed=1,
            out_dir=out,
            resume=resume,
            progress=False,
        )
        return mlp

    full = run(4, None)  # the uninterrupted run needs no checkpoint
    run(2, tmp_path / "split")
    resumed = run(4, tmp_path / "split", resume=True, seed=9, rule_seed=99)  # all must come from the checkpoint
    plain = sparse_mlp([12, 16, 3], epsilon=4, seed=0)
    fit(plain, data, optimizer=sgd, epochs=4, batch_size=16, seed=1, progress=False)
    for a, b, _c in zip(full.parameters(), resumed.parameters(), plain.parameters()):
        assert torch.equal(a, b)
    assert not torch.equal(full[0].weight, plain[0].weight)  # the masks mattered


# ---------------------------------------------------------------- masked_weight
def _reference_score_grad(grad, weight, target, maskable) -> np.ndarray:
    """Loop version: r = grad * weight on maskable edges, divided by the norm of r over each target's edges."""
    r = np.where(maskable, grad * weight, 0.0)
    out = np.zeros_like(r)
    for t in np.unique(target):
        sel = target == t
        out[sel] = r[sel] / (np.sqrt(np.sum(r[sel] ** 2)) + 1e-12)
    return out


@given(st.integers(1, 30), st.integers(1, 6), st.integers(0, 2**31))
@SETTINGS
def test_masked_weight_forward_and_backward_match_a_reference(edges, targets, seed):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(edges, dtype=torch.float64, generator=gen, requires_grad=True)
    s = torch.randn(edges, dtype=torch.float64, generator=gen, requires_grad=True)
    t = torch.randint(0, targets, (edges,), generator=gen)
    maskable = torch.rand(edges, generator=gen) < 0.8
    g = torch.randn(edges, dtype=torch.float64, generator=gen)
    out = masked_weight(w, s, t, targets, maskable)
    mask = ((s > 0) | ~maskable).double()
    assert torch.equal(out, w * mask)
    out.backward(g)
    assert torch.equal(w.grad, g * mask)
    expected = _reference_score_grad(g.numpy(), w.detach().numpy(), t.numpy(), maskable.numpy())
    np.testing.assert_allclose(s.grad.numpy(), expected, rtol=1e-12, atol=1e-15)
    norms = np.bincount(t.numpy(), weights=s.grad.numpy() ** 2, minlength=targets)
    raw = torch.where(maskable, g * w.detach(), 0.0).abs().numpy()
    live = np.bincount(t.numpy(), weights=raw, minlength=targets)
    np.testing.assert_allclose(norms[live > 0], 1.0)  # unit norm per node


def test_masked_weight_gradcheck_in_the_weights():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(12, dtype=torch.float64, generator=gen, requires_grad=True)
    s = torch.randn(12, dtype=torch.float64, generator=gen)
    t = torch.randint(0, 4, (12,), generator=gen)
    assert torch.autograd.gradcheck(lambda w: masked_weight(w, s, t, 4), (w,))


def test_step_ste_is_the_step_with_an_identity_gradient():
    s = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    m = step_ste(s)
    (m * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert m.tolist() == [0.0, 0.0, 1.0] and s.grad.tolist() == [1.0, 2.0, 3.0]


# ---------------------------------------------------------------- LearnedMasks
def _random_scores(model, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, net in sparse_modules(model):
            net.weight_modifier.score.copy_(torch.randn(net.num_edges, generator=gen, dtype=net.weight.dtype))


def _bare_copy(net):
    """The network without its modifier, weights multiplied by the mask."""
    plain = copy.deepcopy(net)
    mask = net.weight_modifier.mask()
    plain.weight_modifier = None
    with torch.no_grad():
        plain.weight.mul_(mask.to(plain.weight.dtype))
    return plain


@given(st.integers(5, 24), st.floats(0.2, 0.6), st.integers(0, 10**6))
@SETTINGS
def test_learned_mask_forward_and_gradients_on_a_dag(n, p, seed):
    net = _dag_net(n, p, seed, dtype=torch.float64)
    LearnedMasks().attach(net)
    _random_scores(net, seed)
    plain = _bare_copy(net)
    x = torch.randn(5, net.in_features, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    out = net(x)
    ref = plain(x)
    assert torch.allclose(out, ref, rtol=1e-12, atol=1e-12)
    out.square().sum().backward()
    ref.square().sum().backward()
    mask = net.weight_modifier.mask()
    g = plain.weight.grad  # the gradient of the loss in the effective weights
    assert torch.allclose(net.weight.grad, g * mask, rtol=1e-12, atol=1e-12)
    _, dst = net.edge_endpoints()
    expected = _reference_score_grad(g.numpy(), net.weight.detach().numpy(), dst, np.ones(dst.size, bool))
    np.testing.assert_allclose(net.weight_modifier.score.grad.numpy(), expected, rtol=1e-9, atol=1e-12)


def test_learned_masks_penalty_counts_active_connections():
    mlp = sparse_mlp([10, 12, 3], epsilon=3, seed=0)
    rule = LearnedMasks(lambda_=0.25)
    rule.attach(mlp)
    _random_scores(mlp, 1)
    active = sum(int((m.weight_modifier.score > 0).sum()) for _, m in sparse_modules(mlp))
    penalty = rule.penalty(mlp)
    assert float(penalty.detach()) == 0.25 * active
    penalty.backward()
    for _, m in sparse_modules(mlp):
        assert torch.equal(m.weight_modifier.score.grad, torch.full_like(m.weight, 0.25))
        assert m.weight.grad is None


def test_step_removes_the_masked_edges_and_scores_follow():
    mlp = sparse_mlp([10, 12, 3], epsilon=3, seed=0)
    rule = LearnedMasks()
    rule.attach(mlp)
    _random_scores(mlp, 2)
    opt = torch.optim.Adam(mlp.parameters(), lr=1e-3)
    mlp(torch.randn(4, 10)).sum().backward()
    opt.step()
    before = {}
    for name, net in sparse_modules(mlp):
        src, dst = net.edge_endpoints()
        before[name] = dict(zip(zip(src.tolist(), dst.tolist()), net.weight_modifier.score.tolist()))
    changes = rule.step(mlp, optimizer=opt)
    for name, net in sparse_modules(mlp):
        alive = {e: s for e, s in before[name].items() if s > 0}
        assert changes[name] == {"removed": len(before[name]) - len(alive), "added": 0, "edges": len(alive)}
        src, dst = net.edge_endpoints()
        assert dict(zip(zip(src.tolist(), dst.tolist()), net.weight_modifier.score.tolist())) == alive
        assert bool(net.weight_modifier.mask().all())
    assert_state_shapes(opt)
    mlp(torch.randn(4, 10)).sum().backward()
    opt.step()
    assert rule.step(mlp, optimizer=opt)["0"]["removed"] == 0


def test_scores_follow_any_rewiring():
    mlp = sparse_mlp([10, 12, 3], epsilon=3, seed=0)
    masks = LearnedMasks(init_score=0.5)
    masks.attach(mlp)
    opt = torch.optim.SGD(mlp.parameters(), lr=0.1, momentum=0.9)

    def train():
        opt.zero_grad()
        (mlp(torch.randn(4, 10)).sum() + masks.penalty(mlp)).backward()
        opt.step()

    for _ in range(2):
        train()
        masks.step(mlp, optimizer=opt)
    layer = mlp[0]
    src, dst = layer.edge_endpoints()
    old = dict(zip(zip(src.tolist(), dst.tolist()), layer.weight_modifier.score.tolist()))
    absent = [(u, v) for u in range(10) for v in range(10, 22) if (u, v) not in old][:4]
    gone = list(old)[:3]
    layer.rewire_(
        remove=[0, 1, 2], add_source=[u for u, _ in absent], add_target=[v for _, v in absent], optimizer=opt
    )  # the network passes the optimizer on to the mask
    src, dst = layer.edge_endpoints()
    new = dict(zip(zip(src.tolist(), dst.tolist()), layer.weight_modifier.score.tolist()))
    assert set(new) == (set(old) - set(gone)) | set(absent)
    assert all(new[e] == old[e] for e in new if e in old) and [new[e] for e in absent] == [0.5] * 4
    assert layer.weight_modifier.target.numel() == layer.num_edges
    assert_state_shapes(opt)  # the scores' state too
    train()
    changes = SET(zeta=0.3, seed=0).step(mlp, optimizer=opt)
    assert changes["0"]["added"] > 0
    assert_state_shapes(opt)
    train()


def test_learned_masks_need_attach_and_refuse_a_second_modifier():
    mlp = sparse_mlp([6, 5, 2], epsilon=2, seed=0)
    rule = LearnedMasks()
    with pytest.raises(RuntimeError, match=r"call rule.attach\(model\) before making the optimizer"):
        rule.penalty(mlp)
    DropConnect(seed=0).attach(mlp)
    with pytest.raises(ValueError, match="already has a weight modifier"):
        rule.attach(mlp)
    with pytest.raises(ValueError, match="The 'init_score' parameter of LearnedMasks must be a finite float > 0"):
        LearnedMasks(init_score=0)


def test_score_mask_copies():
    mlp = sparse_mlp([6, 5, 2], epsilon=2, seed=0)
    LearnedMasks().attach(mlp)
    twin = copy.deepcopy(mlp)
    assert isinstance(twin[0].weight_modifier, ScoreMask)
    assert torch.equal(twin[0].weight_modifier.score, mlp[0].weight_modifier.score)


def test_fit_with_learned_masks_resumes_bit_for_bit(tmp_path):
    data = _data(12, 3)
    sgd = functools.partial(torch.optim.SGD, lr=0.2, momentum=0.5)

    def run(epochs, out, resume=False, seed=0):
        mlp = sparse_mlp([12, 16, 3], epsilon=4, seed=seed)
        rule = LearnedMasks(lambda_=0.3, init_score=0.3)

        def loss(output, target):
            return torch.nn.functional.cross_entropy(output, target) + rule.penalty(mlp)

        result = fit(
            mlp,
            data,
            loss=loss,
            optimizer=sgd,
            epochs=epochs,
            batch_size=16,
            rules=[rule],
            seed=1,
            out_dir=out,
            resume=resume,
            progress=False,
        )
        return mlp, result

    full, result = run(4, None)
    assert sum(row.get("LearnedMasks.0.removed", 0) for row in result.metrics) > 0  # the wiring changed
    run(2, tmp_path / "split")
    resumed, _ = run(4, tmp_path / "split", resume=True, seed=9)
    for (name, a), (_, b) in zip(full.named_parameters(), resumed.named_parameters()):
        assert torch.equal(a, b), name
    assert [m.num_edges for _, m in sparse_modules(full)] == [m.num_edges for _, m in sparse_modules(resumed)]
