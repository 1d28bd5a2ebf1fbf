"""``dagnet bench engine``: the training-step benchmark of the engine against its baselines.

For Erdős–Rényi DAGs (N in {1000, 2000, 4000, 8000}, p = 10/N and p = 0.01,
batch 128, float32) it measures, per implementation —
:class:`dagnet.DAGNetwork`, 4Ward's dense-masked levels
(:class:`~dagnet.bench.baselines.FourWardNet`) and the per-node loop
(:class:`~dagnet.bench.baselines.SequentialNet`, N <= 2000) — the
construction time, the number of levels, the median time of a full training
step (forward + MSE loss + backward + SGD update) and the peak memory; then
one scale run of dagnet alone on 100,000 nodes / 1,000,000 edges (and,
optionally, 1,000,000 nodes / 10,000,000 edges).

How it measures
---------------
* Time: in this process, one thread count at a time
  (``torch.set_num_threads``; dagnet's compiled kernels follow torch's
  setting). After ``warmup`` untimed steps of each implementation, the
  ``repeats`` timed steps are interleaved: repeat ``r`` runs every
  implementation in turn, starting with a different one each time, so a burst
  of load on a shared machine hits all of them alike. Each turn is one untimed
  step, then a timed block of steps lasting about 20 ms: every implementation
  is timed with its own data in cache, as in a training loop, not right after
  another implementation has flushed the caches (which costs a
  sub-millisecond step as much again).
  Garbage collection is off while timing. The table gives the median.
* Correctness: before timing, the baselines' outputs on the benchmark batch
  must match dagnet's (float32, tolerance ``1e-4 x`` the largest output);
  otherwise :class:`BaselineMismatchError` stops the run.
* Memory: in a fresh process per (implementation, configuration), forked
  from a helper process that has only imported dagnet (a fresh interpreter
  each where there is no ``os.fork``). The process makes the wiring
  and the batch and warms the kernels up on a tiny network; its resident set
  size then (``VmRSS``) is the base. The
  peak RSS counter (``VmHWM``) is reset (``/proc/self/clear_refs``), the model
  is built and trained for a few steps, and the figure reported is the
  highest ``VmHWM`` minus the base: what the model, its plan and its training
  step add at their peak. Where the counter cannot be reset (not Linux),
  ``ru_maxrss`` is used instead (then a lower bound).
* Load: the 1-minute load average (``os.getloadavg``) is recorded before the
  run, before every row and after the run.

Examples
--------
From the command line::

    dagnet bench engine                         # grid + 100k/1M scale run, 1 and 2 threads
    dagnet bench engine --quick                 # a tiny smoke test
    dagnet bench engine --scale huge            # only the 1M-node / 10M-edge run
    python -m dagnet.bench.engine --sizes 1000 2000 --threads 1 --no-scale
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import select
import shlex
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

import numba
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DagnetError
from ..nn import DAGNetwork
from ..plan import compile_plan
from ..seeding import torch_generator
from ..topology.erdos_renyi import erdos_renyi_dag
from ..wiring import Wiring
from .baselines import FourWardNet, SequentialNet, fourward_dense_size

__all__ = [
    "BenchConfig",
    "GridPoint",
    "GridRow",
    "ScaleRow",
    "BenchResult",
    "BaselineMismatchError",
    "make_grid",
    "check_outputs",
    "time_alternating",
    "measure_peak_memory",
    "run_benchmark",
    "format_report",
    "markdown_table",
    "add_arguments",
    "config_from_args",
    "run_from_args",
    "main",
]

IMPLEMENTATIONS = ("dagnet", "4ward", "sequential")
NAMES = {"dagnet": "dagnet", "4ward": "4Ward", "sequential": "seq"}
GRID_SIZES = (1000, 2000, 4000, 8000)
GRID_DENSITIES = ("10/N", "0.01")
QUICK_SIZES = (100, 200)
QUICK_DENSITIES = ("10/N",)
SEQUENTIAL_MAX_N = 2000
#: Scale runs: (nodes, expected edges); the ER probability is chosen to give that many edges.
SCALE_RUNS = {"standard": (100_000, 1_000_000), "huge": (1_000_000, 10_000_000)}
SCALE_CHOICES = ("standard", "huge", "all")
#: The engine's targets (checked and reported by the harness, never asserted in tests).
TARGET_SPEEDUP = 20.0
TARGET_BUILD_S = 5.0
TARGET_STEP_MS = {"standard": 150.0, "huge": 4000.0}
TARGET_PEAK_MIB = {"standard": 1024.0, "huge": 2560.0}
LEARNING_RATE = 1e-3
#: Relative tolerance of the output check (float32, deep networks).
CHECK_RTOL = 1e-4
MEMORY_STEPS = 2
DTYPE = torch.float32


class BaselineMismatchError(DagnetError, RuntimeError):
    """A baseline's outputs differ from dagnet's on the benchmark batch."""


# --------------------------------------------------------------------------- configuration
def _density_value(spec: str, n: int) -> float:
    if spec.endswith("/N"):
        return min(1.0, float(spec[:-2]) / n)
    return float(spec)


def _check_density(spec: str) -> str:
    """Return ``spec`` ("10/N" style or a float in (0, 1]) or raise ValueError."""
    text = str(spec).strip()
    try:
        value = float(text[:-2]) if text.endswith("/N") else float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and (text.endswith("/N") or value <= 1)) or not math.isfinite(value):
        raise ValueError(
            f"A density must be a probability in (0, 1] or 'C/N' with C > 0 (mean degree C). Got {spec!r} instead."
        )
    return text


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"The '{name}' parameter must be an int >= {minimum}. Got {value!r} instead.")
    return int(value)


@dataclass
class BenchConfig:
    """What one benchmark run does.

    Parameters
    ----------
    sizes : sequence of int
        Node counts of the grid (empty: no grid).
    densities : sequence of str
        Edge probabilities of the grid: a float in (0, 1] or ``"C/N"``.
    threads : sequence of int
        Thread counts; every row is measured once per count.
    repeats : int
        Timed steps per implementation and row (the median is reported).
    warmup : int
        Untimed steps per implementation before timing.
    batch : int
        Batch size.
    seed : int
        Seed of the graphs, the initial values and the batch.
    sequential_max : int
        Largest N for which the per-node baseline runs.
    memory : bool
        Measure peak memory (one child process per implementation and row).
    memory_jobs : int
        Memory child processes run at once (they do not disturb each other's RSS,
        and never run while timing).
    scale : sequence of str
        Scale runs to do after the grid: names of :data:`SCALE_RUNS`.

    Examples
    --------
    >>> BenchConfig(sizes=[100], densities=["10/N"], threads=[1], repeats=2).repeats
    2
    >>> BenchConfig(repeats=0)
    Traceback (most recent call last):
        ...
    ValueError: The 'repeats' parameter must be an int >= 1. Got 0 instead.
    """

    sizes: Sequence[int] = GRID_SIZES
    densities: Sequence[str] = GRID_DENSITIES
    threads: Sequence[int] = (1, 2)
    repeats: int = 10
    warmup: int = 2
    batch: int = 128
    seed: int = 0
    sequential_max: int = SEQUENTIAL_MAX_N
    memory: bool = True
    memory_jobs: int = 2
    scale: Sequence[str] = ("standard",)

    def __post_init__(self) -> None:
        self.sizes = tuple(_positive_int("sizes", n, 2) for n in self.sizes)
        self.densities = tuple(_check_density(d) for d in self.densities)
        self.threads = tuple(_positive_int("threads", t) for t in self.threads)
        if not self.threads:
            raise ValueError("The 'threads' parameter must list at least one thread count.")
        self.repeats = _positive_int("repeats", self.repeats)
        self.warmup = _positive_int("warmup", self.warmup, 0)
        self.batch = _positive_int("batch", self.batch)
        self.seed = _positive_int("seed", self.seed, 0)
        self.sequential_max = _positive_int("sequential_max", self.sequential_max, 0)
        self.memory_jobs = _positive_int("memory_jobs", self.memory_jobs)
        self.scale = tuple(self.scale)
        for kind in self.scale:
            if kind not in SCALE_RUNS:
                raise ValueError(
                    f"The 'scale' parameter must list names among {tuple(SCALE_RUNS)}. Got {kind!r} instead."
                )


@dataclass(frozen=True)
class GridPoint:
    """One graph of the grid: ``n`` nodes, edge probability ``p`` (from ``density``)."""

    n: int
    p: float
    density: str

    @property
    def label(self) -> str:
        """``p`` as shown in the table, e.g. ``0.005 (10/N)``."""
        p = f"{self.p:.3g}"
        return f"{p} ({self.density})" if self.density.endswith("/N") else p


def make_grid(sizes: Sequence[int], densities: Sequence[str]) -> list[GridPoint]:
    """Return the grid points, sizes outer, densities inner, without duplicates.

    Two densities giving the same ``p`` for one ``n`` (10/N and 0.01 at
    N = 1000) make one point, labelled by the first.

    Examples
    --------
    >>> [(g.n, g.label) for g in make_grid([1000, 2000], ["10/N", "0.01"])]
    [(1000, '0.01 (10/N)'), (2000, '0.005 (10/N)'), (2000, '0.01')]
    """
    points: list[GridPoint] = []
    seen: set = set()
    for n in sizes:
        for d in densities:
            p = _density_value(_check_density(d), n)
            key = (n, round(p, 12))
            if key not in seen:
                seen.add(key)
                points.append(GridPoint(int(n), p, d))
    return points


# --------------------------------------------------------------------------- results
@dataclass
class GridRow:
    """Measurements of one grid point at one thread count.

    Dicts are keyed by implementation (``"dagnet"``, ``"4ward"``,
    ``"sequential"``); an implementation that did not run is absent.
    """

    threads: int
    point: GridPoint
    edges: int
    levels: int
    dense_size: int  # entries of 4Ward's dense weight blocks
    load: float  # 1-minute load average before the row
    build_s: dict[str, float] = field(default_factory=dict)
    step_s: dict[str, list[float]] = field(default_factory=dict)
    peak_mib: dict[str, float] = field(default_factory=dict)
    max_abs_diff: dict[str, float] = field(default_factory=dict)

    def step_ms(self, impl: str) -> float | None:
        """Median step time of ``impl`` in milliseconds (None if it did not run)."""
        times = self.step_s.get(impl)
        return None if not times else 1e3 * statistics.median(times)

    def speedup(self, impl: str) -> float | None:
        """Median step time of ``impl`` over dagnet's (None if either did not run)."""
        mine, other = self.step_ms("dagnet"), self.step_ms(impl)
        return None if mine is None or other is None else other / mine


