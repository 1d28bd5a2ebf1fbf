"""The CPU engine's threads: numba's wait policy, the work-sharing kernels, the thread count per pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numba
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dagnet.engine.numba_kernels as nk
import dagnet.engine.numba_runtime as numba_runtime
import dagnet.engine.schedule as schedule
import dagnet.engine.threads as threads
from dagnet import DAGNetwork, DeadNodeWarning
from dagnet.engine.schedule import CHUNKS_PER_THREAD, build_schedule
from dagnet.topology import erdos_renyi_dag
from reference import net_grads, net_values, reference_forward
from strategies import build_case, dag_cases

TWO_CORES = pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS < 2, reason="numba starts one thread per core: this machine has one"
)

# A fresh interpreter: numba's layer starts once per process, and GNU OpenMP reads its settings when loaded.
_PROBE = """
import ctypes, json, os, sys
import torch
torch.set_num_threads(2)
if sys.argv[1] == "numba-first":  # a parallel kernel of someone else's runs before dagnet's
    import numba, numpy as np

    @numba.njit(parallel=True)
    def total(a):
        s = 0.0
        for i in numba.prange(a.size):
            s += a[i]
        return s

    total(np.ones(8))
import dagnet
import dagnet.engine.schedule as schedule
from dagnet.engine.threads import start_numba_threads
schedule.PARALLEL_MIN_WORK = 1
net = dagnet.DAGNetwork(dagnet.topology.erdos_renyi_dag(40, 0.3, seed=0), seed=0)
net(torch.ones(3, net.in_features)).sum().backward()
config = start_numba_threads()
sys.stderr.flush()
for path in config.openmp:  # each runtime that can prints its settings to stderr (OpenMP 5.1)
    lib = ctypes.CDLL(path)
    if hasattr(lib, "omp_display_env"):
        os.write(2, ("@@ " + path + "\\n").encode())
        lib.omp_display_env(1)
print(json.dumps(dict(layer=config.layer, spin=config.spin_count, user=config.user_policy,
                      torch_threads=torch.get_num_threads(), env=os.environ.get("GOMP_SPINCOUNT"),
                      layer_now=__import__("numba").threading_layer())))
