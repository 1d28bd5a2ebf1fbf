"""The engine benchmark's report: markdown tables of the grid and scale rows, and the targets met or not."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence

import numba
import numpy as np
import torch

from .spec import BenchResult, GridRow, ScaleRow
from .workload import MEMORY_STEPS, SCALE_RUNS, TARGET_BUILD_S, TARGET_PEAK_MIB, TARGET_SPEEDUP, TARGET_STEP_MS

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
    >>> from dagnet.bench.spec import BenchConfig
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