@dataclass
class ScaleRow:
    """Measurements of one scale run (dagnet alone) at one thread count."""

    kind: str
    threads: int
    n: int
    edges: int
    levels: int
    generate_s: float
    plan_s: float  # validation + layering + plan (compile_plan)
    build_s: float  # the whole DAGNetwork constructor (includes the plan)
    step_s: list[float]
    load: float
    fourward_dense: int  # entries 4Ward's dense blocks would need (not built)
    peak_build_mib: float | None = None
    peak_step_mib: float | None = None

    def step_ms(self) -> float:
        """Median step time in milliseconds."""
        return 1e3 * statistics.median(self.step_s)

    @property
    def peak_mib(self) -> float | None:
        """Overall peak (building or training), MiB above the base."""
        vals = [v for v in (self.peak_build_mib, self.peak_step_mib) if v is not None]
        return max(vals) if vals else None


@dataclass
class BenchResult:
    """Everything one run measured, with the conditions it ran under."""

    config: BenchConfig
    command: str
    grid: list[GridRow]
    scale: list[ScaleRow]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    memory_method: str
    started: str
    seconds: float


# --------------------------------------------------------------------------- pieces
def _wiring(n: int, p: float, seed: int) -> Wiring:
    return erdos_renyi_dag(n, p, seed=seed, as_wiring=True)


