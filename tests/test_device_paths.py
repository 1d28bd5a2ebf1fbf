"""The device-side versions of per-step and per-rewiring code, checked on the CPU against the host versions.

Every path that runs on a GPU without reading back to the host has a CPU
twin (a numba kernel, a torch generator, NumPy ranking): here both run on
the CPU and must agree bit for bit, and a training epoch run the device way
must not call anything that would read a device tensor on the host.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import dagnet
from dagnet import SparseLinear
from dagnet.data import Dataset
from dagnet.errors import DivergenceError
from dagnet.evolve import (
    DropConnect,
    DropConnectMask,
    LearnedMasks,
    magnitude_removal,
    pruning,
    rigl,
    set_removal,
    step_ste,
)
from dagnet.evolve import dropconnect as dropconnect_module
from dagnet.evolve.set import _removal_on_device, smallest, smallest_on_device
from dagnet.nn import Dropout
from dagnet.nn import dropout as dropout_module
from dagnet.train import fit, loop
from dagnet.train.checkpoints import load_checkpoint
from dagnet.train.metrics import BatchTotals

SETTINGS = settings(max_examples=60, deadline=None)
WRAP_STATES = [0, 1, -1, 2**63 - 1, -(2**63), -(2**62) + 12345, 0x1234_5678_9ABC_DEF0]


def _kernel(x: torch.Tensor, state: int, p: float) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The numba kernel on its own: (out, mask, state after)."""
    out, mask = torch.empty_like(x), torch.empty_like(x)
    s = torch.tensor([state])
    dropout_module._dropout_kernel(
        x.numpy(),
        out.numpy(),
        mask.numpy(),
        s.numpy().view(np.uint64),
        dropout_module._threshold(p),
        x.numpy().dtype.type(1.0 / (1.0 - p)),
    )
    return out, mask, int(s)


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The bit patterns of a float tensor (tells 0.0 from -0.0)."""
    return t.view(torch.int64 if t.dtype == torch.float64 else torch.int32)


@pytest.fixture
def device_paths(monkeypatch):
    """Run the code that chooses by device as it runs on a GPU, here on the CPU."""
    for module in (dropout_module, dropconnect_module):
        monkeypatch.setattr(module, "draws_on_host", lambda device: False)
    monkeypatch.setattr(loop, "_reads_each_batch", lambda device: False)


# ---------------------------------------------------------------- Dropout's stream
@pytest.mark.parametrize("p", [0.0, 1e-19, 0.1, 0.5, 0.9, 1 - 2**-53])
@pytest.mark.parametrize("n", [0, 1, 5, 1000, 65537])
@pytest.mark.parametrize("state", WRAP_STATES)
def test_keep_mask_is_the_kernels_stream(p, n, state):
    x = torch.ones(n)
    _, mask, after = _kernel(x, state, p)
    s = torch.tensor([state])
    keep = dropout_module.keep_mask(s, n, p)
    assert keep.dtype == torch.bool and keep.shape == (n,)
    assert torch.equal(keep, mask != 0)
    assert int(s) == after  # the state advanced by n * GAMMA, wrapping around as the kernel's does


def test_keep_mask_continues_the_stream_across_calls():
    a, b = torch.tensor([WRAP_STATES[3]]), torch.tensor([WRAP_STATES[3]])
    whole = dropout_module.keep_mask(a, 300, 0.4)
    parts = torch.cat([dropout_module.keep_mask(b, k, 0.4) for k in (1, 99, 200)])
    assert torch.equal(whole, parts) and torch.equal(a, b)


@pytest.mark.parametrize(
    "args, message",
    [
        ((torch.tensor([1, 2]), 3, 0.5), "'state' parameter of keep_mask must be a one-element int64 tensor"),
        ((torch.tensor([1.0]), 3, 0.5), "'state' parameter of keep_mask must be a one-element int64 tensor"),
        ((torch.tensor([1]), -1, 0.5), "'n' parameter of keep_mask"),
        ((torch.tensor([1]), 3, 1.0), "'p' parameter of keep_mask"),
    ],
)
def test_keep_mask_checks_its_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        dropout_module.keep_mask(*args)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("p", [0.2, 0.5, 0.75])
def test_dropout_on_device_path_equals_the_kernel(monkeypatch, dtype, p):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(13, 29, generator=gen, dtype=dtype)
    x[0, :4] = torch.tensor([float("inf"), -float("inf"), -0.0, 0.0], dtype=dtype)  # signs of zeros, infinities
    host, device = Dropout(p, seed=11), Dropout(p, seed=11)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_a = host(xa)
    monkeypatch.setattr(dropout_module, "draws_on_host", lambda device: False)
    out_b = device(xb)
    assert torch.equal(_bits(out_a), _bits(out_b))
    assert torch.equal(host.rng_state, device.rng_state)
    grad = torch.randn(x.shape, generator=gen, dtype=dtype)
    out_a.backward(grad)
    out_b.backward(grad)
    assert torch.equal(_bits(xa.grad), _bits(xb.grad))
    again_a = host(x)  # the streams stay in step: the next masks agree too
    monkeypatch.setattr(dropout_module, "draws_on_host", lambda device: True)
    assert torch.equal(again_a, device(x))


@pytest.mark.parametrize("on_host", [True, False])
def test_dropout_backward_passes_gradcheck(monkeypatch, on_host):
    monkeypatch.setattr(dropout_module, "draws_on_host", lambda device: on_host)
    x = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    # A fresh state per call: every evaluation draws the same mask.
    assert torch.autograd.gradcheck(lambda t: dropout_module._DropoutFunction.apply(t, torch.tensor([7]), 0.4), (x,))


def test_dropout_on_device_path_is_inverted_dropout(device_paths):
    d = Dropout(0.5, seed=0)
    x = torch.randn(7, 3)
    assert d.eval()(x) is x
    y = d.train()(x)
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] * 2.0, rtol=0, atol=0)


# ---------------------------------------------------------------- DropConnect
def test_dropconnect_device_stream_is_seeded_saved_and_restored(device_paths):
    a, b = DropConnectMask(0.3, seed=5), DropConnectMask(0.3, seed=5)
    w = torch.ones(2000, dtype=torch.float64)
    first = a(w)
    assert torch.equal(first, b(w))
    dropped = float((first == 0).double().mean())
    assert 0.25 < dropped < 0.35 and set(first.unique().tolist()) == {0.0, 1 / 0.7}
    state = a.get_extra_state()
    assert state["stream"] == int(a.stream)
    c = DropConnectMask(0.3, seed=99)
    c.set_extra_state(state)
    assert torch.equal(a(w), c(w))  # same position in the stream: the same next mask
    old = {k: v for k, v in b.get_extra_state().items() if k != "stream"}  # saved before the stream existed
    d = DropConnectMask(0.3, seed=5)
    d.set_extra_state(old)
    assert torch.equal(d(w), first)


def test_dropconnect_mask_on_the_cpu_is_unchanged():
    mask = DropConnectMask(p=0.5, seed=0)
    w = torch.ones(8)
    gen = torch.Generator().manual_seed(0)
    expected = (torch.rand(8, generator=gen) >= 0.5).float() * 2.0
    assert torch.equal(mask(w), expected)
    assert torch.equal(mask.generator.get_state(), gen.get_state())  # one draw of 8 numbers, as before


def test_dropconnect_attach_puts_the_mask_on_the_network_device():
    net = SparseLinear(6, 4, density=0.5, seed=0)
    DropConnect(0.2, seed=0).attach(net)
    assert net.weight_modifier.stream.device == net.weight.device


# ---------------------------------------------------------------- learned masks
def test_active_count_and_its_gradient_equal_those_of_the_selection():
    net = SparseLinear(30, 20, density=1.0, seed=0)
    LearnedMasks().attach(net)
    modifier = net.weight_modifier
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        modifier.score.copy_(torch.randn(net.num_edges, generator=gen))
    modifier.maskable = torch.rand(net.num_edges, generator=gen) < 0.7
    count = modifier.active()
    selected = step_ste(modifier.score)[modifier.maskable].sum()  # a selection: its size is read on the host
    assert torch.equal(count, selected) and 0 < float(count.detach()) < net.num_edges
    (grad,) = torch.autograd.grad(count, modifier.score)
    (expected,) = torch.autograd.grad(selected, modifier.score)
    assert torch.equal(grad, expected) and torch.equal(grad, modifier.maskable.to(grad.dtype))


# ---------------------------------------------------------------- ranking on the device
magnitudes = st.lists(st.integers(-4, 4), min_size=0, max_size=40).map(lambda v: np.array(v, dtype=np.float64) / 4)


@SETTINGS
@given(values=magnitudes, k=st.integers(-1, 45))
def test_smallest_on_device_equals_smallest(values, k):
    got = smallest_on_device(torch.from_numpy(np.abs(values)), k)
    assert got.dtype == torch.int64
    assert got.tolist() == smallest(np.abs(values), k).tolist()


@SETTINGS
@given(data=st.data(), values=magnitudes, zeta=st.floats(0, 1), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_set_removal_on_device_equals_set_removal(data, values, zeta, dtype):
    cand = np.array(data.draw(st.lists(st.booleans(), min_size=values.size, max_size=values.size)), dtype=bool)
    w = torch.from_numpy(values).to(dtype)
    got = _removal_on_device(w, zeta, cand)
    assert got.dtype == torch.bool
    assert got.tolist() == set_removal(w.numpy(), zeta, cand).tolist()


@SETTINGS
@given(data=st.data(), values=magnitudes, amount=st.floats(0, 1))
def test_magnitude_removal_on_device_equals_magnitude_removal(data, values, amount):
    cand = np.array(data.draw(st.lists(st.booleans(), min_size=values.size, max_size=values.size)), dtype=bool)
    got = pruning._removal_on_device(torch.from_numpy(values), amount, cand)
    assert got.tolist() == magnitude_removal(values, amount, cand).tolist()


@st.composite
def scored_spaces(draw):
    """A growth space (limit[v] <= v), existing keys, and integer activity (exact scores, many ties)."""
    m = draw(st.integers(1, 9))
    limit = np.array([draw(st.integers(0, v)) for v in range(m)], dtype=np.int64)
    source_ok = np.array(draw(st.lists(st.booleans(), min_size=m, max_size=m)), dtype=bool)
    pairs = [(u, v) for v in range(m) for u in range(v)]
    present = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    existing = np.sort(np.array([u * m + v for (u, v), p in zip(pairs, present) if p], dtype=np.int64))
    batch = draw(st.integers(1, 3))
    ints = st.lists(st.integers(-2, 2), min_size=m * batch, max_size=m * batch)
    H = torch.tensor(draw(ints), dtype=torch.float64).reshape(m, batch)
    G = torch.tensor(draw(ints), dtype=torch.float64).reshape(m, batch)
    return limit, source_ok, existing, H, G


@SETTINGS
@given(space=scored_spaces(), count=st.integers(1, 40), chunk=st.sampled_from([1, 2, 3, 7, 1 << 22]))
def test_gradient_ranking_on_device_equals_numpy(space, count, chunk):
    limit, source_ok, existing, H, G = space
    if not (limit > 0).any():
        return
    host = rigl._best_on_host(rigl.score_blocks(H, G, limit, source_ok, existing, chunk), count, limit.size)
    device = rigl._best_on_device(rigl.score_blocks(H, G, limit, source_ok, existing, chunk), count, limit.size)
    assert device.tolist() == host.tolist()


def test_gradient_ranking_on_device_equals_numpy_on_real_scores():
    gen = torch.Generator().manual_seed(0)
    m = 300
    limit = np.minimum(np.arange(m), 120)
    limit[:40] = 0
    source_ok = np.ones(m, dtype=bool)
    existing = np.sort(np.random.default_rng(0).choice(m * m, 2000, replace=False)).astype(np.int64)
    H, G = torch.randn(m, 16, generator=gen), torch.randn(m, 16, generator=gen)
    for count, chunk in ((1, 64), (500, 1000), (5000, 1 << 22)):
        host = rigl._best_on_host(rigl.score_blocks(H, G, limit, source_ok, existing, chunk), count, m)
        device = rigl._best_on_device(rigl.score_blocks(H, G, limit, source_ok, existing, chunk), count, m)
        assert device.size == host.size == count and np.array_equal(device, host)


# ---------------------------------------------------------------- the loop's totals
@SETTINGS
@given(
    losses=st.lists(st.floats(-1e6, 1e6, width=32), min_size=0, max_size=30),
    sizes=st.lists(st.integers(1, 300), min_size=30, max_size=30),
)
def test_batch_totals_are_the_sequential_sums(losses, sizes):
    totals, expected = BatchTotals(), 0.0
    for value, size in zip(losses, sizes):
        loss = torch.tensor(value, dtype=torch.float32)
        totals.add(loss, torch.zeros(size, 2), torch.zeros(size, dtype=torch.int64))
        expected += float(loss) * size
    result = totals.read()
    assert result.loss == expected  # the same float operations, in the same order
    assert result.hits == sum(sizes[: len(losses)]) and result.nonfinite is None


def test_batch_totals_find_the_first_nonfinite_loss_and_non_classification():
    totals = BatchTotals()
    for value in (1.0, float("nan"), float("inf")):
        totals.add(torch.tensor(value), torch.zeros(4, 1), torch.zeros(4, 1))
    result = totals.read()
    assert result.hits is None and result.nonfinite[0] == 2 and math.isnan(result.nonfinite[1])


# ---------------------------------------------------------------- fit, the device way, on the CPU
def _data(n=96, features=8, classes=3, seed=0) -> Dataset:
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, features, generator=gen)
    y = (X[:, :classes] + 0.3 * torch.randn(n, classes, generator=gen)).argmax(1)
    return Dataset(X[:64], y[:64], X[64:], y[64:], "toy", classes)


def _model(backend="torch") -> nn.Sequential:
    kw = dict(seed=0, backend=backend)
    return nn.Sequential(
        SparseLinear(8, 16, density=0.5, **kw), nn.ReLU(), Dropout(0.3, seed=1), SparseLinear(16, 3, density=0.6, **kw)
    )


class _OutputMasks:
    """LearnedMasks on the output layer only (the first layer carries DropConnect: one modifier per network)."""

    name = "LearnedMasks"

    def __init__(self):
        self.rule = LearnedMasks(lambda_=1e-4)

    def attach(self, model):
        self.rule.attach(model[3])

    def penalty(self, model):
        return self.rule.penalty(model[3])

    def step(self, model, optimizer=None):
        return self.rule.step(model[3], optimizer=optimizer)


HOST_READS = ("item", "tolist", "numpy", "cpu", "__float__", "__int__", "__bool__", "__index__")


@contextlib.contextmanager
def _no_host_reads():
    """Make every way of reading a tensor on the host raise (Python-level calls: what dagnet's code could do)."""

    def refuse(name):
        def call(self, *args, **kwargs):
            raise AssertionError(f"Tensor.{name} called during a training step")

        return call

    with pytest.MonkeyPatch.context() as patch:
        for name in HOST_READS:
            patch.setattr(torch.Tensor, name, refuse(name))
        yield


def test_training_steps_read_nothing_on_the_host(device_paths, monkeypatch):
    model = _model()
    DropConnect(p=0.2, seed=0).attach(model[0])
    rule = _OutputMasks()
    rule.attach(model)
    model(torch.zeros(2, 8)).sum().backward()  # build the runtimes (once per plan)
    model.zero_grad(set_to_none=True)
    real, epochs = loop._train_epoch, []

    def guarded(*args, **kwargs):
        with _no_host_reads():
            out = real(*args, **kwargs)
        epochs.append(out)
        return out

    monkeypatch.setattr(loop, "_train_epoch", guarded)
    sgd = lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9)  # noqa: E731
    result = fit(model, _data(), optimizer=sgd, epochs=1, batch_size=8, rules=[rule], progress=False)
    assert len(epochs) == 1 and len(epochs[0][0]._losses) == 8  # 8 batches, each step guarded
    row = result.metrics[0]
    assert math.isfinite(row["train_loss"]) and 0 <= row["train_accuracy"] <= 1
    with pytest.raises(AssertionError, match="during a training step"):  # the guard does catch a read
        with _no_host_reads():
            float(torch.ones(()))


