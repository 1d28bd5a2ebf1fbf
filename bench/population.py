"""Populations against their members trained one after another, in one process.

    python bench/population.py [--rounds 5] [--threads 1]

Three measurements, printed as a markdown table:

* the ParallelMLPs grid: 64 inputs, one hidden layer of 1..50 neurons x 4
  activations x 5 repeats = 1000 members, 10 outputs each; a training step
  (forward, backward, SGD) of the population against the 1000 torch MLPs
  (``nn.Sequential(Linear, activation, Linear)``) one after another;
* 100 random DAGs of about 2,000 edges each: the population against the 100
  ``DAGNetwork``s one after another;
* building a 10,000-member population from its members' wirings.

Steps are timed in alternating rounds (``dagnet.bench.engine.time_alternating``);
the figures are medians, the ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from dataclasses import replace

import torch
from torch import nn

from dagnet import DAGNetwork, Wiring
from dagnet.bench.engine import time_alternating
from dagnet.errors import DeadNodeWarning
from dagnet.nn.population import Population
from dagnet.topology import layered_sparse, random_io_dag

ACTS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "identity": nn.Identity}
BATCH = 128


def mlp_wiring(hidden: int, activation: str, n_in: int = 64, n_out: int = 10) -> Wiring:
    """A dense ``n_in``-``hidden``-``n_out`` MLP as a wiring (SET's layers with p >= 1 are complete), its hidden
    nodes with ``activation``."""
    sizes = (n_in, hidden, n_out)
    act = [None] * n_in + [activation] * hidden + ["identity"] * n_out
    return replace(layered_sparse(sizes, epsilon=max(sizes), as_wiring=True), activation=act)


def _sgd_step(params, forward_loss):
    def step():
        for p in params:
            p.grad = None
        forward_loss().backward()
        with torch.no_grad():
            for p in params:
                p.add_(p.grad, alpha=-0.01)

    return step


def _alternate(a, b, rounds: int) -> tuple[float, float, float]:
    """Medians of ``a``'s and ``b``'s times, and of their per-round ratios (``dagnet.bench.engine.time_alternating``)."""
    t = time_alternating({"a": a, "b": b}, repeats=rounds, warmup=2)
    return (
        statistics.median(t["a"]),
        statistics.median(t["b"]),
        statistics.median(y / x for x, y in zip(t["a"], t["b"])),
    )


def parallel_mlps(rounds: int) -> dict:
    grid = [(h, a, r) for h in range(1, 51) for a in ACTS for r in range(5)]
    pop = Population([mlp_wiring(h, a) for h, a, _ in grid], seed=0)
    torch.manual_seed(0)
    mlps = [nn.Sequential(nn.Linear(64, h), ACTS[a](), nn.Linear(h, 10)) for h, a, _ in grid]
    x, y = torch.randn(BATCH, 64), torch.randint(0, 10, (BATCH,))
    pop_step = _sgd_step(list(pop.parameters()), lambda: pop.loss(pop(x), y))
    params = [p for m in mlps for p in m.parameters()]
    seq_step = _sgd_step(params, lambda: sum(nn.functional.cross_entropy(m(x), y) for m in mlps))
    tp, ts, ratio = _alternate(pop_step, seq_step, rounds)
    return dict(case=f"ParallelMLPs grid (1000 members, {pop.num_edges:,} edges)", population=tp, alone=ts, ratio=ratio)


def profile_parallel_mlps(steps: int = 5) -> None:
    """Print where the ParallelMLPs population's training step goes: cProfile of ``steps`` steps, by own time."""
    import cProfile
    import pstats

    pop = Population([mlp_wiring(h, a) for h in range(1, 51) for a in ACTS for _ in range(5)], seed=0)
    x, y = torch.randn(BATCH, 64), torch.randint(0, 10, (BATCH,))
    step = _sgd_step(list(pop.parameters()), lambda: pop.loss(pop(x), y))
    step()
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [step() for _ in range(steps)])
    print(f"\nwhere {steps} steps of the ParallelMLPs population go (own time, seconds):")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(8)


def random_dags(rounds: int) -> dict:
    io = dict(inputs=[("in", j) for j in range(64)], outputs=[("out", j) for j in range(10)])
    wirings = [random_io_dag(64, 150, 10, 0.15, 8, 10, seed=s) for s in range(100)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadNodeWarning)
        nets = [DAGNetwork(w, seed=s, **io) for s, w in enumerate(wirings)]
        pop = Population(nets)
    x, y = torch.randn(BATCH, 64), torch.randint(0, 10, (BATCH,))
    pop_step = _sgd_step(list(pop.parameters()), lambda: pop.loss(pop(x), y))
    params = [p for n in nets for p in n.parameters()]
    seq_step = _sgd_step(params, lambda: sum(nn.functional.cross_entropy(n(x), y) for n in nets))
    tp, ts, ratio = _alternate(pop_step, seq_step, rounds)
    edges = pop.num_edges // len(pop)
    return dict(case=f"100 random DAGs (about {edges:,} edges each)", population=tp, alone=ts, ratio=ratio)


def build(members: int) -> dict:
    io = dict(inputs=[("in", j) for j in range(64)], outputs=[("out", j) for j in range(10)])
    wirings = [random_io_dag(64, 20, 10, 0.2, 8, 5, seed=s) for s in range(members)]
    Population(wirings[:10], seed=0, **io)  # compile once
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadNodeWarning)
        pop = Population(wirings, seed=0, **io)
    seconds = time.perf_counter() - t
    return dict(case=f"build {members:,} members ({pop.num_edges:,} edges)", population=seconds, alone=None, ratio=None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating timing rounds (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch and numba threads (default 1)")
    parser.add_argument("--members", type=int, default=10_000, help="members of the build measurement")
    parser.add_argument("--profile", action="store_true", help="only profile the ParallelMLPs population's step")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.profile:
        profile_parallel_mlps()
        return 0
    print(f"load before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; threads {args.threads}, batch {BATCH}")
    rows = [parallel_mlps(args.rounds), random_dags(args.rounds), build(args.members)]
    print("\n| case | population | one after another | speed-up |\n|---|---|---|---|")
    for r in rows:
        if r["alone"] is None:
            print(f"| {r['case']} | {r['population']:.2f} s | | |")
        else:
            print(f"| {r['case']} | {r['population'] * 1e3:.1f} ms | {r['alone'] * 1e3:.1f} ms | {r['ratio']:.1f}x |")
    print(f"\nload after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
