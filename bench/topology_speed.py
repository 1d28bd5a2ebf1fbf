"""Generation speed of dagnet.topology for large graphs; prints a markdown table.

Run with one thread (the generators are single-threaded anyway; this pins the
BLAS/OpenMP/numba pools so that nothing else competes)::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \
        .venv/bin/python bench/topology_speed.py [--repeat 3] [--quick]

Each row is the best of ``--repeat`` runs after one warm-up run (which also
compiles the numba kernels).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from dagnet import Wiring
from dagnet.topology import (
    erdos_renyi_dag,
    feedforward_cut,
    layered_sparse,
    random_walk_paths,
    scale_free_dag,
    small_world_dag,
    sobol_paths,
)


def cases(quick: bool):
    scale = 10 if quick else 1
    n_er = 10**6 // scale
    p_er = 2e7 / (n_er * (n_er - 1))  # 10^7 edges expected (10^5 with --quick)
    rng = np.random.default_rng(0)
    n_fas, m_fas = 5000, 30000
    cyclic = Wiring(n_fas, rng.integers(0, n_fas, m_fas), rng.integers(0, n_fas, m_fas))
    yield f"erdos_renyi_dag({n_er:.0e}, p={p_er:.2g})", lambda: erdos_renyi_dag(n_er, p_er, seed=1, as_wiring=True)
    yield "scale_free_dag(1e5, m=5)", lambda: scale_free_dag(10**5, 5, seed=1, as_wiring=True)
    yield "scale_free_dag(1e6, m=5)", lambda: scale_free_dag(10**6 // scale, 5, seed=1, as_wiring=True)
    yield "small_world_dag(1e6, k=10, p=0.1)", lambda: small_world_dag(10**6 // scale, 10, 0.1, seed=1, as_wiring=True)
    yield "layered_sparse([10000]*4, epsilon=20)", lambda: layered_sparse([10000] * 4, 20, seed=1, as_wiring=True)
    yield (
        "random_walk_paths([10000]*4, 1e5 paths)",
        lambda: random_walk_paths([10000] * 4, 10**5, seed=1, as_wiring=True),
    )
    yield "sobol_paths([10000]*4, 1e5 paths)", lambda: sobol_paths([10000] * 4, 10**5, as_wiring=True)
    yield "sobol_paths([16384]*4, 16*16384 paths)", lambda: sobol_paths([16384] * 4, 16 * 16384, as_wiring=True)
    yield "feedforward_cut(random 5e3 nodes, 3e4 edges)", lambda: feedforward_cut(cyclic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10x smaller ER, BA(1e6) and WS graphs")
    args = parser.parse_args()
    print(
        f"dagnet.topology generation speed ({platform.processor() or platform.machine()}, "
        f"best of {args.repeat}, one thread)\n"
    )
    print("| call | nodes | edges | seconds |")
    print("|---|---:|---:|---:|")
    for name, call in cases(args.quick):
        result = call()  # warm-up: compiles numba kernels
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = call()
            best = min(best, time.perf_counter() - start)
        graph = getattr(result, "dag", result)
        print(f"| `{name}` | {graph.num_nodes:,} | {graph.num_edges:,} | {best:.3f} |", flush=True)


if __name__ == "__main__":
    main()