"""


def _probe(mode="plain", **env):
    base = {k: v for k, v in os.environ.items() if k not in threads.WAIT_VARIABLES}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], env={**base, **env}, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    spins = {}  # library -> the GOMP_SPINCOUNT it reports
    lib = None
    for line in out.stderr.splitlines():
        if line.startswith("@@ "):
            lib = line[3:]
        elif "GOMP_SPINCOUNT" in line and lib is not None:
            spins[lib] = line.split("'")[1]
    return json.loads(out.stdout.strip().splitlines()[-1]), spins


def test_numba_workers_spin_briefly_and_torch_is_untouched():
    result, spins = _probe()
    assert result["layer"] == result["layer_now"]
    assert result["torch_threads"] == 2  # torch's setting survives numba's start
    assert result["env"] is None  # the variable was set for numba's load only
    numba_lib = [p for p in spins if "torch" not in p]
    if result["layer"] == "omp" and numba_lib:  # numba's OpenMP runtime is not torch's and reports
        assert result["spin"] == threads.SPIN_COUNT
        assert [spins[p] for p in numba_lib] == [str(threads.SPIN_COUNT)]


@pytest.mark.parametrize("variable, value", [("GOMP_SPINCOUNT", "1234"), ("OMP_WAIT_POLICY", "ACTIVE")])
def test_a_users_wait_policy_is_kept(variable, value):
    result, spins = _probe(**{variable: value})
    assert result["spin"] is None
    assert result["user"] == {variable: value}
    if variable == "GOMP_SPINCOUNT":
        assert result["env"] == value
        assert set(spins.values()) <= {value}  # as the user asked
    else:
        assert str(threads.SPIN_COUNT) not in spins.values()


def test_a_layer_started_before_dagnet_is_reported_as_such():
    result, spins = _probe("numba-first")
    assert result["spin"] is None
    assert str(threads.SPIN_COUNT) not in spins.values()


def test_start_is_done_once():
    assert threads.start_numba_threads() is threads.start_numba_threads()


@pytest.fixture
def cores(monkeypatch):
    """Set what the OS says: ``cores(total, running, own)``; the cache of the last answer is cleared."""

    def set_counts(total, running, own):
        monkeypatch.setattr(threads.os, "cpu_count", lambda: total)
        monkeypatch.setattr(threads, "_running_tasks", lambda: running)
        monkeypatch.setattr(threads, "_own_running_tasks", lambda: own)
        monkeypatch.setattr(threads, "_last_check", [-1.0, 0])

    return set_counts


@pytest.mark.parametrize(
    "total, running, own, free",
    [
        (2, 1, 1, 2),  # quiet: only the thread asking runs
        (2, 2, 1, 1),  # one other process
        (2, 3, 2, 1),  # one other process, and one of ours (a spinning worker) that does not count
        (2, 5, 1, 0),  # more other processes than cores
        (8, 3, 1, 6),
    ],
)
def test_free_cores(cores, total, running, own, free):
    cores(total, running, own)
    assert threads.free_cores(2) == free


def test_free_cores_reads_own_threads_only_when_needed(cores, monkeypatch):
    cores(4, 2, 1)

    def fail():
        raise AssertionError("read although the total sufficed")

    monkeypatch.setattr(threads, "_own_running_tasks", fail)
    assert threads.free_cores(2) == 3


@pytest.mark.parametrize("total, running, own, requested, used", [(2, 1, 1, 2, 2), (2, 2, 1, 2, 1), (2, 6, 1, 2, 1)])
def test_usable_threads(cores, total, running, own, requested, used):
    cores(total, running, own)
    assert threads.usable_threads(requested) == used
    assert threads.usable_threads(1) == 1


def test_usable_threads_without_proc(monkeypatch):
    def missing():
        raise OSError("no /proc")

    monkeypatch.setattr(threads, "_running_tasks", missing)
    monkeypatch.setattr(threads, "_last_check", [-1.0, 0])
    assert threads.free_cores() is None
    assert threads.usable_threads(3) == 3  # as asked


def test_usable_threads_reuses_a_recent_answer(cores, monkeypatch):
    cores(2, 1, 1)
    assert threads.usable_threads(2) == 2
    monkeypatch.setattr(threads, "_running_tasks", lambda: 9)  # the machine fills up
    assert threads.usable_threads(2) == 2  # within RECHECK_S: the same answer
    monkeypatch.setattr(threads, "RECHECK_S", -1.0)
    assert threads.usable_threads(2) == 1


def test_own_running_tasks_counts_this_thread():
    assert threads._own_running_tasks() >= 1
    assert threads._running_tasks() >= 1


@numba.njit(parallel=True)
def _claim_all(n, chunk, workers):
    """Each index of 0..n-1 as the chunk that covered it, chunks taken by ``workers`` threads."""
    owner = np.full(n, -1, dtype=np.int64)
    cursor = np.zeros(1, dtype=np.int64)
    for _ in numba.prange(workers):
        c = threads.claim(cursor, chunk)
        while c < n:
            for i in range(c, min(n, c + chunk)):
                owner[i] = c
            c = threads.claim(cursor, chunk)
    return owner


@TWO_CORES
@pytest.mark.parametrize("n, chunk", [(1, 1), (10, 3), (1000, 7), (5, 8)])
def test_claim_shares_every_index_out_once(n, chunk):
    owner = _claim_all(n, chunk, 2)
    assert np.array_equal(owner, np.arange(n) // chunk * chunk)


def test_claim_wants_an_int64_counter():
    @numba.njit
    def bad(cursor):
        return threads.claim(cursor, 1)

    with pytest.raises(numba.TypingError):
        bad(np.zeros(1, dtype=np.float64))


def test_parallel_segments_have_chunks():
    level_ptr = np.array([0, 10, 5010, 5011])
    work = np.array([0, 9000, 3])
    segs = build_schedule(level_ptr, work, set(), 2)
    assert [(s.lo, s.hi, s.parallel, s.chunk) for s in segs] == [
        (10, 5010, True, -(-5000 // (2 * CHUNKS_PER_THREAD))),
        (5010, 5011, False, 0),
    ]
    assert all(s.chunk == 0 for s in build_schedule(level_ptr, work, set(), 1))


@pytest.fixture
def every_level_parallel(monkeypatch):
    """Two threads on every level (none left out for want of a free core), in chunks of one node."""
    calls = {"forward": 0, "backward": 0}
    for name in ("forward", "backward"):
        kernel = getattr(nk, f"{name}_parallel")

        def counted(*args, _kernel=kernel, _name=name):
            calls[_name] += 1
            return _kernel(*args)

        monkeypatch.setattr(nk, f"{name}_parallel", counted)
    monkeypatch.setattr(schedule, "PARALLEL_MIN_WORK", 1)
    monkeypatch.setattr(schedule, "CHUNKS_PER_THREAD", 1 << 20)
    monkeypatch.setattr(numba_runtime, "usable_threads", lambda requested: requested)
    old = torch.get_num_threads()
    yield calls
    torch.set_num_threads(old)


def _run(net, x, upstream, count):
    torch.set_num_threads(count)
    net.zero_grad()
    xg = x.clone().requires_grad_(True)
    out = net(xg)
    (out * upstream).sum().backward()
    return out.detach(), xg.grad, net.weight.grad.clone(), net.bias.grad.clone()


@TWO_CORES
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=dag_cases())
def test_two_threads_match_one_and_the_reference(every_level_parallel, case):
    net = build_case(case, torch.float64, "numba")
    gen = torch.Generator().manual_seed(case["seed"])
    x = torch.randn(case["batch"], net.in_features, generator=gen, dtype=torch.float64)
    upstream = torch.randn(case["batch"], net.out_features, generator=gen, dtype=torch.float64)
    one = _run(net, x, upstream, 1)
    two = _run(net, x, upstream, 2)
    for a, b in zip(one, two):
        assert torch.equal(a, b)
    weight, bias = net_values(net)
    xr = x.clone().requires_grad_(True)
    ref = reference_forward(
        case["graph"], net.inputs, net.outputs, xr, weight, bias, case["activation"], case["output_activation"]
    )
    (ref * upstream).sum().backward()
    _close(two[0], ref)
    _close(two[1], xr.grad)
    dweight, dbias = net_grads(net)
    for e, g in dweight.items():
        _close(g, weight[e].grad)
    for v, g in dbias.items():
        _close(g, bias[v].grad)


def _close(a, b, tol=1e-10):
    """``a`` equals the reference ``b`` (None: zero, an unused leaf) to ``tol`` times its scale."""
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.zeros_like(a) if b is None else b.detach()
    if a.numel():
        assert float((a - b).abs().max()) <= tol * max(1.0, float(b.abs().max()))


@TWO_CORES
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(200, 1500),
    p=st.floats(0.005, 0.05),
    seed=st.integers(0, 2**31 - 1),
    batch=st.integers(1, 33),
    act=st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu"]),
    chunks=st.sampled_from([1, 3, CHUNKS_PER_THREAD, 1 << 20]),
    prefetch=st.booleans(),
)
def test_larger_graphs_are_bit_identical_for_any_thread_count_and_chunk(
    every_level_parallel, monkeypatch, n, p, seed, batch, act, chunks, prefetch
):
    monkeypatch.setattr(schedule, "CHUNKS_PER_THREAD", chunks)
    monkeypatch.setattr(numba_runtime, "_CACHE_BYTES", 0 if prefetch else 1 << 40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadNodeWarning)
        net = DAGNetwork(erdos_renyi_dag(n, p, seed=seed, as_wiring=True), activation=act, seed=seed % 1000)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, net.in_features, generator=gen)
    upstream = torch.randn(batch, net.out_features, generator=gen)
    one = _run(net, x, upstream, 1)
    before = dict(every_level_parallel)
    two = _run(net, x, upstream, 2)
    assert every_level_parallel["forward"] > before["forward"] and every_level_parallel["backward"] > before["backward"]
    for a, b in zip(one, two):
        assert torch.equal(a, b)


@TWO_CORES
def test_a_pass_without_free_cores_runs_on_one_thread(monkeypatch):
    calls = []
    monkeypatch.setattr(schedule, "PARALLEL_MIN_WORK", 1)
    monkeypatch.setattr(numba_runtime, "usable_threads", lambda requested: calls.append(requested) or 1)
    monkeypatch.setattr(nk, "forward_parallel", lambda *a: pytest.fail("a parallel kernel ran"))
    monkeypatch.setattr(nk, "backward_parallel", lambda *a: pytest.fail("a parallel kernel ran"))
    net = DAGNetwork(erdos_renyi_dag(300, 0.05, seed=0, as_wiring=True), seed=0)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        net(torch.ones(4, net.in_features)).sum().backward()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)
    assert calls == [2, 2]  # asked once per pass
