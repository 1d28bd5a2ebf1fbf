"""Per-step and per-rewiring paths on CUDA: no host round trip per step, the same choices as on the CPU.

Skipped where no GPU is present; ``tests/test_device_paths.py`` checks the
same device-side code on the CPU.
"""

from __future__ import annotations

import contextlib
import copy
import functools

import numpy as np
import pytest
import torch

import dagnet
from dagnet import SparseLinear
from dagnet.data import batches
from dagnet.evolve import SET, DropConnect, DropConnectMask, MagnitudePruning, NeuronPruning, top_gradient_pairs
from dagnet.evolve.set import removal_mask, set_removal
from dagnet.nn import Dropout, IsotropicMLP, sparse_mlp
from dagnet.nn.dropout import keep_mask
from dagnet.train import fit, loop
from dagnet.train.checkpoints import load_checkpoint
from dagnet.train.sources import DatasetSource
from test_device_paths import WRAP_STATES, _bits, _data, _kernel, _model, _OutputMasks

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
CUDA = torch.device("cuda")
SGD = functools.partial(torch.optim.SGD, lr=0.05, momentum=0.9)


@contextlib.contextmanager
def _syncs_fail():
    """Any synchronisation with the host (a read, a blocking copy) raises inside."""
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


# ---------------------------------------------------------------- Dropout and DropConnect
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("n", [1, 1000, 65537])
def test_keep_mask_on_cuda_is_the_kernels_stream(p, n):
    for state in WRAP_STATES:
        _, mask, after = _kernel(torch.ones(n), state, p)
        s = torch.tensor([state], device=CUDA)
        with _syncs_fail():
            keep = keep_mask(s, n, p)
        assert torch.equal(keep.cpu(), mask != 0) and int(s) == after


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dropout_on_cuda_draws_the_cpu_masks_bit_for_bit(dtype):
    gen = torch.Generator().manual_seed(0)
    x, grad = torch.randn(64, 33, generator=gen, dtype=dtype), torch.randn(64, 33, generator=gen, dtype=dtype)
    host, device = Dropout(0.3, seed=4), Dropout(0.3, seed=4).to(CUDA)
    xa, xb = x.clone().requires_grad_(), x.to(CUDA).requires_grad_()
    g = grad.to(CUDA)
    with _syncs_fail():
        out_b = device(xb)
        out_b.backward(g)
    out_a = host(xa)
    out_a.backward(grad)
    assert torch.equal(_bits(out_a), _bits(out_b.cpu())) and torch.equal(_bits(xa.grad), _bits(xb.grad.cpu()))
    assert torch.equal(host.rng_state, device.rng_state.cpu())


def test_dropout_kept_on_the_cpu_still_masks_a_cuda_input():
    host, elsewhere = Dropout(0.4, seed=2), Dropout(0.4, seed=2)
    x = torch.randn(10, 10)
    assert torch.equal(host(x), elsewhere(x.to(CUDA)).cpu())
    assert torch.equal(host.rng_state, elsewhere.rng_state) and elsewhere.rng_state.device.type == "cpu"


def test_dropconnect_on_cuda_draws_on_the_device_and_resumes():
    net = SparseLinear(50, 40, density=0.3, seed=0).to(CUDA)
    DropConnect(0.4, seed=0).attach(net)
    mask = net.weight_modifier
    assert mask.stream.device.type == "cuda"
    w = torch.ones(1000, device=CUDA)
    with _syncs_fail():
        first = mask(w)
    assert 0.3 < float((first == 0).float().mean()) < 0.5
    twin = DropConnectMask(0.4, seed=123).to(CUDA)
    twin.set_extra_state(mask.get_extra_state())
    assert torch.equal(mask(w), twin(w))


# ---------------------------------------------------------------- training steps
@pytest.mark.parametrize("backend", ["torch", None])  # None: the default on CUDA
def test_training_steps_on_cuda_do_not_synchronise(monkeypatch, backend):
    model = _model(backend).to(CUDA)
    DropConnect(p=0.2, seed=0).attach(model[0])
    rule = _OutputMasks()
    rule.attach(model)
    model(torch.zeros(2, 8, device=CUDA)).sum().backward()  # build the runtimes (once per plan)
    model.zero_grad(set_to_none=True)
    real = loop._train_epoch

    def guarded(*args, **kwargs):
        with _syncs_fail():
            return real(*args, **kwargs)

    monkeypatch.setattr(loop, "_train_epoch", guarded)
    result = fit(model, _data(), optimizer=SGD, epochs=1, batch_size=8, rules=[rule], progress=False)
    assert np.isfinite(result.metrics[0]["train_loss"])


def test_epoch_batches_on_cuda_are_the_cpu_batches():
    data = _data()
    ga, gb = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    here = list(batches(data.X_train, data.y_train, 10, seed=ga))
    there = list(DatasetSource(data, 10, CUDA, True).train_batches(1, gb))
    assert len(here) == len(there)
    assert all(torch.equal(a, b.cpu()) and torch.equal(c, d.cpu()) for (a, c), (b, d) in zip(here, there))
    assert torch.equal(ga.get_state(), gb.get_state())


