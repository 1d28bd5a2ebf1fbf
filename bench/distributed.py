"""Data-parallel training: one process against two (gloo on 127.0.0.1, one torch thread each), and the cost of it all
when nothing is distributed.

    python bench/distributed.py [--hidden 10000 50000] [--steps 6] [--rounds 3] [--against HEAD]

Two measurements, printed as markdown:

* for SET-MLPs ``784 -> 3 x width -> 10`` (epsilon 20, batch 128, float32,
  synthetic data), the steady training throughput of :func:`dagnet.train.fit`
  in one process (torch.distributed not initialised: the single-process
  path) and in two processes of one gloo group, each taking its half of
  every batch; the runs alternate (1, 2, 2, 1, ...) over ``--rounds``.
  A run times its optimizer steps after the first from fit's step
  callbacks (the processes' start, the model's construction and the test
  pass are not counted), and reports the bytes that each rank sends into
  the all-reduce per step (``dagnet.distributed.gradient_bytes``), the
  process's CPU seconds per step (less disturbed by other load than the
  wall clock: on two free cores the ratio of the CPU figures bounds the
  speed-up) and the wall seconds spent in the all-reduce;
* the single-process path against ``fit`` as it was at ``--against`` (its
  ``dagnet/train/loop.py``, read with ``git show`` and loaded beside this
  one), timed alternately in one process on a small SET-MLP where
  per-step overhead shows most.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import importlib.util
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist

from dagnet.bench.engine import time_alternating
from dagnet.data import Dataset
from dagnet.distributed import Replicas, gradient_bytes
from dagnet.nn import sparse_mlp
from dagnet.train import fit

FEATURES, CLASSES, BATCH, EPSILON = 784, 10, 128, 20


def _data(steps: int, seed: int = 0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    n = steps * BATCH
    X = torch.randn(n + 256, FEATURES, generator=g)
    y = torch.randint(0, CLASSES, (n + 256,), generator=g)
    return Dataset(X[:n], y[:n], X[n:], y[n:], "synthetic", CLASSES)


def _run(rank: int, world: int, port: int, width: int, steps: int, queue) -> None:
    """One process of a timed run: fit for one epoch of ``steps`` global batches; rank 0 reports."""
    torch.set_num_threads(1)
    if world > 1:
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=world,
            timeout=datetime.timedelta(seconds=600),
        )
    model = sparse_mlp([FEATURES, width, width, width, CLASSES], epsilon=EPSILON, seed=0)
    stamps: list[tuple[float, float]] = []  # (wall, this process's CPU) seconds after each step
    waits: list[float] = []  # wall seconds in the gradients' all-reduce (waiting for the other rank included)
    reduce = Replicas.all_reduce_gradients

    def timed_reduce(self, *args, **kwargs):
        t = time.perf_counter()
        out = reduce(self, *args, **kwargs)
        waits.append(time.perf_counter() - t)
        return out

    Replicas.all_reduce_gradients = timed_reduce
    fit(
        model,
        _data(steps),
        optimizer=functools.partial(torch.optim.SGD, lr=0.01, momentum=0.9),
        epochs=1,
        batch_size=BATCH,
        progress=False,
        callbacks=[
            lambda event, info: stamps.append((time.perf_counter(), time.process_time())) if event == "step" else None
        ],
    )
    if rank == 0:
        wall = [b[0] - a[0] for a, b in zip(stamps, stamps[1:])]
        cpu = [b[1] - a[1] for a, b in zip(stamps, stamps[1:])]
        edges = sum(p.numel() for name, p in model.named_parameters() if name.endswith("weight"))
        queue.put(
            {
                "step_s": statistics.median(wall),
                "cpu_s": statistics.median(cpu),
                "reduce_s": statistics.median(waits[1:]) if len(waits) > 1 else 0.0,
                "bytes": gradient_bytes(model),
                "edges": edges,
            }
        )
    if world > 1:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed_run(world: int, width: int, steps: int) -> dict:
    """Start ``world`` processes for one run; return rank 0's figures."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_run, args=(r, world, port, width, steps, queue)) for r in range(world)]
    for p in procs:
        p.start()
    result = queue.get(timeout=1200)
    for p in procs:
        p.join(60)
        if p.exitcode != 0:
            raise RuntimeError(f"a process of the {world}-process run ended with {p.exitcode}")
    return result


