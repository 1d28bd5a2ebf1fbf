"""One thread against two for a full training step, on a quiet machine and beside a busy process.

The network of ``dagnet bench engine``'s standard scale run: an Erdős–Rényi
DAG of 100,000 nodes and about 1,000,000 edges, batch 128, float32, one full
step (forward, MSE loss, backward, SGD update). The two thread counts are
timed alternately in one process (``torch.set_num_threads`` before each
turn, :func:`dagnet.bench.engine.time_alternating`), first on the machine as
it is, then with one more process spinning on a core (started and stopped
here). Prints markdown: the step's median time per thread count and phase,
two threads against one, how many of the two-thread passes found a free core
for the second thread, and the 1-minute load average before and after each
phase (``os.getloadavg``).

    python bench/threads.py                 # about a minute on two cores
    python bench/threads.py --repeats 15 --busy 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import torch

import dagnet.engine.numba_runtime as numba_runtime
from dagnet.bench.engine import time_alternating
from dagnet.bench.workload import SCALE_RUNS, build_model, make_batch, training_step, warm_up, wiring_for
from dagnet.engine.threads import start_numba_threads

_SPIN = "while True: pass"
_passes = {"asked": 0, "got": 0}  # passes that asked for two threads, and those that ran on two


def _counted(requested: int) -> int:
    """:func:`dagnet.engine.threads.usable_threads`, counted (passes that asked for more than one thread)."""
    used = _usable(requested)
    _passes["asked"] += 1
    _passes["got"] += used == requested
    return used


_usable = numba_runtime.usable_threads


def _at(threads: int, step):
    def run() -> None:
        torch.set_num_threads(threads)
        step()

    return run


def measure(step, repeats: int, busy: int) -> dict:
    """Time ``step`` on one and two threads, with ``busy`` spinning processes beside it.

    Returns
    -------
    dict
        ``times`` (thread count to seconds per step, one per repeat), ``load``
        (1-minute load average before and after), ``busy``, and ``passes``:
        how many passes asked for two threads and how many ran on two (the
        others found no free core for the second).
    """
    spinners = [subprocess.Popen([sys.executable, "-c", _SPIN]) for _ in range(busy)]
    try:
        if busy:
            time.sleep(1.0)  # let the spinners reach their cores
        before = os.getloadavg()[0]
        _passes.update(asked=0, got=0)
        times = time_alternating({1: _at(1, step), 2: _at(2, step)}, repeats, warmup=2)
        after = os.getloadavg()[0]
        passes = dict(_passes)
    finally:
        for p in spinners:
            p.kill()
        for p in spinners:
            p.wait()
    return {"times": times, "load": (before, after), "busy": busy, "passes": passes}


def table(rows: list[dict]) -> str:
    """The markdown table of :func:`measure`'s results."""
    lines = [
        "| machine | threads | step ms (median) | min | max | 2 threads / 1 thread | passes on 2 threads "
        "| load before -> after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        med = {t: statistics.median(v) * 1e3 for t, v in row["times"].items()}
        where = "as it is" if not row["busy"] else f"+{row['busy']} busy process{'es' if row['busy'] > 1 else ''}"
        passes = row["passes"]
        for t, v in row["times"].items():
            ratio = f"{med[2] / med[1]:.2f}" if t == 2 else ""
            share = f"{passes['got']} of {passes['asked']}" if t == 2 else ""
            lines.append(
                f"| {where} | {t} | {med[t]:.1f} | {min(v) * 1e3:.1f} | {max(v) * 1e3:.1f} | {ratio} | {share} | "
                f"{row['load'][0]:.2f} -> {row['load'][1]:.2f} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=SCALE_RUNS["standard"][0])
    parser.add_argument("--edges", type=int, default=SCALE_RUNS["standard"][1], help="expected edge count")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=12, help="timed turns per thread count and phase")
    parser.add_argument("--busy", type=int, default=1, help="spinning processes in the second phase (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("nodes", "edges", "batch", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.busy < 0:
        parser.error("--busy must be at least 0")

    started = time.perf_counter()
    old_threads = torch.get_num_threads()
    load_start = os.getloadavg()
    warm_up()
    p = args.edges / (args.nodes * (args.nodes - 1) / 2)
    wiring = wiring_for(args.nodes, p, args.seed)
    x, y = make_batch(wiring, args.batch, args.seed)
    net = build_model("dagnet", wiring, args.seed)
    step = training_step(net, x, y)
    numba_runtime.usable_threads = _counted
    try:
        rows = [measure(step, args.repeats, 0)]
        if args.busy:
            rows.append(measure(step, args.repeats, args.busy))
    finally:
        torch.set_num_threads(old_threads)
        numba_runtime.usable_threads = _usable
    config = start_numba_threads()
    spin = "its default" if config.spin_count is None else f"GOMP_SPINCOUNT={config.spin_count}"
    print(
        f"#### 1 vs 2 threads: N={args.nodes:,}, {wiring.num_edges:,} edges, {net.num_layers} levels, "
        f"batch {args.batch}, {args.repeats} repeats\n"
    )
    print(table(rows))
    print(
        f"\nnumba threading layer: {config.layer} ({spin}); OpenMP runtimes loaded: "
        f"{', '.join(os.path.basename(p) for p in config.openmp) or '-'}; cores: {os.cpu_count()}."
    )
    print(
        f"Load average (1, 5, 15 min): {', '.join(f'{v:.2f}' for v in load_start)} at the start, "
        f"{', '.join(f'{v:.2f}' for v in os.getloadavg())} at the end; total time {time.perf_counter() - started:.0f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
