"""fit with the user's own loaders, an LR scheduler, callbacks, gradient clipping and autocast."""

from __future__ import annotations

import functools

import pytest
import torch
from torch.utils.data import DataLoader, Sampler, TensorDataset

from dagnet.nn import sparse_mlp
from dagnet.train import fit, load_checkpoint

SGD = functools.partial(torch.optim.SGD, lr=0.1)


def _tensors(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 8, generator=g)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0.5).long()
    return X, y


class EpochSampler(Sampler):
    """A shuffle that depends on the epoch alone (fit calls set_epoch), so a resumed run repeats it."""

    def __init__(self, n, seed=0):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist())

    def __len__(self):
        return self.n


def _loaders(batch=16):
    X, y = _tensors()
    train = TensorDataset(X[:64], y[:64])
    test = TensorDataset(X[64:], y[64:])
    return DataLoader(train, batch_size=batch, sampler=EpochSampler(64)), DataLoader(test, batch_size=50)


def _model():
    return sparse_mlp([8, 16, 3], epsilon=3, seed=0)


def test_loaders_train_and_evaluate_with_their_own_batches():
    model = _model()
    seen = []
    result = fit(
        model, _loaders(), optimizer=SGD, epochs=2, progress=False, callbacks=[lambda e, i: seen.append((e, i))]
    )
    steps = [i for e, i in seen if e == "step"]
    epochs = [i for e, i in seen if e == "epoch"]
    assert len(steps) == 8 and [s["step"] for s in steps] == list(range(1, 9)) and steps[-1]["epoch"] == 2
    assert [r["epoch"] for r in epochs] == [1, 2] and epochs[-1] is result.metrics[-1]
    X, y = _tensors()
    model.eval()
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(model(X[64:]), y[64:]).item()
    assert result.metrics[-1]["test_loss"] == pytest.approx(expected, rel=1e-6)


def test_a_resumed_run_with_an_epoch_seeded_sampler_and_a_scheduler_is_bit_exact(tmp_path):
    sched = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5)
    kw = dict(optimizer=SGD, scheduler=sched, progress=False)
    full = fit(_model(), _loaders(), epochs=3, out_dir=tmp_path / "full", **kw)
    fit(_model(), _loaders(), epochs=2, out_dir=tmp_path / "split", **kw)
    split = fit(_model(), _loaders(), epochs=3, out_dir=tmp_path / "split", resume=True, **kw)
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"] if isinstance(a["model"][k], torch.Tensor))
    assert full.optimizer.param_groups[0]["lr"] == split.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)


def test_scheduler_per_step_clipping_and_autocast():
    model = _model()
    result = fit(
        model,
        _loaders(),
        optimizer=SGD,
        epochs=1,
        progress=False,
        scheduler=functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.9),
        scheduler_step="step",
    )
    assert result.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.9**4)
    model = _model()
    before = [p.detach().clone() for p in model.parameters()]
    loaders = (DataLoader(TensorDataset(*_tensors(16)), batch_size=16), _loaders()[1])
    fit(model, loaders, optimizer=SGD, epochs=1, progress=False, clip_grad_norm=1e-3)
    moved = torch.sqrt(sum(((p.detach() - q) ** 2).sum() for p, q in zip(model.parameters(), before)))
    assert moved <= 0.1 * 1e-3 * (1 + 1e-3)  # one SGD step of a gradient clipped to norm 1e-3
    result = fit(_model(), _loaders(), optimizer=SGD, epochs=1, progress=False, autocast=torch.bfloat16)
    assert result.metrics[-1]["train_loss"] > 0


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="'data' parameter of fit must be a dagnet.data.Dataset or a pair"):
        fit(_model(), [1, 2, 3], progress=False)
    with pytest.raises(ValueError, match="'scheduler' parameter of fit"):
        fit(_model(), _loaders(), scheduler=3, progress=False)
    with pytest.raises(ValueError, match="'scheduler_step' parameter of fit"):
        fit(_model(), _loaders(), scheduler_step="batch", progress=False)
    with pytest.raises(ValueError, match="'autocast' parameter of fit"):
        fit(_model(), _loaders(), autocast=torch.float64, progress=False)
    with pytest.raises(ValueError, match="cuda_graph replays a fixed step"):
        fit(_model(), _loaders(), cuda_graph=True, clip_grad_norm=1.0, progress=False)
    with pytest.raises(ValueError, match="must yield \\(x, y\\) pairs"):
        fit(_model(), ([torch.zeros(4, 8)], [torch.zeros(4, 8)]), progress=False)
