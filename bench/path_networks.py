"""Path networks (Keller & Van Keirsbilck, papers.md §3): accuracy with deterministic initialisation, and PathLinear's speed.

    python bench/path_networks.py accuracy [--datasets digits coil20] [--epochs 20] [--seeds 0 1 2]
    python bench/path_networks.py speed [--repeats 7]

``accuracy``: on each data set, a 3-layer network of widths ``n_in - 512 - 512 -
classes`` as a Sobol' path network (8 paths per hidden neuron, ``8 * 512``
paths), a random-walk path network with as many paths, a SET-sparse MLP
(``sparse_mlp`` with SET rewiring, zeta 0.3, every epoch) and a dense MLP
(hidden width chosen) at about the Sobol' network's number of weights; each
with ``kaiming_uniform`` (random), ``deterministic`` and
``deterministic_positive`` initialisation, and the Sobol' network also with the
constant ``1/sqrt(fan_in)`` (all positive, biases 0). Adam (lr 1e-3), batch
64, one thread per run (``--threads``); best test accuracy over the epochs, mean and spread (min-max) over the
seeds (the seed draws the random-walk paths, SET's connections, random initial
values and the shuffling; deterministic inits differ only in shuffling). It
also prints, at initialisation on the training set, the mean pairwise
correlation of the pre-activations of the Sobol' network's layers per init.

``speed``: one forward and backward pass (batch 64 and 256) of a Sobol'
``PathLinear`` layer against the same wiring on the sparse engine (a one-level
DAGNetwork, as ``SparseLinear`` is) and ``nn.Linear`` with as many weights
(same inputs, ``k * n_out / n_in`` outputs) and of the same shape (dense),
CPU, float32, one thread (``--threads``), models alternating within each
repeat; medians and ratios.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
import warnings

import numpy as np
import torch
from torch import nn

from dagnet import DAGNetwork
from dagnet.data import load_coil20, load_digits
from dagnet.errors import DeadNodeWarning
from dagnet.evolve import SET
from dagnet.nn import PathLinear, sparse_mlp
from dagnet.topology import random_walk_paths, sobol_paths
from dagnet.train import fit

INITS = ("kaiming_uniform", "deterministic", "deterministic_positive")
HIDDEN, PATHS_PER_NEURON = 512, 8


def _sizes(data) -> list[int]:
    return [data.num_features, HIDDEN, HIDDEN, data.num_classes]


def _path_net(kind: str, sizes: list[int], init: str, seed: int) -> DAGNetwork:
    paths = PATHS_PER_NEURON * HIDDEN
    if kind == "sobol":
        wiring = sobol_paths(sizes, paths, as_wiring=True)
    else:
        wiring = random_walk_paths(sizes, paths, seed=seed, as_wiring=True)
    if init == "constant":  # all positive 1/sqrt(fan_in), biases 0
        fan = np.bincount(wiring.target, minlength=wiring.num_nodes)
        wiring = dataclasses.replace(wiring, weight=1 / np.sqrt(fan[wiring.target]), bias=np.zeros(wiring.num_nodes))
        init = "kaiming_uniform"
    inputs = [(0, i) for i in range(sizes[0])]
    outputs = [(len(sizes) - 1, j) for j in range(sizes[-1])]
    with warnings.catch_warnings():  # a random walk may miss a neuron
        warnings.simplefilter("ignore", DeadNodeWarning)
        return DAGNetwork(wiring, inputs=inputs, outputs=outputs, init=init, seed=seed, prune_dead=kind != "sobol")


def _set_epsilon(sizes: list[int], edges: int) -> float:
    """SET's epsilon whose expected weights (per-layer density capped at 1) are ``edges``."""

    def expected(eps: float) -> float:
        return sum(min(1.0, eps * (a + b) / (a * b)) * a * b for a, b in zip(sizes[:-1], sizes[1:]))

    lo, hi = 1e-6, 1e6
    for _ in range(200):
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if expected(mid) < edges else (lo, mid)
    return lo


def _dense_width(sizes: list[int], edges: int) -> int:
    """Hidden width ``h`` of an ``n_in - h - h - n_out`` dense MLP with about ``edges`` weights."""
    a, b = sizes[0] + sizes[-1], edges  # h^2 + a h = edges
    return max(1, round((-a + (a * a + 4 * b) ** 0.5) / 2))


def _num_weights(model: nn.Module) -> int:
    if isinstance(model, DAGNetwork):
        return model.num_edges
    return sum(m.num_edges for m in model if hasattr(m, "num_edges"))


def _models(sizes: list[int], edges: int):
    eps, h = _set_epsilon(sizes, edges), _dense_width(sizes, edges)
    return {
        "Sobol' paths": lambda init, seed: (_path_net("sobol", sizes, init, seed), []),
        "random-walk paths": lambda init, seed: (_path_net("walk", sizes, init, seed), []),
        "SET-sparse MLP": lambda init, seed: (
            sparse_mlp(sizes, epsilon=eps, init=init, seed=seed),
            [SET(zeta=0.3, seed=seed)],
        ),
        f"dense MLP (hidden {h})": lambda init, seed: (
            sparse_mlp([sizes[0], h, h, sizes[-1]], density=1.0, init=init, seed=seed),
            [],
        ),
    }