def scaling(widths: list[int], steps: int, rounds: int) -> list[str]:
    lines = [
        "| width | edges | all-reduced per step and rank | 1 process: s/step | 2 processes: s/step | "
        f"throughput ratio (median of {rounds} rounds) | CPU s/step, 1 process / a rank of 2 | "
        "all-reduce s/step (rank 0, waits included) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for width in widths:
        runs: dict[int, list[dict]] = {1: [], 2: []}
        for r in range(rounds):
            for world in (1, 2) if r % 2 == 0 else (2, 1):
                info = timed_run(world, width, steps)
                runs[world].append(info)
                print(
                    f"  width {width}, round {r + 1}, {world} process(es): {info['step_s']:.3f} s/step, "
                    f"CPU {info['cpu_s']:.3f} s/step, all-reduce {info['reduce_s']:.4f} s/step",
                    flush=True,
                )
        one, two = runs[1], runs[2]
        ratio = statistics.median(a["step_s"] / b["step_s"] for a, b in zip(one, two))
        med = lambda rows, key: statistics.median(row[key] for row in rows)  # noqa: E731
        lines.append(
            f"| {width:,} | {two[0]['edges']:,} | {two[0]['bytes'] / 2**20:.1f} MiB | {med(one, 'step_s'):.3f} | "
            f"{med(two, 'step_s'):.3f} | {ratio:.2f}x | {med(one, 'cpu_s'):.3f} / {med(two, 'cpu_s'):.3f} | "
            f"{med(two, 'reduce_s'):.4f} |"
        )
    return lines


def _fit_at(rev: str):
    """``dagnet.train.loop.fit`` as it was at git revision ``rev``, loaded as a sibling module of today's."""
    root = Path(__file__).resolve().parents[1]
    text = subprocess.run(
        ["git", "show", f"{rev}:src/dagnet/train/loop.py"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "loop_then.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("dagnet.train._loop_then", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.fit


def overhead(rev: str, rounds: int) -> list[str]:
    torch.set_num_threads(1)
    then = _fit_at(rev)
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(640, 64, generator=g), torch.randint(0, 10, (640,), generator=g)
    data = Dataset(X, y, X[:64], y[:64], "synthetic", 10)
    models = {name: sparse_mlp([64, 256, 256, 10], epsilon=10, seed=0) for name in ("now", "then")}
    fits = {"now": fit, "then": then}

    def epoch(name):
        return lambda: fits[name](models[name], data, epochs=1, batch_size=32, progress=False)

    times = time_alternating({name: epoch(name) for name in fits}, repeats=rounds * 5, warmup=2, turn_seconds=0.5)
    ratio = statistics.median(a / b for a, b in zip(times["now"], times["then"]))
    return [
        "| fit, one process (20 steps of batch 32, [64, 256, 256, 10] SET-MLP) | s/epoch |",
        "|---|---:|",
        f"| this tree | {statistics.median(times['now']):.4f} |",
        f"| at {rev} | {statistics.median(times['then']):.4f} |",
        f"| ratio this tree / {rev} (median of {len(times['now'])} alternating rounds) | {ratio:.3f} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[10_000, 50_000], help="widths of the 3 layers")
    parser.add_argument("--steps", type=int, default=6, help="global batches per timed run (the first is not timed)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of 1 and 2 processes")
    parser.add_argument("--against", default="HEAD", help="git revision of the single-process baseline")
    parser.add_argument("--skip-overhead", action="store_true", help="only the 1-vs-2-process measurement")
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()}, cores: {os.cpu_count()}", flush=True)
    lines = scaling(args.hidden, args.steps, args.rounds)
    if not args.skip_overhead:
        lines += [""] + overhead(args.against, args.rounds)
    print(f"load after: {os.getloadavg()}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