def _batch(wiring: Wiring, batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Input (sources) and target (sinks) of the benchmark, from ``seed``."""
    n_in = int((wiring.in_degree() == 0).sum())
    n_out = int((wiring.out_degree() == 0).sum())
    g = torch_generator(seed)
    x = torch.randn(batch, n_in, generator=g, dtype=DTYPE)
    y = torch.randn(batch, n_out, generator=g, dtype=DTYPE)
    return x, y


def _build(impl: str, wiring: Wiring, seed: int) -> torch.nn.Module:
    """Build ``impl`` on ``wiring`` (dagnet from the seed; baselines from the wiring's values)."""
    if impl == "dagnet":
        return DAGNetwork(wiring, seed=seed, dtype=DTYPE)
    if impl == "4ward":
        return FourWardNet(wiring, seed=seed, dtype=DTYPE)
    if impl == "sequential":
        return SequentialNet(wiring, seed=seed, dtype=DTYPE)
    raise ValueError(f"Unknown implementation {impl!r}; expected one of {IMPLEMENTATIONS}.")


def _stepper(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    """Return a function doing one full training step of ``model``: MSE loss, plain SGD.

    The update is ``p -= lr * p.grad`` per parameter, written out: it is what
    ``torch.optim.SGD`` (no momentum, CPU) does, without importing
    ``torch._dynamo`` (1.5 s per memory child) or its bookkeeping.
    """
    params = [p for p in model.parameters() if p.requires_grad]

    def step() -> None:
        for p in params:
            p.grad = None
        loss = F.mse_loss(model(x), y)
        loss.backward()
        with torch.no_grad():
            for p in params:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-LEARNING_RATE)

    return step


def time_alternating(
    steps: dict[str, Callable[[], None]], repeats: int, warmup: int = 1, turn_seconds: float = 0.02
) -> dict[str, list[float]]:
    """Time each callable ``repeats`` times, interleaved, after ``warmup`` untimed calls each.

    Repeat ``r`` gives every callable a turn, starting with callable
    ``r mod len(steps)``, so slow phases of a shared machine spread evenly. A
    turn is one untimed call, then a timed block of consecutive calls lasting
    about ``turn_seconds`` (at least one call): each callable is timed warm, as
    in a loop of its own, and a fast one is not charged for the caches a slow
    one flushed. Garbage collection is off while timing.

    Returns
    -------
    dict of str to list of float
        Seconds per call (the mean over each timed block), one per repeat.

    Examples
    --------
    >>> times = time_alternating({"a": lambda: None, "b": lambda: None}, repeats=3)
    >>> sorted(times), [len(t) for t in times.values()]
    (['a', 'b'], [3, 3])
    """
    repeats = _positive_int("repeats", repeats)
    warmup = _positive_int("warmup", warmup, 0)
    names = list(steps)
    block = {}
    for name in names:
        t0 = time.perf_counter()
        for _ in range(max(1, warmup)):
            steps[name]()
        per_call = (time.perf_counter() - t0) / max(1, warmup)
        block[name] = int(min(50, max(1, turn_seconds // max(per_call, 1e-9))))
    times: dict[str, list[float]] = {name: [] for name in names}
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for r in range(repeats):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                steps[name]()  # back in cache after the other implementations' turns
                t0 = time.perf_counter()
                for _ in range(block[name]):
                    steps[name]()
                times[name].append((time.perf_counter() - t0) / block[name])
    finally:
        if was_enabled:
            gc.enable()
    return times


def check_outputs(models: dict[str, torch.nn.Module], x: torch.Tensor, where: str) -> dict[str, float]:
    """Check that every model's output on ``x`` matches ``models["dagnet"]``'s.

    The tolerance is ``CHECK_RTOL`` (1e-4) times the largest absolute output
    of dagnet: float32 rounding grows with depth, and outputs may be large.

    Returns
    -------
    dict of str to float
        The largest absolute difference of each other model.

    Raises
    ------
    BaselineMismatchError
        If a model's output has another shape or differs by more than the
        tolerance (the message gives both numbers and ``where``).

    Examples
    --------
    >>> lin = torch.nn.Linear(2, 1)
    >>> check_outputs({"dagnet": lin, "4ward": lin}, torch.ones(3, 2), "doc")
    {'4ward': 0.0}
    """
    with torch.no_grad():
        ref = models["dagnet"](x)
        scale = max(float(ref.abs().max()) if ref.numel() else 0.0, 1e-6)
        diffs = {}
        for name, model in models.items():
            if name == "dagnet":
                continue
            out = model(x)
            if out.shape != ref.shape:
                raise BaselineMismatchError(
                    f"{NAMES.get(name, name)} gives outputs of shape {tuple(out.shape)}, dagnet "
                    f"{tuple(ref.shape)} ({where})."
                )
            diff = float((out - ref).abs().max()) if ref.numel() else 0.0
            if not math.isfinite(diff) or diff > CHECK_RTOL * scale:
                raise BaselineMismatchError(
                    f"{NAMES.get(name, name)} disagrees with dagnet ({where}): largest output difference "
                    f"{diff:.3g} > tolerance {CHECK_RTOL * scale:.3g} ({CHECK_RTOL:g} x the largest "
                    f"output, {scale:.3g}). The benchmark would compare different functions."
                )
            diffs[name] = diff
    return diffs


def _warm_up() -> None:
    """Load the compiled kernels and torch's lazy state, so no timing pays for them."""
    wiring = _wiring(24, 0.3, 0)
    x, y = _batch(wiring, 4, 0)
    net = _build("dagnet", wiring, 0)
    ref = net.to_wiring()
    for model in (net, _build("4ward", ref, 0), _build("sequential", ref, 0)):
        _stepper(model, x, y)()


# --------------------------------------------------------------------------- memory
def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process; False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def _maxrss_kib() -> float:
    import resource

    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / 1024.0 if sys.platform == "darwin" else float(value)  # bytes on macOS


def _release_free_memory() -> None:
    """Give freed heap memory back to the OS (glibc), so the base RSS holds only live data."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _memory_worker(spec: dict) -> dict:
    """Body of a memory child process: see the module docstring. Returns MiB figures.

    The baselines draw their values from the seed (DAGNetwork's rule) instead of
    copying a DAGNetwork's: the values do not change the memory, and no
    DAGNetwork then lives (or has lived) in the process.
    """
    torch.set_num_threads(int(spec["threads"]))
    impl, seed = spec["impl"], int(spec["seed"])
    wiring = _wiring(int(spec["n"]), float(spec["p"]), seed)
    x, y = _batch(wiring, int(spec["batch"]), seed)
    _warm_up()
    _release_free_memory()
    base = _status_kib("VmRSS")
    exact = base is not None and _reset_peak()
    if not exact:
        base = _maxrss_kib()

    def peak() -> float:
        return float(_status_kib("VmHWM")) if exact else _maxrss_kib()

    model = _build(impl, wiring, seed)
    build_peak = peak()
    if exact:
        _reset_peak()
    step = _stepper(model, x, y)
    for _ in range(int(spec.get("steps", MEMORY_STEPS))):
        step()
    step_peak = peak()
    mib = 1024.0
    return {
        "base_mib": base / mib,
        "build_mib": (build_peak - base) / mib,
        "step_mib": (step_peak - base) / mib,
        "method": "VmHWM" if exact else "ru_maxrss",
    }


def _memory_worker_main() -> None:  # pragma: no cover - runs in a fresh interpreter
    """Entry of a one-spec memory process (where there is no ``os.fork``)."""
    print(json.dumps(_memory_worker(json.loads(sys.argv[1]))), flush=True)


def _memory_server() -> None:  # pragma: no cover - runs in a helper process
    """Serve memory measurements: fork one fresh child per request.

    Reads one JSON request ``{"id", "spec"}`` per line on stdin; each child
    writes one JSON line ``{"id", "ok", "result" | "error"}`` to stdout (lines
    this short are written atomically). This process only imports dagnet, so
    every child starts from the same clean state without paying for the
    imports again. A child killed by a signal is reported as an error.
    """
    out = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # stray prints must not mix with the replies

    def reply(message: dict) -> None:
        os.write(out, (json.dumps(message) + "\n").encode())

    children: dict[int, object] = {}
    buffer = b""
    open_ = True
    while open_ or children:
        if open_ and select.select([0], [], [], 0.05 if children else None)[0]:
            chunk = os.read(0, 1 << 16)
            open_ = bool(chunk)
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    code = 0
                    try:
                        message = {"id": request["id"], "ok": True, "result": _memory_worker(request["spec"])}
                    except BaseException:
                        message = {"id": request["id"], "ok": False, "error": traceback.format_exc()[-3000:]}
                        code = 1
                    reply(message)
                    os._exit(code)
                children[pid] = request["id"]
        elif not open_:
            time.sleep(0.05)
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            ident = children.pop(pid)
            if os.WIFSIGNALED(status):
                reply(
                    {
                        "id": ident,
                        "ok": False,
                        "error": f"the process was killed by signal {os.WTERMSIG(status)} (out of memory?)",
                    }
                )


_SERVER_CODE = "from dagnet.bench.engine import _memory_server; _memory_server()"
_WORKER_CODE = "from dagnet.bench.engine import _memory_worker_main; _memory_worker_main()"


class _MemoryServer:
    """The harness's side of :func:`_memory_server` (started once, closed at the end)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER_CODE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self.next_id = 0

    def measure(self, specs: list[dict], jobs: int) -> list[dict]:
        results: dict[int, dict] = {}
        ids: list[int] = []
        pending = list(specs)
        running = 0
        while pending or running:
            while pending and running < jobs:
                ids.append(self.next_id)
                self.proc.stdin.write(json.dumps({"id": self.next_id, "spec": pending.pop(0)}) + "\n")
                self.proc.stdin.flush()
                self.next_id += 1
                running += 1
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"The memory server stopped (exit {self.proc.poll()}).")
            message = json.loads(line)
            running -= 1
            if not message["ok"]:
                spec = specs[ids.index(message["id"])]
                raise RuntimeError(f"The memory measurement of {spec} failed:\n{message['error']}")
            results[message["id"]] = message["result"]
        return [results[i] for i in ids]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()


_SERVER: _MemoryServer | None = None


def _close_memory_server() -> None:
    global _SERVER
    if _SERVER is not None:
        _SERVER.close()
        _SERVER = None


def measure_peak_memory(specs: list[dict], jobs: int = 1) -> list[dict]:
    """Measure the peak memory of each spec in its own fresh process.

    Each spec names ``impl`` (dagnet, 4ward or sequential), ``n``, ``p``,
    ``seed``, ``batch`` and ``threads``; the process rebuilds the same
    Erdős–Rényi wiring and batch, then builds and trains the model (see the
    module docstring for what is counted). The processes are forked from a
    helper that has imported dagnet and done nothing else (a fresh
    interpreter each where there is no ``os.fork``); at most ``jobs`` run at
    once. The helper lives until :func:`run_benchmark` ends.

    Returns
    -------
    list of dict
        Per spec: ``base_mib`` (RSS before building), ``build_mib`` and
        ``step_mib`` (peak above the base while building, and while training
        with the model in memory), and the ``method`` used.

    Raises
    ------
    RuntimeError
        If a measurement fails (its traceback is included).

    Examples
    --------
    >>> spec = dict(impl="dagnet", n=50, p=0.1, seed=0, batch=8, threads=1)
    >>> measure_peak_memory([spec])[0]["method"] in ("VmHWM", "ru_maxrss")  # doctest: +SKIP
    True
    """
    global _SERVER
    jobs = _positive_int("jobs", jobs)
    if hasattr(os, "fork"):
        if _SERVER is None or _SERVER.proc.poll() is not None:
            _SERVER = _MemoryServer()
        return _SERVER.measure(specs, jobs)
    results = []
    for spec in specs:  # one fresh interpreter per spec
        done = subprocess.run([sys.executable, "-c", _WORKER_CODE, json.dumps(spec)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"The memory measurement of {spec} failed:\n{done.stderr[-3000:]}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results


# --------------------------------------------------------------------------- runs
def _progress(stream: TextIO | None, text: str) -> None:
    if stream is not None:
        print(text, file=stream, flush=True)


def _run_point(
    point: GridPoint, threads: int, cfg: BenchConfig, wiring: Wiring, x: torch.Tensor, y: torch.Tensor
) -> GridRow:
    torch.set_num_threads(threads)
    load = os.getloadavg()[0]
    gc.collect()
    impls = [i for i in IMPLEMENTATIONS if i != "sequential" or point.n <= cfg.sequential_max]
    models: dict[str, torch.nn.Module] = {}
    build: dict[str, float] = {}
    ref = None
    for impl in impls:
        t0 = time.perf_counter()
        models[impl] = _build(impl, wiring if impl == "dagnet" else ref, cfg.seed)
        build[impl] = time.perf_counter() - t0
        if impl == "dagnet":
            ref = models["dagnet"].to_wiring()  # the same weights for the baselines
    where = f"N={point.n}, p={point.label}, seed={cfg.seed}"
    diffs = check_outputs(models, x, where)
    fw = models["4ward"]
    row = GridRow(
        threads, point, wiring.num_edges, models["dagnet"].num_layers, fw.dense_size, load, build, max_abs_diff=diffs
    )
    if fw.num_layers != row.levels:
        raise BaselineMismatchError(f"4Ward has {fw.num_layers} levels, dagnet {row.levels} ({where}).")
    steps = {impl: _stepper(m, x, y) for impl, m in models.items()}
    row.step_s = time_alternating(steps, cfg.repeats, cfg.warmup)
    del steps, models, fw, ref
    gc.collect()
    if cfg.memory:
        specs = [dict(impl=i, n=point.n, p=point.p, seed=cfg.seed, batch=cfg.batch, threads=threads) for i in impls]
        for impl, res in zip(impls, measure_peak_memory(specs, cfg.memory_jobs)):
            row.peak_mib[impl] = max(res["build_mib"], res["step_mib"])
    return row


def _run_scale(kind: str, cfg: BenchConfig, progress: TextIO | None) -> list[ScaleRow]:
    n, edges = SCALE_RUNS[kind]
    p = edges / (n * (n - 1) / 2)
    _progress(progress, f"[scale {kind}] generating an Erdős–Rényi DAG: N={n:,}, p={p:.3g} ...")
    t0 = time.perf_counter()
    wiring = _wiring(n, p, cfg.seed)
    generate_s = time.perf_counter() - t0
    dense = fourward_dense_size(wiring)
    x, y = _batch(wiring, cfg.batch, cfg.seed)
    rows = []
    for threads in cfg.threads:
        torch.set_num_threads(threads)
        load = os.getloadavg()[0]
        gc.collect()
        t0 = time.perf_counter()
        compile_plan(wiring)
        plan_s = time.perf_counter() - t0
        gc.collect()
        t0 = time.perf_counter()
        net = _build("dagnet", wiring, cfg.seed)
        build_s = time.perf_counter() - t0
        times = time_alternating({"dagnet": _stepper(net, x, y)}, cfg.repeats, cfg.warmup)["dagnet"]
        row = ScaleRow(
            kind, threads, n, wiring.num_edges, net.num_layers, generate_s, plan_s, build_s, times, load, dense
        )
        del net
        gc.collect()
        if cfg.memory:
            res = measure_peak_memory([dict(impl="dagnet", n=n, p=p, seed=cfg.seed, batch=cfg.batch, threads=threads)])[
                0
            ]
            row.peak_build_mib, row.peak_step_mib = res["build_mib"], res["step_mib"]
        peak = f", peak {row.peak_mib:.0f} MiB" if row.peak_mib is not None else ""
        _progress(
            progress,
            f"[scale {kind}] threads={threads}: edges={row.edges:,}, levels={row.levels}, "
            f"plan {plan_s:.2f} s, build {build_s:.2f} s, step {row.step_ms():.1f} ms"
            f"{peak}; load {load:.2f}",
        )
        rows.append(row)
    return rows


def _memory_method() -> str:
    if sys.platform.startswith("linux") and os.access("/proc/self/clear_refs", os.W_OK):
        return "VmHWM"
    return "ru_maxrss"


def run_benchmark(config: BenchConfig, command: str = "", progress: TextIO | None = None) -> BenchResult:
    """Run the grid and the scale runs of ``config``; return every measurement.

    Sets ``torch.set_num_threads`` per row and restores the previous count at
    the end. Writes one progress line per row to ``progress`` (None: silent).

    Raises
    ------
    BaselineMismatchError
        If a baseline's outputs differ from dagnet's.

    Examples
    --------
    >>> cfg = BenchConfig(sizes=[60], densities=["10/N"], threads=[1], repeats=2, scale=[])
    >>> result = run_benchmark(cfg, progress=None)  # doctest: +SKIP
    >>> result.grid[0].speedup("4ward") > 0  # doctest: +SKIP
    True
    """
    started = time.strftime("%Y-%m-%d %H:%M:%S %z")
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    old_threads = torch.get_num_threads()
    grid_rows: list[GridRow] = []
    scale_rows: list[ScaleRow] = []
    try:
        _warm_up()
        points = make_grid(config.sizes, config.densities)
        total = len(points) * len(config.threads)
        k = 0
        for point in points:
            wiring = _wiring(point.n, point.p, config.seed)
            x, y = _batch(wiring, config.batch, config.seed)
            for threads in config.threads:
                k += 1
                row = _run_point(point, threads, config, wiring, x, y)
                grid_rows.append(row)
                parts = [f"{NAMES[i]} {row.step_ms(i):.2f} ms" for i in IMPLEMENTATIONS if i in row.step_s]
                _progress(
                    progress,
                    f"[{k}/{total}] N={point.n} p={point.label} threads={threads}: "
                    f"edges={row.edges}, levels={row.levels}; "
                    + ", ".join(parts)
                    + f"; {row.speedup('4ward'):.1f}x vs 4Ward; load {row.load:.2f}",
                )
        for kind in config.scale:
            scale_rows.extend(_run_scale(kind, config, progress))
    finally:
        torch.set_num_threads(old_threads)
        _close_memory_server()
    return BenchResult(
        config,
        command,
        grid_rows,
        scale_rows,
        load_before,
        os.getloadavg(),
        _memory_method() if config.memory else "not measured",
        started,
        time.perf_counter() - t_start,
    )


# --------------------------------------------------------------------------- report
GRID_COLUMNS = (
    "threads",
    "N",
    "p",
    "edges",
    "levels",
    "4Ward dense/edges",
    "build s dagnet",
    "build s 4Ward",
    "build s seq",
    "step ms dagnet",
    "step ms 4Ward",
    "step ms seq",
    "speed-up vs 4Ward",
    "speed-up vs seq",
    "peak MiB dagnet",
    "peak MiB 4Ward",
    "peak MiB seq",
    "load",
)
SCALE_COLUMNS = (
    "run",
    "threads",
    "N",
    "edges",
    "levels",
    "generate s",
    "plan s",
    "build s",
    "step ms",
    "peak MiB build",
    "peak MiB step",
    "4Ward dense entries (not built)",
    "load",
)
_MISSING = "—"


def _fmt(value, spec: str) -> str:
    return _MISSING if value is None else format(value, spec)


def _grid_cells(row: GridRow) -> list[str]:
    def build(i):
        return _fmt(row.build_s.get(i), ".3f")

    def step(i):
        ms = row.step_ms(i)
        return _fmt(ms, ".1f" if ms is not None and ms >= 10 else ".2f")

    def speed(i):
        s = row.speedup(i)
        return _MISSING if s is None else f"{s:.1f}x"

    def peak(i):
        return _fmt(row.peak_mib.get(i), ".1f")

    return [
        str(row.threads),
        str(row.point.n),
        row.point.label,
        str(row.edges),
        str(row.levels),
        f"{row.dense_size / max(row.edges, 1):.0f}",
        build("dagnet"),
        build("4ward"),
        build("sequential"),
        step("dagnet"),
        step("4ward"),
        step("sequential"),
        speed("4ward"),
        speed("sequential"),
        peak("dagnet"),
        peak("4ward"),
        peak("sequential"),
        f"{row.load:.2f}",
    ]


def _scale_cells(row: ScaleRow) -> list[str]:
    return [
        row.kind,
        str(row.threads),
        f"{row.n:,}",
        f"{row.edges:,}",
        str(row.levels),
        f"{row.generate_s:.2f}",
        f"{row.plan_s:.2f}",
        f"{row.build_s:.2f}",
        f"{row.step_ms():.1f}",
        _fmt(row.peak_build_mib, ".0f"),
        _fmt(row.peak_step_mib, ".0f"),
        f"{row.fourward_dense:,} ({row.fourward_dense / max(row.edges, 1):.0f}x edges)",
        f"{row.load:.2f}",
    ]


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return a markdown table with the given header and rows of cells.

    Examples
    --------
    >>> print(markdown_table(["a", "b"], [["1", "22"]]))
    | a | b  |
    |---|----|
    | 1 | 22 |
    """
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    return "\n".join(lines)


def _targets(result: BenchResult) -> list[str]:
    lines = []

    def mark(ok: bool | None) -> str:
        return "not measured" if ok is None else ("met" if ok else "NOT met")

    for threads in sorted({r.threads for r in result.grid}):
        rows = [r for r in result.grid if r.threads == threads and r.speedup("4ward") is not None]
        if not rows:
            continue
        worst = min(rows, key=lambda r: r.speedup("4ward"))
        ok = worst.speedup("4ward") >= TARGET_SPEEDUP
        where = "the target is measured on 1 thread" if threads == 1 else "for information"
        lines.append(
            f"- Training step vs 4Ward, {threads} thread{'s' if threads > 1 else ''}: smallest "
            f"speed-up {worst.speedup('4ward'):.1f}x (N={worst.point.n}, p={worst.point.label}); "
            f"target >= {TARGET_SPEEDUP:.0f}x at every grid point ({where}): **{mark(ok)}**."
        )
    for kind in SCALE_RUNS:
        rows = [r for r in result.scale if r.kind == kind]
        if not rows:
            continue
        n, e = SCALE_RUNS[kind]
        if kind == "standard":
            build = max(r.build_s for r in rows)
            lines.append(
                f"- Construction of the {e:,}-edge DAG (whole DAGNetwork constructor, which "
                f"includes validation + layering + plan): {build:.2f} s (plan alone "
                f"{max(r.plan_s for r in rows):.2f} s); target < {TARGET_BUILD_S:.0f} s: "
                f"**{mark(build < TARGET_BUILD_S)}**."
            )
        two = [r for r in rows if r.threads == 2]
        step = two[0].step_ms() if two else None
        lines.append(
            f"- {n:,} nodes / {e:,} edges, batch {result.config.batch}, full step on 2 threads: "
            + (f"{step:.1f} ms" if step is not None else "not run (add --threads 2)")
            + f"; target < {TARGET_STEP_MS[kind]:.0f} ms: "
            f"**{mark(None if step is None else step < TARGET_STEP_MS[kind])}**."
        )
        peaks = [r.peak_mib for r in rows if r.peak_mib is not None]
        peak = max(peaks) if peaks else None
        lines.append(
            f"- {n:,} nodes / {e:,} edges, peak memory (building or training, above the base): "
            + (f"{peak:.0f} MiB" if peak is not None else "not measured")
            + f"; target < {TARGET_PEAK_MIB[kind]:.0f} MiB: "
            f"**{mark(None if peak is None else peak < TARGET_PEAK_MIB[kind])}**."
        )
    return lines


def format_report(result: BenchResult) -> str:
    """Return the markdown report of a run: conditions, tables, targets and method.

    Examples
    --------
    >>> cfg = BenchConfig(sizes=[], scale=[])
    >>> res = BenchResult(cfg, "dagnet bench engine", [], [], (0.1, 0.2, 0.3), (0.1, 0.2, 0.3),
    ...                   "VmHWM", "2024-01-01", 1.0)
    >>> "Load average" in format_report(res)
    True
    """
    cfg = result.config
    lines = ["# dagnet engine benchmark", ""]
    if result.command:
        lines += [f"Command: `{result.command}`", ""]
    lines += [
        f"- Started {result.started}, took {result.seconds:.0f} s; machine: {platform.platform()}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs; Python "
        f"{platform.python_version()}, torch {torch.__version__}, numba {numba.__version__}, "
        f"numpy {np.__version__}.",
        f"- Load average (1, 5, 15 min): before {', '.join(f'{v:.2f}' for v in result.load_before)}; "
        f"after {', '.join(f'{v:.2f}' for v in result.load_after)}. The `load` column is the "
        "1-minute load average when the row started.",
        f"- Batch {cfg.batch}, float32, MSE loss, plain SGD; {cfg.warmup} warm-up steps, then "
        f"{cfg.repeats} timed turns per implementation, interleaved (a turn: one untimed step, then "
        f"a block of steps of about 20 ms, so each runs warm as in its own training loop); median "
        f"of the turns' mean step time shown. Threads: "
        f"{', '.join(map(str, cfg.threads))} (`torch.set_num_threads`; dagnet's kernels follow it).",
        f"- Peak memory: MiB above the RSS of a fresh child process (one per implementation and "
        f"row) after imports, wiring, batch and a kernel warm-up, while building the model and "
        f"training it for {MEMORY_STEPS} steps (method: {result.memory_method}; see "
        f"`dagnet.bench.engine`).",
        "",
    ]
    if result.grid:
        lines += [
            "## Erdős–Rényi grid",
            "",
            "dagnet = `DAGNetwork` (ASAP levels, sparse engine); 4Ward = dense masked matmul per ALAP "
            "layer (`dagnet.bench.FourWardNet`); seq = one neuron at a time (`SequentialNet`, "
            f"N <= {cfg.sequential_max}). Levels = sequential steps of dagnet and 4Ward, the input "
            "level included (longest path + 1); seq takes one step per non-input node. Build = "
            "constructor time (dagnet: validation + layering + plan + init). `4Ward dense/edges`: "
            "entries of 4Ward's dense weight blocks per edge (its masks hold as many again). "
            "Outputs of all implementations were checked equal before timing.",
            "",
            markdown_table(GRID_COLUMNS, [_grid_cells(r) for r in result.grid]),
            "",
        ]
    if result.scale:
        lines += [
            "## Scale runs (dagnet only)",
            "",
            "Erdős–Rényi DAGs with p chosen for the edge count; plan = `compile_plan` (validation + "
            "layering + plan), build = the whole `DAGNetwork` constructor. 4Ward's dense blocks are "
            "counted, not built.",
            "",
            markdown_table(SCALE_COLUMNS, [_scale_cells(r) for r in result.scale]),
            "",
        ]
    targets = _targets(result)
    if targets:
        lines += ["## Targets", "", *targets, ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line
def _density_arg(text: str) -> str:
    try:
        return _check_density(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _int_arg(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    parse.__name__ = f"int>={minimum}"
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of ``dagnet bench engine`` to ``parser`` and return it.

    Examples
    --------
    >>> args = add_arguments(argparse.ArgumentParser()).parse_args(["--quick", "--threads", "1"])
    >>> args.quick, args.threads
    (True, [1])
    """
    g = parser.add_argument_group("what to run")
    g.add_argument(
        "--quick",
        action="store_true",
        help=f"tiny grid (N in {list(QUICK_SIZES)}, p in {list(QUICK_DENSITIES)}), no scale run",
    )
    g.add_argument(
        "--sizes",
        type=_int_arg(2),
        nargs="+",
        metavar="N",
        help=f"node counts of the grid (default {list(GRID_SIZES)})",
    )
    g.add_argument(
        "--densities",
        type=_density_arg,
        nargs="+",
        metavar="P",
        help=f"edge probabilities of the grid: floats or C/N (default {list(GRID_DENSITIES)})",
    )
    g.add_argument(
        "--scale",
        nargs="?",
        const="standard",
        choices=SCALE_CHOICES,
        help="run only scale runs (no grid): 'standard' (the default with a bare --scale; "
        "100,000 nodes / 1,000,000 edges), 'huge' (1,000,000 / 10,000,000) or 'all'. "
        "Without --scale the grid runs, followed by the standard scale run",
    )
    g.add_argument("--no-scale", action="store_true", help="run the grid only")
    m = parser.add_argument_group("how")
    m.add_argument(
        "--threads",
        type=_int_arg(1),
        nargs="+",
        default=[1, 2],
        metavar="T",
        help="thread counts, each measured separately (default: 1 2)",
    )
    m.add_argument("--repeats", type=_int_arg(1), default=10, help="timed steps per implementation (default 10)")
    m.add_argument("--warmup", type=_int_arg(0), default=2, help="untimed steps first (default 2)")
    m.add_argument("--batch", type=_int_arg(1), default=128, help="batch size (default 128)")
    m.add_argument("--seed", type=_int_arg(0), default=0, help="seed of graphs, values and batch (default 0)")
    m.add_argument(
        "--sequential-max",
        type=_int_arg(0),
        default=SEQUENTIAL_MAX_N,
        metavar="N",
        help=f"largest N for the per-node baseline (default {SEQUENTIAL_MAX_N})",
    )
    m.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    m.add_argument(
        "--memory-jobs",
        type=_int_arg(1),
        default=2,
        metavar="J",
        help="memory child processes at once (default 2; never while timing)",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="also write the markdown report to FILE")
    return parser


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """Return the :class:`BenchConfig` of parsed ``dagnet bench engine`` options.

    Raises
    ------
    ValueError
        For options that contradict each other (the message says which).

    Examples
    --------
    >>> args = add_arguments(argparse.ArgumentParser()).parse_args(["--scale", "huge"])
    >>> cfg = config_from_args(args)
    >>> cfg.sizes, cfg.scale
    ((), ('huge',))
    """
    if args.scale and (args.quick or args.no_scale or args.sizes or args.densities):
        raise ValueError(
            "--scale runs only the scale run(s); it cannot be combined with --quick, "
            "--no-scale, --sizes or --densities. Run the grid separately."
        )
    if args.scale:
        sizes: Sequence[int] = ()
        densities: Sequence[str] = GRID_DENSITIES
        scale: Sequence[str] = ("standard", "huge") if args.scale == "all" else (args.scale,)
    else:
        sizes = args.sizes or (QUICK_SIZES if args.quick else GRID_SIZES)
        densities = args.densities or (QUICK_DENSITIES if args.quick else GRID_DENSITIES)
        scale = () if (args.quick or args.no_scale) else ("standard",)
    return BenchConfig(
        sizes=sizes,
        densities=densities,
        threads=args.threads,
        repeats=args.repeats,
        warmup=args.warmup,
        batch=args.batch,
        seed=args.seed,
        sequential_max=args.sequential_max,
        memory=not args.no_memory,
        memory_jobs=args.memory_jobs,
        scale=scale,
    )


def run_from_args(
    args: argparse.Namespace, prog: str = "dagnet bench engine", argv: Sequence[str] | None = None
) -> int:
    """Run the benchmark for parsed options; print the report; return an exit code.

    ``argv`` (the options as typed) goes into the report's command line;
    without it the command is read from ``sys.argv`` (the ``dagnet`` program).
    Returns 0 on success, 2 for contradictory options or an unwritable output
    file, 1 if a baseline disagrees with dagnet.
    """
    try:
        config = config_from_args(args)
    except ValueError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    if args.output:
        folder = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(folder):
            print(f"{prog}: error: cannot write {args.output!r}: folder {folder!r} does not exist.", file=sys.stderr)
            return 2
    if argv is None:  # called from the `dagnet` command line
        argv, prog_words = sys.argv[1:], "dagnet"
    else:
        prog_words = prog
    command = prog_words + "".join(" " + shlex.quote(a) for a in argv)
    try:
        result = run_benchmark(config, command=command, progress=sys.stderr)
    except BaselineMismatchError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 1
    report = format_report(result)
    print(report)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(report)
        print(f"{prog}: report written to {args.output}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m dagnet.bench.engine``; returns the exit code.

    Examples
    --------
    >>> main(["--quick", "--threads", "1", "--repeats", "2"])  # doctest: +SKIP
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = add_arguments(
        argparse.ArgumentParser(
            prog="python -m dagnet.bench.engine",
            description="Benchmark dagnet's training step against 4Ward-style and per-node baselines.",
        )
    )
    args = parser.parse_args(argv)
    return run_from_args(args, prog=parser.prog, argv=argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
