"""The main job: a SET-MLP and a DAG network trained on scikit-learn's digits, with accuracy and speed.

Run it with ``dagnet demo`` (or ``make demo``).
"""

from __future__ import annotations

import copy
import functools
import sys
import time
from dataclasses import dataclass

import torch
from torch import nn

from .nn import DAGNetwork
from .topology import random_io_dag

__all__ = ["DemoConfig", "run_demo", "compile_kernels"]


@dataclass(frozen=True)
class DemoConfig:
    width: int = 256  # hidden widths of the SET-MLP and the dense MLP
    epsilon: float = 10  # SET's density parameter of the SET-MLP's layers
    hidden: int = 300  # hidden neurons in the random DAG
    p: float = 0.04  # edge probability among hidden neurons (i < j)
    fan_in: int = 8  # input neurons feeding each first-touch hidden neuron
    fan_out: int = 24  # hidden neurons feeding each output
    epochs: int = 30
    batch: int = 64
    lr: float = 0.003
    seed: int = 0


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def compile_kernels(models, X: torch.Tensor, batch: int) -> float:
    """Run each model's sparse modules once, forward and backward, on a copy; return the seconds it took.

    The engine's kernels are compiled by numba on their first call (a few
    seconds on a fresh install, then loaded from numba's cache): calling them
    here keeps that one-time cost out of the training times. The models
    themselves are left untouched.

    Examples
    --------
    >>> from dagnet.nn import sparse_mlp
    >>> compile_kernels([sparse_mlp([4, 3, 2], epsilon=1, seed=0)], torch.zeros(8, 4), 4) >= 0
    True
    """
    start = time.perf_counter()
    for model in models:
        if not any(isinstance(m, DAGNetwork) for m in model.modules()):
            continue
        twin = copy.deepcopy(model).train()
        twin(X[:batch]).sum().backward()
        with torch.no_grad():
            twin.eval()(X[:batch])
    return time.perf_counter() - start


def run_demo(cfg: DemoConfig = DemoConfig(), out=..., progress: bool = False) -> dict:
    """Train a SET-MLP and a DAGNetwork (both rewired by SET) and a dense MLP on digits; print a table.

    The SET-MLP is 64-``width``-``width``-10 with SET's Erdős–Rényi layers
    (``epsilon``); the DAGNetwork is a random DAG of ``hidden`` neurons
    (:func:`dagnet.topology.random_io_dag`); the dense MLP (``torch.nn.Linear`` layers) has
    the SET-MLP's widths. All
    train with Adam on the same shuffled batches (``seed``); both sparse
    models evolve with :class:`dagnet.evolve.SET` after every epoch but the
    last. The table goes to ``out`` (default: standard output; None: nowhere).
    The sparse kernels are compiled before any timing (:func:`compile_kernels`,
    reported on a line of its own), so the times are training alone, on a
    fresh install too.
    Returns ``{model: {"params", "accuracy", "seconds", "samples_per_s"}}``.

    Examples
    --------
    >>> r = run_demo(DemoConfig(hidden=20, width=16, epochs=1), out=None, progress=False)
    >>> sorted(r)
    ['DAGNetwork', 'SET-MLP', 'dense MLP']
    """
    from .data import load_digits
    from .evolve import SET
    from .nn import sparse_mlp
    from .train import fit

    data = load_digits(seed=cfg.seed)
    n_in, n_out = data.X_train.shape[1], data.num_classes
    sizes = [n_in, cfg.width, cfg.width, n_out]
    models = {
        "SET-MLP": sparse_mlp(sizes, epsilon=cfg.epsilon, seed=cfg.seed),
        "DAGNetwork": DAGNetwork(
            random_io_dag(n_in, cfg.hidden, n_out, cfg.p, cfg.fan_in, cfg.fan_out, seed=cfg.seed), seed=cfg.seed
        ),
        "dense MLP": _dense_mlp(sizes, cfg.seed),
    }
    _say(
        out,
        f"digits: {data.X_train.shape[0]} train / {data.X_test.shape[0]} test images, "
        f"{n_in} pixels, {n_out} classes; {cfg.epochs} epochs of Adam, batch {cfg.batch}",
    )
    dag = models["DAGNetwork"]
    _say(out, f"DAGNetwork: a random DAG of {dag.num_nodes} neurons, {dag.num_edges} synapses, {dag.num_layers} levels")
    compiled = compile_kernels(models.values(), data.X_train, cfg.batch)
    _say(
        out, f"sparse kernels compiled (or loaded from numba's cache) in {compiled:.1f} s; not counted as training time"
    )
    results = {}
    for name, model in models.items():
        _say(out, f"training {name} ({_count(model)} parameters) ...")
        rules = [SET(zeta=0.3, seed=cfg.seed)] if name != "dense MLP" else []
        optimizer = functools.partial(torch.optim.Adam, lr=cfg.lr)
        fitted = fit(
            model,
            data,
            optimizer=optimizer,
            epochs=cfg.epochs,
            batch_size=cfg.batch,
            rules=rules,
            seed=cfg.seed,
            progress=progress,
        )
        seconds = sum(row["seconds"] for row in fitted.metrics)
        results[name] = {
            "params": _count(model),
            "accuracy": fitted.metrics[-1]["test_accuracy"],
            "seconds": seconds,
            "samples_per_s": cfg.epochs * data.X_train.shape[0] / seconds,
        }
    _say(out, "")
    _say(out, f"{'model':<11} {'evolution':<10} {'params':>8} {'test acc':>9} {'train s':>8} {'samples/s':>10}")
    for name, r in results.items():
        evo = "SET" if name != "dense MLP" else "-"
        _say(
            out,
            f"{name:<11} {evo:<10} {r['params']:>8d} {r['accuracy']:>9.2%} {r['seconds']:>8.2f} "
            f"{r['samples_per_s']:>10.0f}",
        )
    return results


def _dense_mlp(sizes: list[int], seed: int) -> nn.Sequential:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # nn.Linear draws from the global RNG: fork it, seed it, restore it
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


def _say(out, text: str) -> None:
    if out is not None:
        print(text, file=sys.stdout if out is ... else out, flush=True)
