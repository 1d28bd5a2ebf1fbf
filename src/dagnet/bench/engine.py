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
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

import torch

from .._checks import check_int, int_argument
from ..errors import DagnetError
from ..plan import compile_plan
from ..wiring import Wiring
from .baselines import fourward_dense_size
from .memory import close_memory_server, measure_peak_memory, memory_method
from .report import format_report, markdown_table
from .spec import BenchConfig, BenchResult, GridPoint, GridRow, ScaleRow, _check_density, make_grid
from .workload import (
    CHECK_RTOL,
    GRID_DENSITIES,
    GRID_SIZES,
    IMPLEMENTATIONS,
    NAMES,
    QUICK_DENSITIES,
    QUICK_SIZES,
    SCALE_CHOICES,
    SCALE_RUNS,
    SEQUENTIAL_MAX_N,
    build_model,
    make_batch,
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
    repeats = check_int(repeats, "repeats", "time_alternating")
    warmup = check_int(warmup, "warmup", "time_alternating", low=0)
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
        models[impl] = build_model(impl, wiring if impl == "dagnet" else ref, cfg.seed)
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
    steps = {impl: training_step(m, x, y) for impl, m in models.items()}
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
    wiring = wiring_for(n, p, cfg.seed)
    generate_s = time.perf_counter() - t0
    dense = fourward_dense_size(wiring)
    x, y = make_batch(wiring, cfg.batch, cfg.seed)
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
        net = build_model("dagnet", wiring, cfg.seed)
        build_s = time.perf_counter() - t0
        times = time_alternating({"dagnet": training_step(net, x, y)}, cfg.repeats, cfg.warmup)["dagnet"]
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
        warm_up()
        points = make_grid(config.sizes, config.densities)
        total = len(points) * len(config.threads)
        k = 0
        for point in points:
            wiring = wiring_for(point.n, point.p, config.seed)
            x, y = make_batch(wiring, config.batch, config.seed)
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
        close_memory_server()
    return BenchResult(
        config,
        command,
        grid_rows,
        scale_rows,
        load_before,
        os.getloadavg(),
        memory_method() if config.memory else "not measured",
        started,
        time.perf_counter() - t_start,
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
        "100,000 nodes / 1,000,000 edges), 'huge' (1,000,000 / 10,000,000) or 'all'. "
        "Without --scale the grid runs, followed by the standard scale run",
    )
    g.add_argument("--no-scale", action="store_true", help="run the grid only")
    m = parser.add_argument_group("how")
    m.add_argument(
        "--threads",
        type=int_argument(1),
        nargs="+",
        default=[1, 2],
        metavar="T",
        help="thread counts, each measured separately (default: 1 2)",
    )
    m.add_argument("--repeats", type=int_argument(1), default=10, help="timed steps per implementation (default 10)")
    m.add_argument("--warmup", type=int_argument(0), default=2, help="untimed steps first (default 2)")
    m.add_argument("--batch", type=int_argument(1), default=128, help="batch size (default 128)")
    m.add_argument("--seed", type=int_argument(0), default=0, help="seed of graphs, values and batch (default 0)")
    m.add_argument(
        "--sequential-max",
        type=int_argument(0),
        default=SEQUENTIAL_MAX_N,
        metavar="N",
        help=f"largest N for the per-node baseline (default {SEQUENTIAL_MAX_N})",
    )
    m.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
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
