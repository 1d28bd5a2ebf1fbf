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

On a GPU (``--device cuda``)
----------------------------
The same grid and harness, with the models on the GPU (see
:mod:`dagnet.bench.device`): one row per DAGNetwork back end (``--backend``,
default ``triton`` and ``torch``; one that cannot run here is skipped with
the reason), each against the dense-masked network on the same GPU and,
with ``--fourward-code PATH``, against 4Ward's own code
(:mod:`dagnet.bench.fourward_code`). Each timed block lies between two
``torch.cuda.synchronize()`` calls, after warm-up steps in which the kernels
compile; peak memory is ``torch.cuda.max_memory_allocated`` above what was
allocated before the model was built, in the process itself; a baseline that
would not fit in the free GPU memory is skipped with the reason. The scale
runs are 10^6 and 10^7 edges, then 10^8 if its memory estimate fits the free
GPU memory and the host's (``--huge``: regardless). The per-node baseline is
left out unless ``--sequential-max`` is given.

Examples
--------
From the command line::

    dagnet bench engine                         # grid + 100k/1M scale run, 1 and 2 threads
    dagnet bench engine --quick                 # a tiny smoke test
    dagnet bench engine --scale huge            # only the 1M-node / 10M-edge run
    python -m dagnet.bench.engine --sizes 1000 2000 --threads 1 --no-scale
    dagnet bench engine --device cuda --fourward-code bench/_external/forward
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TextIO

import torch

from .._checks import check_int, int_argument
from ..errors import DagnetError, SizeError
from ..plan import compile_plan
from ..topology._budget import NETWORK_EDGE, NETWORK_NODE, WIRING_EDGE, check_size
from ..wiring import Wiring
from .baselines import fourward_dense_size
from .device import (
    BACKEND_CHOICES,
    DEVICES,
    CudaPeak,
    backend_unavailable,
    dagnet_gpu_bytes,
    describe_device,
    fourward_gpu_bytes,
    gpu_shortfall,
    resolve_device,
    synchronizer,
)
from .fourward_code import load_fourward
from .memory import close_memory_server, measure_peak_memory, memory_method
from .report import format_report, markdown_table
from .spec import BenchConfig, BenchResult, GridPoint, GridRow, ScaleRow, _check_density, make_grid
from .workload import (
    CHECK_RTOL,
    CUDA_SCALE,
    GATED_RUN,
    GRID_DENSITIES,
    GRID_SIZES,
    IMPLEMENTATIONS,
    MEMORY_STEPS,
    NAMES,
    QUICK_DENSITIES,
    QUICK_SIZES,
    SCALE_CHOICES,
    SCALE_RUNS,
    SEQUENTIAL_MAX_N,
    build_model,
    make_batch,
    target_for,
    training_step,
    warm_up,
    wiring_for,
)

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


class BaselineMismatchError(DagnetError, RuntimeError):
    """A baseline's outputs differ from dagnet's on the benchmark batch."""


