"""``torch.compile`` of models holding dagnet networks against the same models run eagerly.

    python bench/compile.py [--rounds 15] [--batch 128]

Models: the SET-MLP 64-256-256-10 (``sparse_mlp``, epsilon 20, ReLU), the same
MLP as the sparse head of a small convolutional model (one ``nn.Conv2d`` of 8
channels on 8 x 8 images, flattened into the MLP), and a ``DAGNetwork`` over
an Erdős–Rényi DAG (N = 1000, p = 0.01); as a control, the dense torch MLP
64-256-256-10, which holds no dagnet layer. For each: graphs and graph
breaks under ``torch._dynamo.explain``, then a training step (forward, cross
entropy, backward, SGD) of the eager model and of two ``torch.compile``
copies, timed in alternating rounds (``dagnet.bench.engine.time_alternating``):
the default back end (Inductor, which generates the kernels of the torch
operations around the dagnet layers) and ``aot_eager`` (the same captured
graphs run with torch's eager kernels: what capturing the model costs). Prints
a markdown table of median step times and their ratios to eager; the first
Inductor step (the compilation) is reported apart.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F

from dagnet import DAGNetwork
from dagnet.bench.engine import time_alternating
from dagnet.nn import sparse_mlp
from dagnet.topology import erdos_renyi_dag


class ConvWithSparseHead(nn.Module):
    """A convolution on 8 x 8 images flattened into a SET-MLP head."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.head = sparse_mlp([8 * 64, 256, 256, 10], epsilon=20, seed=0)

    def forward(self, x):
        return self.head(F.relu(self.conv(x.reshape(-1, 1, 8, 8))).flatten(1))


BACKENDS = ("inductor", "aot_eager")


def models():
    dense = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    yield "control: dense nn.Linear MLP 64-256-256-10", dense, 64, 10
    yield "sparse_mlp 64-256-256-10", sparse_mlp([64, 256, 256, 10], epsilon=20, seed=0), 64, 10
    yield "conv + sparse_mlp head", ConvWithSparseHead(), 64, 10
    net = DAGNetwork(erdos_renyi_dag(1000, 0.01, seed=0, as_wiring=True), seed=0)
    yield "DAGNetwork ER N=1000 p=0.01", net, net.in_features, net.out_features


def measure(model: nn.Module, n_in: int, n_out: int, batch: int, rounds: int) -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, n_in, generator=g)
    y = torch.randint(0, n_out, (batch,), generator=g)
    explanation = torch._dynamo.explain(model)(x)

    def step_of(module, call):
        opt = torch.optim.SGD(module.parameters(), lr=1e-3)

        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(call(x), y).backward()
            opt.step()

        return step

    steps = {"eager": step_of(model, model)}
    compile_s = {}
    for backend in BACKENDS:
        copied = copy.deepcopy(model)
        steps[backend] = step_of(copied, torch.compile(copied, backend=backend))
        start = time.perf_counter()
        steps[backend]()
        compile_s[backend] = time.perf_counter() - start
    times = time_alternating(steps, repeats=rounds, warmup=3)
    return {
        "graphs": explanation.graph_count,
        "breaks": explanation.graph_break_count,
        "compile_s": compile_s["inductor"],
        **{name: statistics.median(t) for name, t in times.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.2f}; torch threads: {torch.get_num_threads()}")
    print()
    print(
        "| model | graphs | breaks | first compiled step (s) | eager step (ms) | inductor (ms) | inductor / eager "
        "| aot_eager (ms) | aot_eager / eager |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, model, n_in, n_out in models():
        r = measure(model, n_in, n_out, args.batch, args.rounds)
        print(
            f"| {name} | {r['graphs']} | {r['breaks']} | {r['compile_s']:.1f} | {r['eager'] * 1e3:.3f} | "
            f"{r['inductor'] * 1e3:.3f} | {r['inductor'] / r['eager']:.2f} | {r['aot_eager'] * 1e3:.3f} | "
            f"{r['aot_eager'] / r['eager']:.2f} |"
        )
    print()
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
