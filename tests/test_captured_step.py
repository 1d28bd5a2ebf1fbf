"""CapturedStep: eager where there is no CUDA, a CUDA graph on a GPU, captured again after a rewiring."""

from __future__ import annotations

import pytest
import torch
from torch.nn.functional import cross_entropy

import dagnet
from dagnet.evolve import SET
from dagnet.nn import sparse_mlp
from dagnet.topology import erdos_renyi_dag
from dagnet.train.captured_step import CapturedStep

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


def _model(device="cpu"):
    return sparse_mlp([12, 16, 3], epsilon=4, seed=0, dtype=torch.float64).to(device)


def _batches(n=4, batch=8, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return [
        (
            torch.randn(batch, 12, generator=g, dtype=torch.float64).to(device),
            torch.randint(0, 3, (batch,), generator=g).to(device),
        )
        for _ in range(n)
    ]


def _manual(model, opt, data):
    losses = []
    for x, y in data:
        opt.zero_grad(set_to_none=True)
        loss = cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return losses


@pytest.mark.parametrize("make_opt", [lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), torch.optim.Adam])
def test_cpu_step_is_the_eager_step(make_opt):
    a, b = _model(), _model()
    data = _batches()
    expected = _manual(a, make_opt(a.parameters()), data)
    step = CapturedStep(b, make_opt(b.parameters()), cross_entropy)
    got = [step(x, y)[0] for x, y in data]
    assert step.captures == 0
    assert all(torch.equal(e, g) for e, g in zip(expected, got))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_signature_follows_rewiring_and_hyperparameters():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    step = CapturedStep(model, opt, cross_entropy)
    x, y = _batches(1)[0]
    step(x, y)
    step._signature = step._current_signature()
    assert step._same(step._current_signature())
    step(x, y)  # an optimizer step changes values, not tensors
    assert step._same(step._current_signature())
    SET(zeta=0.3, seed=0).step(model, optimizer=opt)
    assert not step._same(step._current_signature())
    step._signature = step._current_signature()
    opt.param_groups[0]["lr"] = 0.05
    assert not step._same(step._current_signature())


def test_needs_optimizer_state_before_capture():
    model = _model()
    adam = CapturedStep(model, torch.optim.Adam(model.parameters()), cross_entropy)
    assert not adam._has_state()
    x, y = _batches(1)[0]
    adam(x, y)
    assert adam._has_state()
    assert CapturedStep(model, torch.optim.SGD(model.parameters(), lr=0.1), cross_entropy)._has_state()
    assert not CapturedStep(
        model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5), cross_entropy
    )._has_state()


def test_arguments_are_checked():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="'optimizer' parameter of CapturedStep"):
        CapturedStep(model, "sgd", cross_entropy)
    with pytest.raises(ValueError, match="'model' parameter"):
        CapturedStep(lambda x: x, opt, cross_entropy)
    with pytest.raises(ValueError, match="'loss_fn' parameter"):
        CapturedStep(model, opt, 3)
    with pytest.raises(ValueError, match="'warmup'"):
        CapturedStep(model, opt, cross_entropy, warmup=-1)


@cuda
@pytest.mark.parametrize(
    "make_opt", [lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), lambda p: torch.optim.Adam(p, capturable=True)]
)
def test_cuda_graph_replays_the_eager_step_and_recaptures_after_set(make_opt):
    torch.manual_seed(0)
    a, b = _model("cuda"), _model("cuda")
    opt_a, opt_b = make_opt(a.parameters()), make_opt(b.parameters())
    step = CapturedStep(b, opt_b, cross_entropy)
    data = _batches(6, device="cuda") + [_batches(1, batch=5, seed=1, device="cuda")[0]]
    for k, (x, y) in enumerate(data):
        if k == 3:
            SET(zeta=0.3, seed=0).step(a, optimizer=opt_a)
            SET(zeta=0.3, seed=0).step(b, optimizer=opt_b)
        expected = _manual(a, opt_a, [(x, y)])[0]
        got, _ = step(x, y)
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)
    assert step.captures == 3  # before SET, after it, and the batch of 5
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-9)


@cuda
def test_cuda_graph_of_a_deep_dag():
    net = dagnet.DAGNetwork(erdos_renyi_dag(400, 0.05, seed=0), seed=0, device="cuda")
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    step = CapturedStep(net, opt, torch.nn.functional.mse_loss)
    x = torch.randn(32, net.in_features, device="cuda")
    y = torch.zeros(32, net.out_features, device="cuda")
    losses = [float(step(x, y)[0]) for _ in range(5)]
    assert step.captures == 1 and losses[-1] < losses[0]


def _digits_like(device="cpu"):
    from dagnet.data import Dataset

    g = torch.Generator().manual_seed(0)
    X = torch.randn(100, 12, generator=g)
    y = torch.randint(0, 3, (100,), generator=g)
    return Dataset(X[:70], y[:70], X[70:], y[70:], "toy", 3)


def test_fit_with_cuda_graph_is_plain_fit_off_cuda():
    from dagnet.train import fit

    a, b = _model().float(), _model().float()
    ra = fit(a, _digits_like(), epochs=2, batch_size=16, rules=[SET(zeta=0.3, seed=0)], progress=False)
    rb = fit(b, _digits_like(), epochs=2, batch_size=16, rules=[SET(zeta=0.3, seed=0)], progress=False, cuda_graph=True)
    assert [{k: v for k, v in m.items() if k != "seconds"} for m in ra.metrics] == [
        {k: v for k, v in m.items() if k != "seconds"} for m in rb.metrics
    ]
    with pytest.raises(ValueError, match="'cuda_graph' parameter of fit"):
        fit(b, _digits_like(), epochs=1, progress=False, cuda_graph="yes")


@cuda
def test_fit_with_cuda_graph_matches_eager_fit_on_cuda():
    from dagnet.train import fit

    a, b = _model("cuda").float(), _model("cuda").float()
    sgd = lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)  # noqa: E731
    kw = dict(epochs=3, batch_size=16, optimizer=sgd, progress=False)
    ra = fit(a, _digits_like(), rules=[SET(zeta=0.3, seed=0)], **kw)
    rb = fit(b, _digits_like(), rules=[SET(zeta=0.3, seed=0)], cuda_graph=True, **kw)
    for ma, mb in zip(ra.metrics, rb.metrics):
        assert ma["test_accuracy"] == pytest.approx(mb["test_accuracy"], abs=1e-9)
        assert ma["train_loss"] == pytest.approx(mb["train_loss"], rel=1e-7)


@cuda
def test_gradients_after_a_replay_are_the_replayed_ones():
    net = _model("cuda")
    opt = torch.optim.SGD(net.parameters(), lr=0.0)  # lr 0: the weights stay, so gradients can be compared
    step = CapturedStep(net, opt, cross_entropy)
    x, y = _batches(1, device="cuda")[0]
    x2, y2 = _batches(1, seed=5, device="cuda")[0]
    step(x, y)  # captured
    step._eager(x2, y2)  # an eager step in between allocates gradients of its own
    step(x, y)
    got = [p.grad.clone() for p in net.parameters()]
    step._eager(x, y)
    for g, p in zip(got, net.parameters()):
        torch.testing.assert_close(g, p.grad)
