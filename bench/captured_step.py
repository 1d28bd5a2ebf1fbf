"""A training step replayed as a CUDA graph against the same step run eagerly, on deep and wide DAGs.

    python bench/captured_step.py [--device cuda] [--points 8000:0.01 1000000:0.00002]

For each Erdős–Rényi point ``N:p`` (default: N = 8000 at p = 0.01, 174 levels,
where one launch per level and pass dominates, and 10^6 nodes at 10^7 edges):
a ``DAGNetwork`` on the device, batch 128, MSE loss, SGD; the eager step and
:class:`dagnet.train.CapturedStep` timed in alternating rounds
(``dagnet.bench.engine.time_alternating``, CUDA synchronised around each timed
block). Prints a markdown table. On a CPU both are the same eager step;
without CUDA, ``--device cuda`` exits with code 2.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch
from torch.nn import functional as F

from dagnet import DAGNetwork
from dagnet.bench.engine import time_alternating
from dagnet.topology import erdos_renyi_dag
from dagnet.train import CapturedStep


def measure(n: int, p: float, device: torch.device, batch: int, rounds: int) -> dict:
    net = DAGNetwork(erdos_renyi_dag(n, p, seed=0, as_wiring=True), seed=0, device=device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, net.in_features, generator=g).to(device)
    y = torch.randn(batch, net.out_features, generator=g).to(device)
    eager_opt = torch.optim.SGD(net.parameters(), lr=1e-4)

    def eager():
        eager_opt.zero_grad(set_to_none=True)
        F.mse_loss(net(x), y).backward()
        eager_opt.step()

    captured = CapturedStep(net, torch.optim.SGD(net.parameters(), lr=1e-4), F.mse_loss)

    def replay():
        captured(x, y)

    sync = torch.cuda.synchronize if device.type == "cuda" else None
    t = time_alternating({"eager": eager, "captured": replay}, repeats=rounds, warmup=3, sync=sync)
    te, tc = t["eager"], t["captured"]
    ratio = [a / b for a, b in zip(te, tc)]
    return dict(
        n=n,
        edges=net.num_edges,
        levels=net.num_layers,
        eager=statistics.median(te),
        captured=statistics.median(tc),
        ratio=statistics.median(ratio),
        captures=captured.captures,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--points", nargs="+", default=["8000:0.01", "1000000:0.00002"], help="N:p pairs")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench/captured_step.py: --device cuda, but torch sees no CUDA device here.", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"#### Eager step against CapturedStep on {name}, batch {args.batch}\n")
    print(
        "| N | edges | levels | eager | captured | eager / captured | graphs captured |\n|---|---|---|---|---|---|---|"
    )
    for point in args.points:
        n, p = point.split(":")
        r = measure(int(n), float(p), device, args.batch, args.rounds)
        print(
            f"| {r['n']:,} | {r['edges']:,} | {r['levels']} | {r['eager'] * 1e3:.2f} ms | {r['captured'] * 1e3:.2f} ms "
            f"| {r['ratio']:.2f} | {r['captures']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
