"""The CPU time of one training step on one thread, for comparing two source trees in fresh processes.

    PYTHONPATH=src python bench/cpu_step.py 100000 0.0002 --steps 9

An Erdős–Rényi DAG of N nodes at edge probability p, batch 128, MSE loss, SGD;
three warm-up steps, then prints the median CPU time (``time.process_time``,
this process alone) of ``--steps`` steps in milliseconds. Run it alternately
with ``PYTHONPATH`` set to each tree (e.g. one unpacked by ``git archive``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from dagnet import DAGNetwork
from dagnet.topology import erdos_renyi_dag


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int)
    parser.add_argument("p", type=float)
    parser.add_argument("--steps", type=int, default=9)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    net = DAGNetwork(erdos_renyi_dag(args.n, args.p, seed=0, as_wiring=True), seed=0)
    x, y = torch.randn(128, net.in_features), torch.randn(128, net.out_features)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x), y).backward()
        opt.step()

    for _ in range(3):
        step()
    times = []
    for _ in range(args.steps):
        t = time.process_time()
        step()
        times.append(time.process_time() - t)
    print(f"{statistics.median(times) * 1e3:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
