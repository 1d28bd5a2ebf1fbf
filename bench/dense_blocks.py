"""Dense blocks as GEMMs against the per-edge kernels, on dense layers and an MLP built as one DAGNetwork.

    python bench/dense_blocks.py [--rounds 7] [--threads 1]

Each network is built twice in one process, with dense blocks off
(``NumbaRuntime.dense_min_edges = None``) and with every block a GEMM (1), and
a full training step (forward, cross-entropy or MSE, backward; batch 128) of
the two is timed in alternating rounds (``dagnet.bench.engine.time_alternating``).
Last, the ParallelMLPs grid of ``bench/population.py`` as one population, with
blocks off and with the default threshold. Prints a markdown table: per-edge
and GEMM step times (medians) and their ratio (median of the per-round
ratios), with the load before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch
from torch.nn import functional as F

from dagnet import DAGNetwork
from dagnet.bench.engine import time_alternating
from dagnet.engine.numba_runtime import NumbaRuntime
from dagnet.topology import layered_sparse

LAYERS = [(4, 16), (16, 64), (64, 64), (32, 256), (64, 256), (64, 1024), (256, 1024), (784, 512), (1024, 1024)]
BATCH = 128


def _network(sizes, min_edges):
    """A dense network of layer ``sizes`` (SET's layers with p >= 1 are complete), its runtime built."""
    old, NumbaRuntime.dense_min_edges = NumbaRuntime.dense_min_edges, min_edges
    try:
        net = DAGNetwork(layered_sparse(sizes, epsilon=max(sizes), as_wiring=True), seed=0)
        net._get_runtime()
    finally:
        NumbaRuntime.dense_min_edges = old
    return net


def measure_population(rounds: int) -> dict:
    """The ParallelMLPs grid of ``bench/population.py`` as a population, blocks off and on."""
    from dagnet.nn import Population
    from population import ACTS, mlp_wiring  # beside this script

    wirings = [mlp_wiring(h, a) for h in range(1, 51) for a in ACTS for _ in range(5)]
    pops = {}
    for name, min_edges in (("per-edge", None), ("gemm", NumbaRuntime.dense_min_edges)):
        old, NumbaRuntime.dense_min_edges = NumbaRuntime.dense_min_edges, min_edges
        try:
            pops[name] = Population(wirings, seed=0)
            pops[name].network._get_runtime()
        finally:
            NumbaRuntime.dense_min_edges = old
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(BATCH, 64, generator=g), torch.randint(0, 10, (BATCH,), generator=g)

    def stepper(pop):
        def step():
            pop.zero_grad(set_to_none=True)
            pop.loss(pop(x), y).backward()

        return step

    t = time_alternating({k: stepper(p) for k, p in pops.items()}, repeats=rounds, warmup=2)
    ratio = statistics.median(a / b for a, b in zip(t["per-edge"], t["gemm"]))
    return dict(
        edges=pops["gemm"].num_edges,
        plain=statistics.median(t["per-edge"]),
        gemm=statistics.median(t["gemm"]),
        ratio=ratio,
    )


def measure(sizes, rounds: int) -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, sizes[0], generator=g)
    nets = {"per-edge": _network(sizes, None), "gemm": _network(sizes, 1)}
    if len(sizes) > 2:
        y = torch.randint(0, sizes[-1], (BATCH,), generator=g)
        loss = F.cross_entropy
    else:
        y = torch.randn(BATCH, sizes[-1], generator=g)
        loss = F.mse_loss

    def stepper(net):
        def step():
            net.zero_grad(set_to_none=True)
            loss(net(x), y).backward()

        return step

    t = time_alternating({k: stepper(n) for k, n in nets.items()}, repeats=rounds, warmup=3)
    ratio = statistics.median(a / b for a, b in zip(t["per-edge"], t["gemm"]))
    edges = sum(a * b for a, b in zip(sizes, sizes[1:]))
    blocks = [(b.s1 - b.s0, b.t1 - b.t0) for b in nets["gemm"]._get_runtime()._blocks]
    return dict(
        sizes=sizes,
        edges=edges,
        blocks=blocks,
        plain=statistics.median(t["per-edge"]),
        gemm=statistics.median(t["gemm"]),
        ratio=ratio,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"load before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; threads {args.threads}, batch {BATCH}\n")
    print("| network | edges | per-edge | GEMM | GEMM speed-up |\n|---|---|---|---|---|")
    for sizes in [*LAYERS, (64, 256, 256, 10)]:
        r = measure(sizes, args.rounds)
        name = " x ".join(map(str, sizes)) if len(sizes) == 2 else "MLP " + "-".join(map(str, sizes))
        print(f"| {name} | {r['edges']:,} | {r['plain'] * 1e3:.3f} ms | {r['gemm'] * 1e3:.3f} ms | {r['ratio']:.2f}x |")
    r = measure_population(args.rounds)
    print(
        f"| ParallelMLPs population (blocks from {NumbaRuntime.dense_min_edges:,} edges) | {r['edges']:,} "
        f"| {r['plain'] * 1e3:.1f} ms | {r['gemm'] * 1e3:.1f} ms | {r['ratio']:.2f}x |"
    )
    print(f"\nload after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