def _correlations(net: DAGNetwork, X: torch.Tensor, sizes: list[int]) -> list[float]:
    """Mean pairwise correlation, over the training set, of each layer's pre-activations at initialisation."""
    w = net.weight.detach().double()
    src, dst = net.edge_endpoints()
    labels = net.node_labels
    bias = dict(zip((labels[int(v)] for v in net.node_index[sizes[0] :]), net.bias.detach().double().tolist()))
    h, out = X.double(), []
    for layer in range(1, len(sizes)):
        mask = np.array([labels[v][0] == layer for v in dst])
        rows = torch.tensor([labels[v][1] for v in dst[mask]])
        cols = torch.tensor([labels[u][1] for u in src[mask]])
        W = torch.zeros(sizes[layer], sizes[layer - 1], dtype=torch.float64)
        W.index_put_((rows, cols), w[torch.from_numpy(mask)], accumulate=True)
        z = h @ W.T + torch.tensor([bias[(layer, j)] for j in range(sizes[layer])])
        c = torch.corrcoef(z.T)
        off = c[~torch.eye(c.shape[0], dtype=torch.bool)]
        out.append(float(off[torch.isfinite(off)].mean()))
        h = torch.relu(z)
    return out


def accuracy(args) -> None:
    for name in args.datasets:
        data = load_digits() if name == "digits" else load_coil20(args.data)
        sizes = _sizes(data)
        edges = _path_net("sobol", sizes, "kaiming_uniform", 0).num_edges
        print(f"\n### {name}: widths {sizes}, Sobol' network {edges} weights, {args.epochs} epochs\n")
        X = torch.as_tensor(np.asarray(data.X_train), dtype=torch.float64)
        corr = {init: _correlations(_path_net("sobol", sizes, init, 0), X, sizes) for init in (*INITS, "constant")}
        print("pre-activation correlation at init, Sobol' network, layers 1..3:")
        for init, c in corr.items():
            print(f"  {init:24s}" + " ".join(f"{v:6.2f}" for v in c))
        print("\n| network | weights | init | best test accuracy (mean) | min - max | s/run |")
        print("|---|---|---|---|---|---|")
        for arch, make in _models(sizes, edges).items():
            inits = (*INITS, "constant") if arch == "Sobol' paths" else INITS
            for init in inits:
                accs, weights, t = [], [], time.perf_counter()
                for seed in args.seeds:
                    model, rules = make(init, seed)
                    weights.append(_num_weights(model))
                    res = fit(
                        model,
                        data,
                        optimizer=lambda p: torch.optim.Adam(p, lr=args.lr),
                        epochs=args.epochs,
                        batch_size=64,
                        rules=rules,
                        seed=seed,
                        progress=False,
                    )
                    accs.append(max(r["test_accuracy"] for r in res.metrics))
                secs = (time.perf_counter() - t) / len(args.seeds)
                label = "constant 1/sqrt(fan_in)" if init == "constant" else init
                print(
                    f"| {arch} | {round(statistics.mean(weights))} | {label} | {100 * statistics.mean(accs):.2f}% "
                    f"| {100 * min(accs):.2f} - {100 * max(accs):.2f} | {secs:.1f} |",
                    flush=True,
                )


def _step_time(model: nn.Module, x: torch.Tensor, steps: int) -> float:
    t = time.perf_counter()
    for _ in range(steps):
        model.zero_grad(set_to_none=True)
        model(x).sum().backward()
    return (time.perf_counter() - t) / steps


def speed(args) -> None:
    print(
        "| layer | batch | PathLinear ms | engine ms | nn.Linear equal weights ms | dense ms | engine / path | equal / path | dense / path |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n_in, n_out, k in ((512, 512, 8), (1024, 1024, 16), (4096, 4096, 16)):
        wiring = sobol_paths([n_in, n_out], k * n_out, as_wiring=True)
        path = PathLinear.from_wiring(wiring, seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeadNodeWarning)
            engine = DAGNetwork(
                wiring,
                inputs=[(0, i) for i in range(n_in)],
                outputs=[(1, j) for j in range(n_out)],
                activation="identity",
                seed=0,
            )
        models = {
            "path": path,
            "engine": engine,
            "equal": nn.Linear(n_in, k * n_out // n_in),
            "dense": nn.Linear(n_in, n_out),
        }
        for batch in (64, 256):
            x = torch.randn(batch, n_in, generator=torch.Generator().manual_seed(0))
            times = {key: [] for key in models}
            for m in models.values():
                _step_time(m, x, 3)  # warm-up (compiles the engine's kernels)
            for _ in range(args.repeats):
                for key, m in models.items():  # alternating
                    times[key].append(_step_time(m, x, args.steps))
            med = {key: statistics.median(v) * 1e3 for key, v in times.items()}
            print(
                f"| {n_in}x{n_out}, k={k} | {batch} | {med['path']:.3f} | {med['engine']:.3f} | {med['equal']:.3f} "
                f"| {med['dense']:.3f} | {med['engine'] / med['path']:.2f} | {med['equal'] / med['path']:.2f} "
                f"| {med['dense'] / med['path']:.2f} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    acc = sub.add_parser("accuracy")
    acc.add_argument("--datasets", nargs="+", default=["digits", "coil20"], choices=["digits", "coil20"])
    acc.add_argument("--epochs", type=int, default=20)
    acc.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    acc.add_argument("--lr", type=float, default=1e-3)
    acc.add_argument("--data", default=None, help="folder of coil20.npz (default: the loader's)")
    spd = sub.add_parser("speed")
    spd.add_argument("--repeats", type=int, default=7)
    spd.add_argument("--steps", type=int, default=20)
    for p in (acc, spd):
        p.add_argument("--threads", type=int, default=1, help="torch (and engine) threads")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    accuracy(args) if args.what == "accuracy" else speed(args)


if __name__ == "__main__":
    main()
