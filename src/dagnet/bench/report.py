"""The engine benchmark's report: markdown tables of the grid and scale rows, and the targets met or not."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Sequence

import numba
import numpy as np
import torch

from .spec import BenchResult, GridRow, ScaleRow
from .workload import (
    MEMORY_STEPS,
    NAMES,
    SCALE_RUNS,
    TARGET_BUILD_S,
    TARGET_CUDA_SPEEDUP,
    TARGET_CUDA_STEP_MS,
    TARGET_PEAK_MIB,
    TARGET_SPEEDUP,
    TARGET_STEP_MS,
)

__all__ = ["GRID_COLUMNS", "SCALE_COLUMNS", "markdown_table", "format_report"]


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


def _ms(ms: float | None) -> str:
    return _fmt(ms, ".1f" if ms is not None and ms >= 10 else ".2f")


def _speed(s: float | None) -> str:
    return _MISSING if s is None else f"{s:.1f}x"


def _grid_impls(result: BenchResult) -> list[str]:
    """The implementations the grid table shows: dagnet and 4Ward always, the others where asked for."""
    impls = ["dagnet", "4ward"]
    if result.config.fourward_code is not None:
        impls.append("4ward-code")
    if result.config.device == "cpu" or any("sequential" in r.step_s for r in result.grid):
        impls.append("sequential")
    return impls


def _grid_spec(result: BenchResult) -> list[tuple[str, Callable[[GridRow], str]]]:
    """(header, cell of a row) of each column of the grid table (:data:`GRID_COLUMNS` on a plain CPU run)."""
    impls = _grid_impls(result)
    spec: list[tuple[str, Callable[[GridRow], str]]] = []
    if result.config.device == "cpu":
        spec.append(("threads", lambda r: str(r.threads)))
    if any(r.backend for r in result.grid):
        spec.append(("backend", lambda r: r.backend))
    spec += [
        ("N", lambda r: str(r.point.n)),
        ("p", lambda r: r.point.label),
        ("edges", lambda r: str(r.edges)),
        ("levels", lambda r: str(r.levels)),
        ("4Ward dense/edges", lambda r: f"{r.dense_size / max(r.edges, 1):.0f}"),
    ]
    spec += [(f"build s {NAMES[i]}", lambda r, i=i: _fmt(r.build_s.get(i), ".3f")) for i in impls]
    spec += [(f"step ms {NAMES[i]}", lambda r, i=i: _ms(r.step_ms(i))) for i in impls]
    spec += [(f"speed-up vs {NAMES[i]}", lambda r, i=i: _speed(r.speedup(i))) for i in impls[1:]]
    spec += [(f"peak MiB {NAMES[i]}", lambda r, i=i: _fmt(r.peak_mib.get(i), ".1f")) for i in impls]
    spec.append(("load", lambda r: f"{r.load:.2f}"))
    return spec


def _scale_spec(result: BenchResult) -> list[tuple[str, Callable[[ScaleRow], str]]]:
    """(header, cell of a row) of each column of the scale table (:data:`SCALE_COLUMNS` on a plain CPU run)."""
    cpu = result.config.device == "cpu"
    spec: list[tuple[str, Callable[[ScaleRow], str]]] = [("run", lambda r: r.kind)]
    if cpu:
        spec.append(("threads", lambda r: str(r.threads)))
    if any(r.backend for r in result.scale):
        spec.append(("backend", lambda r: r.backend))
    spec += [
        ("N", lambda r: f"{r.n:,}"),
        ("edges", lambda r: f"{r.edges:,}"),
        ("levels", lambda r: str(r.levels)),
        ("generate s", lambda r: f"{r.generate_s:.2f}"),
    ]
    if cpu:
        spec.append(("plan s", lambda r: _fmt(r.plan_s, ".2f")))
    spec += [
        ("build s", lambda r: f"{r.build_s:.2f}"),
        ("step ms", lambda r: f"{r.step_ms():.1f}" if cpu else _ms(r.step_ms())),
        ("peak MiB build", lambda r: _fmt(r.peak_build_mib, ".0f")),
        ("peak MiB step", lambda r: _fmt(r.peak_step_mib, ".0f")),
        (
            "4Ward dense entries (not built)",
            lambda r: f"{r.fourward_dense:,} ({r.fourward_dense / max(r.edges, 1):.0f}x edges)",
        ),
        ("load", lambda r: f"{r.load:.2f}"),
    ]
    return spec


def _table(spec, rows) -> str:
    return markdown_table([h for h, _ in spec], [[cell(r) for _, cell in spec] for r in rows])


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


def _mark(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "NOT met")


def _cuda_targets(result: BenchResult) -> list[str]:
    lines = []
    for backend in dict.fromkeys(r.backend for r in result.grid):
        for impl in ("4ward", "4ward-code"):
            rows = [r for r in result.grid if r.backend == backend and r.speedup(impl) is not None]
            if not rows:
                continue
            worst = min(rows, key=lambda r: r.speedup(impl))
            goal = (
                f"target >= {TARGET_CUDA_SPEEDUP:.0f}x at every grid point: "
                f"**{_mark(worst.speedup(impl) >= TARGET_CUDA_SPEEDUP)}**"
                if impl == "4ward"
                else "for information"
            )
            lines.append(
                f"- Training step vs {NAMES[impl]} on the same GPU, back end {backend}: smallest speed-up "
                f"{worst.speedup(impl):.1f}x (N={worst.point.n}, p={worst.point.label}); {goal}."
            )
    for row in result.scale:
        n, e = SCALE_RUNS[row.kind]
        goal = TARGET_CUDA_STEP_MS.get(row.kind)
        target = (
            f"target <= {goal:.0f} ms: **{_mark(row.step_ms() <= goal)}**" if goal is not None else "for information"
        )
        peak = f"{row.peak_mib:.0f} MiB" if row.peak_mib is not None else "not measured"
        lines.append(
            f"- {n:,} nodes / {e:,} edges, batch {result.config.batch}, full step, back end {row.backend}: "
            f"{row.step_ms():.2f} ms, GPU peak {peak}; {target}."
        )
    return lines


def _targets(result: BenchResult) -> list[str]:
    if result.config.device == "cuda":
        return _cuda_targets(result)
    lines = []
    mark = _mark
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
        if not rows or kind not in TARGET_STEP_MS:
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
    >>> from dagnet.bench.spec import BenchConfig
    >>> cfg = BenchConfig(sizes=[], scale=[])
    >>> res = BenchResult(cfg, "dagnet bench engine", [], [], (0.1, 0.2, 0.3), (0.1, 0.2, 0.3),
    ...                   "VmHWM", "2024-01-01", 1.0)
    >>> "Load average" in format_report(res)
    True
    """
    cfg = result.config
    cuda = cfg.device == "cuda"
    lines = ["# dagnet engine benchmark", ""]
    if result.command:
        lines += [f"Command: `{result.command}`", ""]
    gpu = f"; GPU: {result.device_name}" if result.device_name else ""
    lines += [
        f"- Started {result.started}, took {result.seconds:.0f} s; machine: {platform.platform()}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs; Python "
        f"{platform.python_version()}, torch {torch.__version__}, numba {numba.__version__}, "
        f"numpy {np.__version__}{gpu}.",
        f"- Load average (1, 5, 15 min): before {', '.join(f'{v:.2f}' for v in result.load_before)}; "
        f"after {', '.join(f'{v:.2f}' for v in result.load_after)}. The `load` column is the "
        "1-minute load average when the row started.",
    ]
    if cuda:
        lines += [
            f"- On the GPU: batch {cfg.batch}, float32, MSE loss, plain SGD; {cfg.warmup} warm-up steps "
            f"(kernels compile in them), then {cfg.repeats} timed turns per implementation, interleaved "
            "(a turn: one untimed step, then a block of steps of about 20 ms between two "
            "`torch.cuda.synchronize()` calls); median of the turns' mean step time shown. "
            f"Threads: {', '.join(map(str, cfg.threads))}.",
            "- Peak memory: GPU MiB (`torch.cuda.max_memory_allocated`) above what was allocated "
            f"before the model was built, while building it and training it for {MEMORY_STEPS} steps, "
            "in this process.",
            "",
        ]
    else:
        lines += [
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
        seq = f"seq = one neuron at a time (`SequentialNet`, N <= {cfg.sequential_max}). "
        code = (
            f"4Ward code = 4Ward's own `ForWard` (github.com/BoCtrl-C/forward, from `{cfg.fourward_code}`) "
            "on the same graph with the same weights, its quadratic layering function replaced by the "
            "same layering in linear time (`dagnet.bench.fourward_code`); its outputs leave out nodes "
            "without edges. "
            if cfg.fourward_code is not None
            else ""
        )
        lines += [
            "## Erdős–Rényi grid",
            "",
            "dagnet = `DAGNetwork` (ASAP levels, sparse engine"
            + (", the back end named in each row" if any(r.backend for r in result.grid) else "")
            + "); 4Ward = dense masked matmul per ALAP layer (`dagnet.bench.FourWardNet`); "
            + code
            + (seq if "sequential" in _grid_impls(result) else "")
            + "Levels = sequential steps of dagnet and 4Ward, the input "
            "level included (longest path + 1); seq takes one step per non-input node. Build = "
            "constructor time (dagnet: validation + layering + plan + init). `4Ward dense/edges`: "
            "entries of 4Ward's dense weight blocks per edge (its masks hold as many again). "
            "Outputs of all implementations were checked equal before timing.",
            "",
            _table(_grid_spec(result), result.grid),
            "",
        ]
    if result.scale:
        plan = "" if cuda else "plan = `compile_plan` (validation + layering + plan), "
        lines += [
            "## Scale runs (dagnet only)",
            "",
            f"Erdős–Rényi DAGs with p chosen for the edge count; {plan}build = the whole `DAGNetwork` "
            "constructor. 4Ward's dense blocks are counted, not built.",
            "",
            _table(_scale_spec(result), result.scale),
            "",
        ]
    if result.notes:
        lines += ["## Skipped", "", *(f"- {note}" for note in result.notes), ""]
    targets = _targets(result)
    if targets:
        lines += ["## Targets", "", *targets, ""]
    return "\n".join(lines)