def test_fit_on_cuda_follows_the_cpu_run():
    cpu, gpu = _model(), _model().to(CUDA)
    a = fit(cpu, _data(), optimizer=SGD, epochs=3, batch_size=8, progress=False)
    b = fit(gpu, _data(), optimizer=SGD, epochs=3, batch_size=8, progress=False)
    for ra, rb in zip(a.metrics, b.metrics):
        assert rb["train_loss"] == pytest.approx(ra["train_loss"], rel=1e-4)
        assert rb["test_loss"] == pytest.approx(ra["test_loss"], rel=1e-4)


# ---------------------------------------------------------------- rewiring on the device
def test_rigl_growth_on_cuda_chooses_the_cpu_pairs():
    rng = np.random.default_rng(0)
    m = 200
    limit = np.minimum(np.arange(m), 90)
    limit[:30] = 0
    source_ok = rng.random(m) < 0.9
    existing = np.sort(rng.choice(m * m, 3000, replace=False)).astype(np.int64)
    H = torch.from_numpy(rng.integers(-3, 4, (m, 8)).astype(np.float64))  # exact products: the same scores
    G = torch.from_numpy(rng.integers(-3, 4, (m, 8)).astype(np.float64))
    for count, chunk in ((10, 500), (2000, 1 << 22)):
        u, v = top_gradient_pairs(H, G, limit, source_ok, existing, count, chunk=chunk)
        uc, vc = top_gradient_pairs(H.to(CUDA), G.to(CUDA), limit, source_ok, existing, count, chunk=chunk)
        assert np.array_equal(u, uc) and np.array_equal(v, vc)


def test_set_removal_on_cuda_is_set_removal():
    w = torch.from_numpy(np.random.default_rng(1).integers(-5, 6, 5000).astype(np.float32) / 5)
    cand = np.random.default_rng(2).random(5000) < 0.8
    assert np.array_equal(removal_mask(w.to(CUDA), 0.3, cand), set_removal(w.numpy(), 0.3, cand))


@pytest.mark.parametrize(
    "make",
    [
        lambda: SET(zeta=0.3, seed=0),
        lambda: MagnitudePruning(0.3),
        lambda: MagnitudePruning(0.3, scope="global"),
        lambda: NeuronPruning(percentile=30),
    ],
)
def test_rules_rewire_a_cuda_model_as_a_cpu_one(make):
    cpu = sparse_mlp([20, 30, 5], epsilon=4, seed=0)
    gpu = copy.deepcopy(cpu).to(CUDA)
    assert make().step(cpu) == make().step(gpu)
    for a, b in zip(cpu, gpu):
        if isinstance(a, SparseLinear):
            assert all(np.array_equal(x, y) for x, y in zip(a.edge_endpoints(), b.edge_endpoints()))
            assert torch.equal(a.weight, b.weight.cpu()) and b.weight.device.type == "cuda"


def test_isotropic_surgery_keeps_a_cuda_model_on_cuda():
    net = IsotropicMLP([4, 6, 5, 3], seed=0).to(CUDA)
    opt = torch.optim.Adam(net.parameters())
    x = torch.randn(8, 4, device=CUDA)
    net(x).square().sum().backward()
    opt.step()
    before = net(x).detach()
    net.grow(1, 2, optimizer=opt, seed=0)
    net.diagonalise(2, "full", optimizer=opt)
    torch.testing.assert_close(net(x), before, rtol=1e-4, atol=1e-5)
    assert all(p.device.type == "cuda" for p in net.parameters())
    assert all(t.device.type == "cuda" for s in opt.state.values() for t in s.values() if t.dim() > 0)


# ---------------------------------------------------------------- files and devices
@pytest.mark.parametrize("where", ["cuda", torch.device("cuda", 0)])
def test_save_and_load_cross_devices(tmp_path, where):
    net = SparseLinear(10, 5, density=0.4, seed=2).to(CUDA)
    x = torch.randn(3, 10)
    dagnet.save(net, tmp_path / "net.pt")
    on_cpu = dagnet.load(tmp_path / "net.pt")
    on_gpu = dagnet.load(tmp_path / "net.pt", map_location=where)
    assert on_cpu.weight.device.type == "cpu" and on_gpu.weight.device.type == "cuda"
    assert torch.equal(on_cpu.weight, net.weight.cpu()) and torch.equal(on_gpu.weight, net.weight)
    torch.testing.assert_close(on_gpu(x.to(CUDA)).cpu(), on_cpu(x), rtol=1e-5, atol=1e-6)


def test_a_cuda_checkpoint_loads_on_the_cpu_and_resumes_on_cuda(tmp_path):
    straight, stopped = _model().to(CUDA), _model().to(CUDA)
    fit(straight, _data(), optimizer=SGD, epochs=3, batch_size=16, progress=False)
    fit(stopped, _data(), optimizer=SGD, epochs=2, batch_size=16, out_dir=tmp_path, progress=False)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    cpu = _model()
    cpu.load_state_dict(state["model"])
    assert all(torch.equal(a, b.cpu()) for a, b in zip(cpu.state_dict().values(), stopped.state_dict().values()))
    resumed = _model().to(CUDA)
    fit(resumed, _data(), optimizer=SGD, epochs=3, batch_size=16, out_dir=tmp_path, resume=True, progress=False)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert b.device == a.device
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