# --------------------------------------------------------------------------- configuration
def time_alternating(
    steps: dict[str, Callable[[], None]],
    repeats: int,
    warmup: int = 1,
    turn_seconds: float = 0.02,
    sync: Callable[[], None] | None = None,
) -> dict[str, list[float]]:
    """Time each callable ``repeats`` times, interleaved, after ``warmup`` untimed calls each.

    Repeat ``r`` gives every callable a turn, starting with callable
    ``r mod len(steps)``, so slow phases of a shared machine spread evenly. A
    turn is one untimed call, then a timed block of consecutive calls lasting
    about ``turn_seconds`` (at least one call, sized from the last warm-up
    call, so a first call that compiles kernels does not shrink the blocks):
    each callable is timed warm, as in a loop of its own, and a fast one is
    not charged for the caches a slow one flushed. ``sync`` (e.g.
    ``torch.cuda.synchronize``) is called before a block starts and before it
    is read, so work queued on a device counts. Garbage collection is off
    while timing.

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
    repeats = check_int(repeats, "repeats", "time_alternating")
    warmup = check_int(warmup, "warmup", "time_alternating", low=0)
    wait = sync if sync is not None else (lambda: None)
    names = list(steps)
    block = {}
    for name in names:
        for _ in range(max(1, warmup) - 1):
            steps[name]()
        wait()
        t0 = time.perf_counter()
        steps[name]()
        wait()
        per_call = time.perf_counter() - t0
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
                wait()
                t0 = time.perf_counter()
                for _ in range(block[name]):
                    steps[name]()
                wait()
                times[name].append((time.perf_counter() - t0) / block[name])
    finally:
        if was_enabled:
            gc.enable()
    return times


def check_outputs(models: dict[str, torch.nn.Module], x: torch.Tensor, where: str) -> dict[str, float]:
    """Check that every model's output on ``x`` matches ``models["dagnet"]``'s.

    The tolerance is ``CHECK_RTOL`` (1e-4) times the largest absolute output
    of dagnet: float32 rounding grows with depth, and outputs may be large. A
    model with an ``output_columns`` attribute (4Ward's code) is compared with
    those columns of dagnet's output.

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
            want = target_for(model, ref)
            if out.shape != want.shape:
                raise BaselineMismatchError(
                    f"{NAMES.get(name, name)} gives outputs of shape {tuple(out.shape)}, dagnet "
                    f"{tuple(want.shape)} ({where})."
                )
            diff = float((out - want).abs().max()) if want.numel() else 0.0
            if not math.isfinite(diff) or diff > CHECK_RTOL * scale:
                raise BaselineMismatchError(
                    f"{NAMES.get(name, name)} disagrees with dagnet ({where}): largest output difference "
                    f"{diff:.3g} > tolerance {CHECK_RTOL * scale:.3g} ({CHECK_RTOL:g} x the largest "
                    f"output, {scale:.3g}). The benchmark would compare different functions."
                )
            diffs[name] = diff
    return diffs


def _progress(stream: TextIO | None, text: str) -> None:
    if stream is not None:
        print(text, file=stream, flush=True)


@dataclass
class _Run:
    """What one benchmark run shares between its rows: where it runs, with what, and what it skipped."""

    device: torch.device
    backends: list[str | None]  # DAGNetwork back ends, one row each (None: its default)
    fourward: ModuleType | None  # 4Ward's forward.models, when --fourward-code loaded
    progress: TextIO | None
    notes: list[str] = field(default_factory=list)

    @property
    def gpu(self) -> bool:
        """Whether the models run on a CUDA device (timing synchronises, memory is the GPU's)."""
        return self.device.type == "cuda"

    def skip(self, text: str) -> None:
        self.notes.append(text)
        _progress(self.progress, f"skipped: {text}")

    @property
    def sync(self) -> Callable[[], None] | None:
        return synchronizer(self.device) if self.gpu else None


def _start(config: BenchConfig, progress: TextIO | None) -> _Run:
    """Resolve the device, the usable back ends and 4Ward's code; report what is skipped."""
    device = resolve_device(config.device)
    run = _Run(device, [], None, progress)
    for name in config.backends or (None,):
        reason = None if name is None else backend_unavailable(name, device)
        if reason is None:
            run.backends.append(name)
        else:
            run.skip(f"back end {name!r}: {reason}.")
    if not run.backends:
        raise ValueError(
            f"None of the back ends asked for ({', '.join(config.backends)}) can run on {device} here: "
            + " ".join(run.notes)
        )
    if config.fourward_code is not None:
        try:
            run.fourward = load_fourward(config.fourward_code)
        except (OSError, ValueError) as err:  # their messages name 4Ward's code and the path
            run.skip(str(err))
        except ImportError as err:
            run.skip(f"4Ward's code at {config.fourward_code!r} does not import: {err}.")
    return run


def _dagnet_key(backend: str | None) -> str:
    return "dagnet" if backend is None else f"dagnet:{backend}"


def _timed_build(make: Callable[[], torch.nn.Module], run: _Run) -> tuple[torch.nn.Module, float, float, float]:
    """Build a model; return it, the seconds, and on CUDA the peak and the held MiB of building (else 0)."""
    meter = CudaPeak(run.device) if run.gpu else None
    t0 = time.perf_counter()
    model = make()
    if run.sync is not None:
        run.sync()
    seconds = time.perf_counter() - t0
    if meter is None:
        return model, seconds, 0.0, 0.0
    return model, seconds, meter.mib(), meter.held_mib()


def _baseline_shortfall(impl: str, wiring: Wiring, dense: int, cfg: BenchConfig, run: _Run) -> str | None:
    """Why baseline ``impl`` would not fit in the GPU's free memory (None: it fits, or on the CPU)."""
    if impl == "sequential":
        return None
    return gpu_shortfall(fourward_gpu_bytes(dense, wiring.num_nodes, cfg.batch), run.device, f"{NAMES[impl]}")


def _run_point(
    point: GridPoint, threads: int, cfg: BenchConfig, run: _Run, wiring: Wiring, x: torch.Tensor, y: torch.Tensor
) -> list[GridRow]:
    """Measure one grid point at one thread count: one row per back end, the baselines built once."""
    torch.set_num_threads(threads)
    load = os.getloadavg()[0]
    gc.collect()
    dev = run.device
    where = f"N={point.n}, p={point.label}, seed={cfg.seed}"
    x, y = x.to(dev), y.to(dev)
    dense = fourward_dense_size(wiring)
    models: dict[str, torch.nn.Module] = {}
    build: dict[str, list[float]] = {}  # seconds, build MiB, held MiB (0 off the GPU)
    for b in run.backends:
        key = _dagnet_key(b)
        models[key], *build[key] = _timed_build(lambda b=b: build_model("dagnet", wiring, cfg.seed, dev, b), run)
    ref = models[_dagnet_key(run.backends[0])].to_wiring()  # the same weights for the baselines
    baselines = ["4ward"] + (["4ward-code"] if run.fourward is not None else [])
    baselines += ["sequential"] if point.n <= cfg.sequential_max else []
    for impl in baselines:
        reason = _baseline_shortfall(impl, wiring, dense, cfg, run)
        if reason is not None:
            run.skip(f"{NAMES[impl]} at {where}: {reason}.")
            continue
        try:
            models[impl], *build[impl] = _timed_build(
                lambda impl=impl: build_model(impl, ref, cfg.seed, dev, fourward=run.fourward), run
            )
        except Exception as err:  # noqa: BLE001 - third-party code, or memory: the other measurements go on
            if impl != "4ward-code" and not isinstance(err, torch.cuda.OutOfMemoryError):
                raise
            run.skip(f"{NAMES[impl]} at {where}: building it failed ({type(err).__name__}: {err}).")
            gc.collect()
            torch.cuda.empty_cache()
    built = [i for i in baselines if i in models]
    diffs: dict[str, dict[str, float]] = {}
    for b in run.backends:
        key = _dagnet_key(b)
        label = where if b is None else f"{where}, backend={b}"
        diffs[key] = check_outputs({"dagnet": models[key], **{i: models[i] for i in built}}, x, label)
        levels = models[key].num_layers
        for impl in ("4ward", "4ward-code"):
            if impl in models and models[impl].num_layers != levels:
                raise BaselineMismatchError(
                    f"{NAMES[impl]} has {models[impl].num_layers} levels, dagnet {levels} ({label})."
                )
    peaks: dict[str, float] = {}
    if run.gpu:  # GPU memory in this process: building, then a few steps on top of the model
        for key, model in models.items():
            step = training_step(model, x, target_for(model, y))
            meter = CudaPeak(dev)
            for _ in range(MEMORY_STEPS):
                step()
            seconds, build_mib, held_mib = build[key]
            peaks[key] = max(build_mib, held_mib + meter.mib())
    base_steps = {i: training_step(models[i], x, target_for(models[i], y)) for i in built}
    rows = []
    for b in run.backends:
        key = _dagnet_key(b)
        names = {"dagnet": key, **{i: i for i in built}}
        row = GridRow(
            threads,
            point,
            wiring.num_edges,
            models[key].num_layers,
            dense,
            load,
            {impl: build[k][0] for impl, k in names.items()},
            max_abs_diff=diffs[key],
            backend=b or "",
        )
        steps = {"dagnet": training_step(models[key], x, y), **base_steps}
        row.step_s = time_alternating(steps, cfg.repeats, cfg.warmup, sync=run.sync)
        row.peak_mib = {impl: peaks[k] for impl, k in names.items() if k in peaks}
        rows.append(row)
    del steps, base_steps, models
    gc.collect()
    if run.gpu:
        torch.cuda.empty_cache()
    elif cfg.memory:
        common = dict(n=point.n, p=point.p, seed=cfg.seed, batch=cfg.batch, threads=threads)
        specs = [dict(impl="dagnet", backend=b, **common) for b in run.backends]
        specs += [dict(impl=i, fourward_code=cfg.fourward_code, **common) for i in built]
        results = measure_peak_memory(specs, cfg.memory_jobs)
        dagnet_mib = [max(r["build_mib"], r["step_mib"]) for r in results[: len(run.backends)]]
        for row, mib in zip(rows, dagnet_mib):
            row.peak_mib["dagnet"] = mib
            for impl, res in zip(built, results[len(run.backends) :]):
                row.peak_mib[impl] = max(res["build_mib"], res["step_mib"])
    return rows


def _scale_shortfall(kind: str, cfg: BenchConfig, run: _Run) -> str | None:
    """Why scale run ``kind`` would not fit in memory here, host or GPU (None: it fits)."""
    n, edges = SCALE_RUNS[kind]
    host_node = NETWORK_NODE + (0 if run.gpu else cfg.batch * 16)
    try:
        check_size(f"The {edges:,}-edge scale run", edges, WIRING_EDGE + NETWORK_EDGE, n, host_node)
    except SizeError as err:
        return str(err)
    return gpu_shortfall(dagnet_gpu_bytes(edges, n, cfg.batch), run.device, f"The {edges:,}-edge scale run")


def _run_scale(kind: str, cfg: BenchConfig, run: _Run) -> list[ScaleRow]:
    n, edges = SCALE_RUNS[kind]
    progress, dev = run.progress, run.device
    if kind == GATED_RUN and not cfg.huge:
        reason = _scale_shortfall(kind, cfg, run)
        if reason is not None:
            run.skip(f"scale run {kind!r}: {reason} (--huge runs it anyway).")
            return []
    p = edges / (n * (n - 1) / 2)
    _progress(progress, f"[scale {kind}] generating an Erdős–Rényi DAG: N={n:,}, p={p:.3g} ...")
    t0 = time.perf_counter()
    wiring = wiring_for(n, p, cfg.seed)
    generate_s = time.perf_counter() - t0
    dense = fourward_dense_size(wiring)
    x, y = (t.to(dev) for t in make_batch(wiring, cfg.batch, cfg.seed))
    rows = []
    for threads in cfg.threads:
        for b in run.backends:
            torch.set_num_threads(threads)
            load = os.getloadavg()[0]
            gc.collect()
            plan_s = None
            if not run.gpu:
                t0 = time.perf_counter()
                compile_plan(wiring)
                plan_s = time.perf_counter() - t0
                gc.collect()
            failure = None
            try:
                net, build_s, build_mib, held_mib = _timed_build(
                    lambda b=b: build_model("dagnet", wiring, cfg.seed, dev, b), run
                )
                meter = CudaPeak(dev) if run.gpu else None
                step = training_step(net, x, y)
                times = time_alternating({"dagnet": step}, cfg.repeats, cfg.warmup, sync=run.sync)["dagnet"]
            except torch.cuda.OutOfMemoryError as err:  # an estimate too low, or a run forced by --huge
                failure = (str(err).splitlines() or ["out of memory"])[0]
            if failure is not None:
                net = step = None
                gc.collect()
                torch.cuda.empty_cache()
                run.skip(f"scale run {kind!r}, backend={b}: out of GPU memory ({failure}).")
                continue
            row = ScaleRow(
                kind, threads, n, wiring.num_edges, net.num_layers, generate_s, plan_s, build_s, times, load, dense
            )
            row.backend = b or ""
            if meter is not None:
                row.peak_build_mib, row.peak_step_mib = build_mib, held_mib + meter.mib()
            del net, step
            gc.collect()
            if run.gpu:
                torch.cuda.empty_cache()
            elif cfg.memory:
                spec = dict(impl="dagnet", backend=b, n=n, p=p, seed=cfg.seed, batch=cfg.batch, threads=threads)
                res = measure_peak_memory([spec])[0]
                row.peak_build_mib, row.peak_step_mib = res["build_mib"], res["step_mib"]
            peak = f", peak {row.peak_mib:.0f} MiB" if row.peak_mib is not None else ""
            plan = f"plan {plan_s:.2f} s, " if plan_s is not None else ""
            how = f"threads={threads}" + (f" backend={b}" if b else "")
            _progress(
                progress,
                f"[scale {kind}] {how}: edges={row.edges:,}, levels={row.levels}, "
                f"{plan}build {build_s:.2f} s, step {row.step_ms():.1f} ms"
                f"{peak}; load {load:.2f}",
            )
            rows.append(row)
    return rows


def _grid_line(k: int, total: int, row: GridRow) -> str:
    how = f"threads={row.threads}" + (f" backend={row.backend}" if row.backend else "")
    parts = [f"{NAMES[i]} {row.step_ms(i):.2f} ms" for i in IMPLEMENTATIONS if i in row.step_s]
    versus = [f"{row.speedup(i):.1f}x vs {NAMES[i]}" for i in ("4ward", "4ward-code") if i in row.step_s]
    return (
        f"[{k}/{total}] N={row.point.n} p={row.point.label} {how}: edges={row.edges}, levels={row.levels}; "
        + ", ".join(parts)
        + "".join(f"; {v}" for v in versus)
        + f"; load {row.load:.2f}"
    )


def run_benchmark(config: BenchConfig, command: str = "", progress: TextIO | None = None) -> BenchResult:
    """Run the grid and the scale runs of ``config``; return every measurement.

    Sets ``torch.set_num_threads`` per row and restores the previous count at
    the end. Writes one progress line per row, and one per thing skipped
    (with the reason), to ``progress`` (None: silent).

    Raises
    ------
    BaselineMismatchError
        If a baseline's outputs differ from dagnet's.
    ValueError
        If none of the back ends asked for can run here.

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
    run = _start(config, progress)
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")  # float32 products in float32 (no TF32 on a GPU)
    try:
        warm_up(run.device, run.backends)
        points = make_grid(config.sizes, config.densities)
        total = len(points) * len(config.threads) * len(run.backends)
        k = 0
        for point in points:
            wiring = wiring_for(point.n, point.p, config.seed)
            x, y = make_batch(wiring, config.batch, config.seed)
            for threads in config.threads:
                for row in _run_point(point, threads, config, run, wiring, x, y):
                    k += 1
                    grid_rows.append(row)
                    _progress(progress, _grid_line(k, total, row))
        for kind in config.scale:
            scale_rows.extend(_run_scale(kind, config, run))
    finally:
        torch.set_num_threads(old_threads)
        torch.set_float32_matmul_precision(precision)
        close_memory_server()
    memory = memory_method() if config.memory else "not measured"
    return BenchResult(
        config,
        command,
        grid_rows,
        scale_rows,
        load_before,
        os.getloadavg(),
        "torch.cuda.max_memory_allocated" if run.gpu else memory,
        started,
        time.perf_counter() - t_start,
        run.notes,
        describe_device(run.device),
    )


# --------------------------------------------------------------------------- report
def _density_arg(text: str) -> str:
    try:
        return _check_density(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


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
        type=int_argument(2),
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
        "100,000 nodes / 1,000,000 edges), 'huge' (1,000,000 / 10,000,000), 'giant' "
        "(10,000,000 / 100,000,000, only if its memory estimate fits) or 'all' (standard and huge). "
        "Without --scale the grid runs, followed by the standard scale run (on CUDA: standard, "
        "huge and giant)",
    )
    g.add_argument("--no-scale", action="store_true", help="run the grid only")
    g.add_argument(
        "--huge",
        action="store_true",
        help="add the 10^8-edge scale run ('giant') and run it even if its memory estimate does not fit",
    )
    g.add_argument(
        "--fourward-code",
        metavar="PATH",
        help="also measure 4Ward's own code from a checkout of github.com/BoCtrl-C/forward at PATH "
        "(skipped, with the reason, if PATH holds none)",
    )
    m = parser.add_argument_group("how")
    m.add_argument(
        "--device",
        choices=DEVICES,
        default="cpu",
        help="where the models run (default cpu; cuda needs a GPU: exit code 2 without one)",
    )
    m.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        nargs="+",
        metavar="NAME",
        help=f"DAGNetwork back ends to measure, a row each, among {list(BACKEND_CHOICES)} (default: "
        "DAGNetwork's own on the CPU; triton and torch on CUDA); one that cannot run here is "
        "skipped with the reason",
    )
    m.add_argument(
        "--threads",
        type=int_argument(1),
        nargs="+",
        metavar="T",
        help="thread counts, each measured separately (default: 1 2 on the CPU, 1 on CUDA)",
    )
    m.add_argument("--repeats", type=int_argument(1), default=10, help="timed steps per implementation (default 10)")
    m.add_argument(
        "--warmup", type=int_argument(0), default=2, help="untimed steps first (default 2; kernels compile in them)"
    )
    m.add_argument("--batch", type=int_argument(1), default=128, help="batch size (default 128)")
    m.add_argument("--seed", type=int_argument(0), default=0, help="seed of graphs, values and batch (default 0)")
    m.add_argument(
        "--sequential-max",
        type=int_argument(0),
        metavar="N",
        help=f"largest N for the per-node baseline (default {SEQUENTIAL_MAX_N} on the CPU, 0 on CUDA)",
    )
    m.add_argument(
        "--no-memory", action="store_true", help="skip the peak-memory child processes (CPU; on CUDA it is free)"
    )
    m.add_argument(
        "--memory-jobs",
        type=int_argument(1),
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
    if args.huge and (args.quick or args.no_scale):
        raise ValueError("--huge adds the 10^8-edge scale run; it cannot be combined with --quick or --no-scale.")
    scale: Sequence[str] | None
    if args.scale:
        sizes: Sequence[int] = ()
        densities: Sequence[str] = GRID_DENSITIES
        scale = ("standard", "huge") if args.scale == "all" else (args.scale,)
    else:
        sizes = args.sizes or (QUICK_SIZES if args.quick else GRID_SIZES)
        densities = args.densities or (QUICK_DENSITIES if args.quick else GRID_DENSITIES)
        scale = () if (args.quick or args.no_scale) else None  # None: the device's default
    if args.huge:
        scale = scale if scale is not None else (CUDA_SCALE if args.device == "cuda" else ("standard",))
        scale = tuple(scale) + (() if GATED_RUN in scale else (GATED_RUN,))
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
        device=args.device,
        backends=tuple(args.backend or ()),
        fourward_code=args.fourward_code,
        huge=args.huge,
    )


def run_from_args(
    args: argparse.Namespace, prog: str = "dagnet bench engine", argv: Sequence[str] | None = None
) -> int:
    """Run the benchmark for parsed options; print the report; return an exit code.

    ``argv`` (the options as typed) goes into the report's command line;
    without it the command is read from ``sys.argv`` (the ``dagnet`` program).
    Returns 0 on success, 2 for contradictory options, an unwritable output
    file, ``--device cuda`` without a GPU or no usable back end, 1 if a
    baseline disagrees with dagnet.
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
    except ValueError as err:  # no back end asked for can run here
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
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