@pytest.mark.parametrize("rules", [(), "masks"])
def test_fit_the_device_way_gives_the_cpu_results_bit_for_bit(monkeypatch, rules):
    def run():
        model = _model()
        chosen = [] if rules == () else [_OutputMasks()]
        sgd = lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9)  # noqa: E731
        result = fit(model, _data(), optimizer=sgd, epochs=3, batch_size=8, rules=chosen, progress=False)
        return [{k: v for k, v in r.items() if k != "seconds"} for r in result.metrics], model.state_dict()

    host_metrics, host_state = run()
    for module in (dropout_module, dropconnect_module):
        monkeypatch.setattr(module, "draws_on_host", lambda device: False)
    monkeypatch.setattr(loop, "_reads_each_batch", lambda device: False)
    device_metrics, device_state = run()
    assert device_metrics == host_metrics
    assert host_state.keys() == device_state.keys()
    assert all(
        torch.equal(host_state[k], device_state[k]) for k in host_state if isinstance(host_state[k], torch.Tensor)
    )


def test_a_nonfinite_loss_found_at_the_end_of_the_epoch_names_its_batch(device_paths):
    data = _data()
    data.X_train[20, 0] = float("nan")  # a NaN input: batch 3 of 8 (no shuffle changes which rows are there)
    with pytest.raises(DivergenceError, match=r"in epoch 1: the training loss is nan in batch \d of 8 .*epoch ends"):
        fit(_model(), data, epochs=2, batch_size=8, progress=False)


