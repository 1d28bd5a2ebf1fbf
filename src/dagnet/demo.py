"""The main job: a DAG network trained on scikit-learn's digits, with accuracy and speed.

Run it with ``dagnet demo`` (or ``make demo``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .nn import DAGNetwork
from .seeding import numpy_rng, torch_generator
from .topology import erdos_renyi_dag
from .wiring import Wiring

__all__ = ["DemoConfig", "random_io_dag", "run_demo"]


@dataclass(frozen=True)
class DemoConfig:
    hidden: int = 300         # hidden neurons in the random DAG
    p: float = 0.04           # edge probability among hidden neurons (i < j)
    fan_in: int = 8           # input neurons feeding each first-touch hidden neuron
    fan_out: int = 24         # hidden neurons feeding each output
    epochs: int = 30
    batch: int = 64
    lr: float = 0.01
    seed: int = 0


def random_io_dag(num_inputs: int, num_hidden: int, num_outputs: int, p: float, fan_in: int,
                  fan_out: int, seed: int | None = None) -> Wiring:
    """Return a random DAG with the given numbers of input, hidden and output neurons.

    Hidden neurons form an Erdős–Rényi DAG (edge ``i -> j`` for ``i < j`` with
    probability ``p``); each hidden neuron without a hidden predecessor gets
    ``fan_in`` random inputs, every other one a single random input (a skip
    connection); each output reads ``fan_out`` random hidden neurons. Nodes are
    labelled ``("in", i)``, ``("h", i)`` and ``("out", i)``.

    Examples
    --------
    >>> w = random_io_dag(4, 10, 2, 0.2, 2, 3, seed=0)
    >>> w.labels[0], w.labels[-1]
    (('in', 0), ('out', 1))
    """
    rng = numpy_rng(seed)
    hidden = erdos_renyi_dag(num_hidden, p, seed=rng, as_wiring=True)
    n_in, n_h = num_inputs, num_hidden
    has_pred = np.bincount(hidden.target, minlength=n_h) > 0
    k = np.where(has_pred, 1, min(fan_in, n_in))
    in_dst = np.repeat(np.arange(n_h), k)
    in_src = np.concatenate([rng.choice(n_in, size=int(c), replace=False) for c in k])
    out_src = np.concatenate([rng.choice(n_h, size=min(fan_out, n_h), replace=False)
                              for _ in range(num_outputs)])
    out_dst = np.repeat(np.arange(num_outputs), min(fan_out, n_h))
    source = np.concatenate([in_src, n_in + hidden.source, n_in + out_src])
    target = np.concatenate([n_in + in_dst, n_in + hidden.target, n_in + n_h + out_dst])
    labels = ([("in", i) for i in range(n_in)] + [("h", i) for i in range(n_h)]
              + [("out", i) for i in range(num_outputs)])
    return Wiring(n_in + n_h + num_outputs, source, target, labels=labels)


def _digits(seed: int):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X = (X - X.mean(0)) / (X.std(0) + 1e-6)
    order = numpy_rng(seed).permutation(len(y))
    cut = int(0.75 * len(y))
    tr, te = order[:cut], order[cut:]
    as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    return as_t(X[tr]), as_t(y[tr]).long(), as_t(X[te]), as_t(y[te]).long()


def _train(model: nn.Module, data, cfg: DemoConfig, name: str, out=sys.stdout):
    Xtr, ytr, Xte, yte = data
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch_generator(cfg.seed)
    start = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        perm = torch.randperm(len(ytr), generator=gen)
        total = 0.0
        for i in range(0, len(ytr), cfg.batch):
            idx = perm[i:i + cfg.batch]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(Xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        if (epoch + 1) % 10 == 0 or epoch == 0:
            print(f"  {name:<12} epoch {epoch + 1:3d}/{cfg.epochs}  loss {total / len(ytr):.4f}",
                  file=out, flush=True)
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        acc = (model(Xte).argmax(1) == yte).float().mean().item()
    samples = cfg.epochs * len(ytr)
    return acc, seconds, samples / seconds


def run_demo(cfg: DemoConfig = DemoConfig(), out=sys.stdout) -> dict:
    """Train a DAGNetwork and a dense MLP of similar size on digits; print and return the results.

    Examples
    --------
    >>> r = run_demo(DemoConfig(hidden=20, epochs=1), out=None)  # doctest: +SKIP
    """
    data = _digits(cfg.seed)
    n_in, n_out = data[0].shape[1], 10
    wiring = random_io_dag(n_in, cfg.hidden, n_out, cfg.p, cfg.fan_in, cfg.fan_out, seed=cfg.seed)
    t0 = time.perf_counter()
    dag = DAGNetwork(wiring, seed=cfg.seed)
    build = time.perf_counter() - t0
    params = sum(p.numel() for p in dag.parameters())
    width = max(1, round(params / (n_in + n_out + 1)))  # dense MLP with about as many parameters
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)  # nn.Linear draws from the global RNG: fork it, seed it, restore it
        mlp = nn.Sequential(nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, n_out))
    print(f"digits: {len(data[1])} train / {len(data[3])} test images, 64 pixels, 10 classes", file=out)
    print(f"DAGNetwork: {dag.num_nodes} neurons, {dag.num_edges} synapses, {dag.num_layers} levels, "
          f"{params} parameters, built in {build * 1e3:.0f} ms", file=out)
    acc, sec, rate = _train(dag, data, cfg, "DAGNetwork", out)
    mlp_params = sum(p.numel() for p in mlp.parameters())
    print(f"dense MLP 64-{width}-10: {mlp_params} parameters", file=out)
    acc_m, sec_m, rate_m = _train(mlp, data, cfg, "dense MLP", out)
    print("", file=out)
    print(f"{'model':<12} {'params':>7} {'test acc':>9} {'train s':>8} {'samples/s':>10}", file=out)
    print(f"{'DAGNetwork':<12} {params:>7d} {acc:>9.2%} {sec:>8.2f} {rate:>10.0f}", file=out)
    print(f"{'dense MLP':<12} {mlp_params:>7d} {acc_m:>9.2%} {sec_m:>8.2f} {rate_m:>10.0f}", file=out)
    return dict(dag_accuracy=acc, dag_seconds=sec, dag_params=params,
                mlp_accuracy=acc_m, mlp_seconds=sec_m, mlp_params=mlp_params)