# ---------------------------------------------------------------- devices of files
@pytest.mark.parametrize("where", ["cpu", torch.device("cpu")])
def test_save_and_load_map_location_round_trip(tmp_path, where):
    net = SparseLinear(10, 5, density=0.4, seed=2, dtype=torch.float64)
    x = torch.randn(3, 10, dtype=torch.float64)
    path = tmp_path / "net.pt"
    dagnet.save(net, path)
    back = dagnet.load(path, map_location=where)
    assert back.weight.device == torch.device("cpu") and all(b.device.type == "cpu" for b in back.buffers())
    assert back.state_dict().keys() == net.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), back.state_dict().values()))
    assert torch.equal(back(x), net(x))


@pytest.mark.parametrize("where", ["cpu", torch.device("cpu")])
def test_training_checkpoints_load_on_the_cpu_and_resume(tmp_path, where):
    sgd = lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9)  # noqa: E731
    straight = _model("numba")
    fit(straight, _data(), optimizer=sgd, epochs=3, batch_size=16, progress=False)
    stopped = _model("numba")
    fit(stopped, _data(), optimizer=sgd, epochs=2, batch_size=16, out_dir=tmp_path, progress=False)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    tensors = [t for t in state["model"].values() if isinstance(t, torch.Tensor)]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    resumed = _model("numba").to(where)
    fit(resumed, _data(), optimizer=sgd, epochs=3, batch_size=16, out_dir=tmp_path, resume=True, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()))


def test_keep_mask_in_chunks_is_the_same_mask(monkeypatch):
    import dagnet.nn.dropout as dropout

    whole = torch.tensor([dropout.initial_state(11)])
    expected = dropout.keep_mask(whole, 1001, 0.4)
    monkeypatch.setattr(dropout, "_CHUNK", 64)
    chunked = torch.tensor([dropout.initial_state(11)])
    assert torch.equal(dropout.keep_mask(chunked, 1001, 0.4), expected) and torch.equal(chunked, whole)
