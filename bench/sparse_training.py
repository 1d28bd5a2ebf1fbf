"""Evidence for sparse training with evolving wiring (SET and friends).

Sub-commands, each printing a markdown section (every random choice from an explicit seed):

* ``madelon``: SET-MLP 500-400-100-400-2 (epsilon 20, zeta 0.3, dropout 0.3, batch 128,
  SGD lr 0.01 momentum 0.9 weight decay 2e-4, All-ReLU) on Madelon: SET vs static sparse (same density, no evolution)
  vs dense, best and final test accuracy and seconds per epoch (training + evaluation +
  evolution), per seed.
* ``reference``: the same setting run by the truly sparse paper's own code (Curci, Mocanu and
  Pechenizkiy; ``set_mlp_sequential.py`` of a local checkout of
  SelimaC/large-scale-sparse-neural-networks given by ``--reference``), per seed; and
  ``madelon --conventions`` runs dagnet with that code's conventions (decoupled weight decay,
  He-uniform on the dense fan-in, float64, the last partial batch dropped).
* ``lockstep``: that code's SET-MLP and dagnet's started from the same weights and fed the same
  batches without dropout: how far apart their weights drift, and which weights each SET step removes.
* ``speed``: the SET run timed back to back against that code (or against the scipy/numba
  re-implementation of ``bench/set_reimplementation.py``), alternating chunks of epochs.
* ``density``: SET vs static sparse vs dense at a whole-model density <= 5% (ERK), on
  digits and COIL-20.
* ``degrees``: the degree distributions of the Madelon SET-MLP before and after evolution,
  with power-law fits (plot written to ``--plot``), and which inputs evolution connects.
* ``memory``: parameters and peak RSS of one training step for three widths (each width in
  a fresh process).
* ``scale``: seconds of a training step, a SET update and a RigL update on a wide SET-MLP.

Usage::

    python bench/sparse_training.py madelon --epochs 500 --seeds 0 1
    python bench/sparse_training.py madelon --conventions --modes set --seeds 0 1 2 3 4
    python bench/sparse_training.py reference --reference ../truly-sparse --seeds 0 1 2 3 4
    python bench/sparse_training.py lockstep --reference ../truly-sparse --steps 60
    python bench/sparse_training.py speed --reference ../truly-sparse --epochs 20 --rounds 3
    python bench/sparse_training.py density --epochs 100
    python bench/sparse_training.py degrees --epochs 500 --plot bench/set_in_degrees.png
    python bench/sparse_training.py memory --widths 4000 8000 16000
    python bench/sparse_training.py scale --width 20000
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dagnet.data import Dataset, batches, load_coil20, load_digits, load_madelon
from dagnet.evolve import SET, set_removal
from dagnet.nn import sparse_mlp
from dagnet.train import SGDW, fit
from dagnet.train.degrees import plot_in_degrees

MADELON_SIZES = [500, 400, 100, 400, 2]
MADELON_SGD = functools.partial(torch.optim.SGD, lr=0.01, momentum=0.9, weight_decay=2e-4)
# The truly sparse code's conventions, each optional in dagnet (``madelon --conventions``).
CONVENTIONS = ("decay", "init", "drop_last", "float64")


def madelon_mlp(mode: str, seed: int, activation: str = "all_relu", conventions=()):
    """The Madelon SET-MLP: epsilon 20 (``mode`` "dense": every connection), dropout 0.3."""
    kw = {"density": 1.0} if mode == "dense" else {"epsilon": 20}
    if "init" in conventions:
        kw["init"] = "he_uniform"
    if "float64" in conventions:
        kw["dtype"] = torch.float64
    return sparse_mlp(MADELON_SIZES, dropout=0.3, activation=activation, seed=seed, **kw)


class ShuffledBatches:
    """The training set in batches of ``batch_size`` in a new random order each epoch, as fit draws a Dataset's."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int, drop_last: bool):
        self.X, self.y, self.batch_size, self.drop_last = X, y, batch_size, drop_last
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):
        return batches(self.X, self.y, self.batch_size, seed=self.generator, drop_last=self.drop_last)


def madelon_inputs(data: Dataset, seed: int, conventions=()):
    """What fit trains on: ``data``, or with "drop_last" or "float64" a pair of batch iterables that do so."""
    if not {"drop_last", "float64"} & set(conventions):
        return data
    dtype = torch.float64 if "float64" in conventions else data.X_train.dtype
    train = ShuffledBatches(data.X_train.to(dtype), data.y_train, 128, seed, "drop_last" in conventions)
    return train, list(batches(data.X_test.to(dtype), data.y_test, 1024, shuffle=False))


class Timed:
    """Wrap a rule and add up the seconds its steps take."""

    def __init__(self, rule):
        self.rule, self.seconds, self.name = rule, 0.0, type(rule).__name__

    def step(self, model, optimizer=None):
        start = time.perf_counter()
        out = self.rule.step(model, optimizer)
        self.seconds += time.perf_counter() - start
        return out

    def state_dict(self):
        return self.rule.state_dict()

    def load_state_dict(self, state):
        self.rule.load_state_dict(state)


def madelon_run(mode: str, seed: int, epochs: int, activation: str = "all_relu", data=None, conventions=()) -> dict:
    """Train the Madelon SET-MLP in ``mode`` (set, static, dense); return accuracies and timings.

    ``conventions``: any of :data:`CONVENTIONS`, the truly sparse code's choices: "decay" is
    :class:`~dagnet.train.SGDW` (``w -= 2e-4 * w`` each step) for torch SGD's weight decay,
    "init" He-uniform on the dense fan-in with zero biases, "drop_last" leaves out each
    epoch's last short batch, "float64" trains in float64.
    """
    data = data or load_madelon()
    mlp = madelon_mlp(mode, seed, activation, conventions)
    rule = Timed(SET(zeta=0.3, seed=seed))
    optimizer = functools.partial(SGDW, lr=0.01, momentum=0.9, weight_decay=2e-4) if "decay" in conventions else None
    cpu = time.process_time()
    result = fit(
        mlp,
        madelon_inputs(data, seed, conventions),
        optimizer=optimizer or MADELON_SGD,
        epochs=epochs,
        batch_size=128,
        rules=[rule] if mode == "set" else [],
        seed=seed,
        progress=False,
    )
    cpu = time.process_time() - cpu
    acc = [r["test_accuracy"] for r in result.metrics]
    train = sum(r["seconds"] for r in result.metrics)
    return {
        "mode": mode,
        "seed": seed,
        "epochs": epochs,
        "best": max(acc),
        "final": acc[-1],
        "curve": acc,
        "train_s": train / epochs,
        "evolve_s": rule.seconds / epochs,
        "epoch_s": (train + rule.seconds) / epochs,
        "epoch_cpu_s": cpu / epochs,
        "params": sum(p.numel() for p in mlp.parameters()),
    }


def load_reference(path: str | os.PathLike) -> types.ModuleType:
    """Import ``set_mlp_sequential`` from a local checkout of the truly sparse code, with two fixes to run today.

    Nothing of the checkout is copied; at run time:

    * its ``array_intersect`` calls ``np.in1d``, gone from numpy 2.4: the function is
      re-bound (same code) to globals whose ``np.in1d`` is ``np.isin`` flattened, as numpy
      documented ``in1d``;
    * its ``predict`` fills only whole batches of 100 and leaves the ``n % 100`` last
      rows at 0 (scored as class 0): the wrapper also predicts those rows (a no-op on
      Madelon's 2000 and 600);
    * its data loaders and CPU monitor (keras, psutil), unused here, are replaced by empty
      modules before the import.

    Returns the module (``SET_MLP``, ``AlternatedLeftReLU``, ``Softmax``, ``CrossEntropy``).
    """
    root = Path(path).resolve()
    if not (root / "set_mlp_sequential.py").is_file():
        raise FileNotFoundError(f"{root} is not a checkout of SelimaC/large-scale-sparse-neural-networks")
    for name, attr in (("utils.load_data", "load_fashion_mnist_data"), ("wasap_sgd.train.monitor", "Monitor")):
        stub = types.ModuleType(name)
        setattr(stub, attr, None)
        sys.modules.setdefault(name, stub)
    sys.path.insert(0, str(root))
    try:
        ref = importlib.import_module("set_mlp_sequential")
    finally:
        sys.path.remove(str(root))
    if not hasattr(np, "in1d"):
        numpy_with_in1d = types.SimpleNamespace(in1d=lambda a, b: np.isin(a, b).ravel())
        f = ref.array_intersect
        ref.array_intersect = types.FunctionType(f.__code__, {**f.__globals__, "np": numpy_with_in1d}, f.__name__)
    predict = ref.SET_MLP.predict

    def predict_every_row(self, x_test, y_test, batch_size=100):
        accuracy, activations = predict(self, x_test, y_test, batch_size)
        rest = x_test.shape[0] % batch_size
        if rest:
            activations[-rest:] = predict(self, x_test[-rest:], y_test[-rest:], rest)[1]
            accuracy = float(np.mean(activations.argmax(1) == y_test.argmax(1)))
        return accuracy, activations

    ref.SET_MLP.predict = predict_every_row
    import numba

    threads = torch.get_num_threads()
    numba.set_num_threads(1)  # as dagnet's runs: one thread
    torch.set_num_threads(threads)  # numba's OpenMP start-up resets torch's (one shared runtime)
    return ref


def _numba_seeder():
    """A compiled ``np.random.seed``: the reference's dropout draws from numba's generator, not numpy's."""
    import numba

    @numba.njit
    def seed_numba(seed):
        np.random.seed(seed)

    return seed_numba


def reference_run(ref: types.ModuleType, seed: int, epochs: int, data: Dataset | None = None) -> dict:
    """Train the truly sparse code's SET-MLP in the Madelon setting; return accuracies and timings.

    Its ``fit`` as it is (All-ReLU -0.6, 0.6, -0.6 and softmax, cross-entropy, batch 128, lr
    0.01, momentum 0.9, weight decay 2e-4, zeta 0.3, dropout 0.3; it evaluates the test and the
    training set after each epoch, and writes its metric files into a temporary folder). numpy's
    and numba's generators are seeded with ``seed``. ``eval_s`` and ``evolve_s`` time its
    ``predict`` and ``weights_evolution_II``; ``train_s`` is the rest of the epoch.
    """
    data = data or load_madelon()
    onehot = np.eye(data.num_classes, dtype=np.float32)
    x, y = data.X_train.numpy(), onehot[data.y_train.numpy()]
    xt, yt = data.X_test.numpy(), onehot[data.y_test.numpy()]
    np.random.seed(seed)
    _numba_seeder()(seed)
    relu = ref.AlternatedLeftReLU
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        mlp = ref.SET_MLP(MADELON_SIZES, (relu(-0.6), relu(0.6), relu(-0.6), ref.Softmax), epsilon=20)
    spent = {"predict": 0.0, "weights_evolution_II": 0.0}
    for name in spent:
        method = getattr(mlp, name)

        def timed(*a, _method=method, _name=name, **kw):
            start = time.perf_counter()
            out = _method(*a, **kw)
            spent[_name] += time.perf_counter() - start
            return out

        setattr(mlp, name, timed)
    params = sum(mlp.w[i].nnz + mlp.b[i].size for i in mlp.w)
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(open(os.devnull, "w")):
        start, cpu = time.perf_counter(), time.process_time()
        metrics = mlp.fit(
            x, y, xt, yt, loss=ref.CrossEntropy, epochs=epochs, batch_size=128, learning_rate=0.01,
            momentum=0.9, weight_decay=2e-4, zeta=0.3, dropoutrate=0.3, testing=True,
            save_filename=os.path.join(tmp, "set_mlp"), monitor=False,
        )  # fmt: skip
        total, cpu = time.perf_counter() - start, time.process_time() - cpu
    acc = metrics[:, 3]
    return {
        "seed": seed,
        "epochs": epochs,
        "best": float(acc.max()),
        "final": float(acc[-1]),
        "curve": acc.tolist(),
        "train_s": (total - sum(spent.values())) / epochs,
        "eval_s": spent["predict"] / epochs,
        "evolve_s": spent["weights_evolution_II"] / epochs,
        "epoch_s": total / epochs,
        "epoch_cpu_s": cpu / epochs,
        "params": int(params),
    }


def cmd_madelon(args) -> None:
    data = load_madelon()
    given = f", the truly sparse code's conventions: {', '.join(args.conventions)}" if args.conventions else ""
    print(
        f"### Madelon, SET-MLP {'-'.join(map(str, MADELON_SIZES))}, {args.epochs} epochs "
        f"(dense: {args.dense_epochs}){given}, 1 thread\n"
    )
    print("| mode | seed | parameters | best test acc | final test acc | s/epoch (train+eval) | s/epoch evolution |")
    print("|---|---|---|---|---|---|---|")
    best = {}
    for seed in args.seeds:
        for mode in args.modes:
            epochs = args.dense_epochs if mode == "dense" else args.epochs
            r = madelon_run(mode, seed, epochs, args.activation, data, args.conventions)
            _record(args.json, {"implementation": "dagnet", "conventions": args.conventions, **r})
            best.setdefault(mode, []).append(r["best"])
            print(
                f"| {mode} | {seed} | {r['params']} | {r['best']:.1%} | {r['final']:.1%} | "
                f"{r['train_s']:.3f} | {r['evolve_s']:.3f} |",
                flush=True,
            )
    for mode, values in best.items():
        print(f"\nMean best test accuracy of {mode} over {len(values)} seeds: {statistics.mean(values):.2%}")


def _record(path: str | None, run: dict) -> None:
    """Append ``run`` as one JSON line to ``path`` (if given): the per-epoch accuracies with the summary."""
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(run) + "\n")


def cmd_reference(args) -> None:
    ref = load_reference(args.reference)
    data = load_madelon()
    print(
        f"### Madelon, the truly sparse code's SET-MLP {'-'.join(map(str, MADELON_SIZES))}, {args.epochs} epochs, "
        "1 thread\n"
    )
    print(
        "| seed | parameters | best test acc | final test acc | s/epoch | train | eval (test + train set) | evolution |"
    )
    print("|---|---|---|---|---|---|---|---|")
    best = []
    for seed in args.seeds:
        r = reference_run(ref, seed, args.epochs, data)
        _record(args.json, {"implementation": "reference", **r})
        best.append(r["best"])
        print(
            f"| {seed} | {r['params']} | {r['best']:.1%} | {r['final']:.1%} | {r['epoch_s']:.3f} | "
            f"{r['train_s']:.3f} | {r['eval_s']:.3f} | {r['evolve_s']:.3f} |",
            flush=True,
        )
    print(f"\nMean best test accuracy over {len(best)} seeds: {statistics.mean(best):.2%}")


def cmd_lockstep(args) -> None:
    """The code's SET-MLP and dagnet's from the same weights, same batches, no dropout: do their steps agree?"""
    ref = load_reference(args.reference)
    data = load_madelon()
    onehot = np.eye(data.num_classes, dtype=np.float32)
    x, y = data.X_train.numpy(), onehot[data.y_train.numpy()]
    np.random.seed(args.seed)
    relu = ref.AlternatedLeftReLU
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        theirs = ref.SET_MLP(MADELON_SIZES, (relu(-0.6), relu(0.6), relu(-0.6), ref.Softmax), epsilon=20)
    theirs.loss, theirs.learning_rate, theirs.momentum, theirs.weight_decay = ref.CrossEntropy(), 0.01, 0.9, 2e-4
    theirs.zeta, theirs.dropout_rate = 0.3, 0.0
    ours = sparse_mlp(MADELON_SIZES, epsilon=20, activation="all_relu", seed=args.seed, dtype=torch.float64)
    layers = ours[::2]
    for k, layer in enumerate(layers, 1):  # the code's connections and weights, edge for edge
        w = theirs.w[k].tocoo()
        layer.rewire_(
            remove=np.ones(layer.num_edges, dtype=bool),
            add_source=w.row.astype(np.int64),
            add_target=w.col.astype(np.int64) + layer.in_features,
            add_weight=w.data,
        )
        layer.bias.data.zero_()
    optimizer = SGDW(ours.parameters(), lr=0.01, momentum=0.9, weight_decay=2e-4)
    order = np.random.default_rng(args.seed)
    print(f"### Lockstep: the truly sparse code's SET-MLP and dagnet's (float64, SGDW), seed {args.seed}, no dropout\n")
    print("| steps | max abs weight difference / max abs weight, per layer | max abs bias difference |")
    print("|---|---|---|")
    for step in range(1, args.steps + 1):
        rows = order.permutation(x.shape[0])[:128]
        z, a, masks = theirs._feed_forward(x[rows], True)
        theirs._back_prop(z, a, masks, y[rows])
        optimizer.zero_grad()
        nn.functional.cross_entropy(
            ours(torch.from_numpy(x[rows]).double()), torch.from_numpy(y[rows].argmax(1))
        ).backward()
        optimizer.step()
        if step in (1, args.steps) or step % 20 == 0:
            w_gap = [
                np.abs(layer.to_dense().detach().numpy().T - theirs.w[k].toarray()).max()
                / np.abs(theirs.w[k].data).max()
                for k, layer in enumerate(layers, 1)
            ]
            b_gap = max(np.abs(layer.bias.detach().numpy() - theirs.b[k]).max() for k, layer in enumerate(layers, 1))
            print(f"| {step} | {', '.join(f'{g:.1e}' for g in w_gap)} | {b_gap:.1e} |")
    print("\n| layer | weights | removed by the code | by dagnet's `set_removal` | by both |")
    print("|---|---|---|---|---|")
    with contextlib.redirect_stdout(open(os.devnull, "w")), tempfile.TemporaryDirectory() as tmp:
        theirs.save_filename = os.path.join(tmp, "set_mlp")
        before = {k: theirs.w[k].tocoo() for k in theirs.w}
        theirs.weights_evolution_II()  # its momentum matrices keep exactly the weights it did not remove
    for k in range(1, len(layers)):
        w, kept = before[k], theirs.pdw[k].tocoo()
        gone_theirs = ~np.isin(w.row * w.shape[1] + w.col, kept.row * w.shape[1] + kept.col)
        gone_ours = set_removal(w.data, 0.3)
        print(f"| {k} | {w.nnz} | {gone_theirs.sum()} | {gone_ours.sum()} | {(gone_theirs & gone_ours).sum()} |")


def cmd_speed(args) -> None:
    data = load_madelon()
    if args.reference:
        ref = load_reference(args.reference)
        name = "the truly sparse code (`set_mlp_sequential.py`)"

        def theirs_run(epochs: int) -> tuple[float, float]:
            r = reference_run(ref, 0, epochs, data)
            return r["epoch_s"], r["epoch_cpu_s"]
    else:
        sys.path.insert(0, str(Path(__file__).parent))
        from set_reimplementation import train_reimplementation

        name = "scipy/numba re-implementation (`bench/set_reimplementation.py`)"

        def theirs_run(epochs: int) -> tuple[float, float]:
            cpu = time.process_time()
            r = train_reimplementation(mode="set", epochs=epochs, seed=0, data=data, all_relu=True, weight_decay=2e-4)
            wall = (sum(r["train_s"]) + sum(r["evolve_s"]) + sum(r["eval_s"])) / epochs
            return wall, (time.process_time() - cpu) / epochs  # CPU: model construction included

    def ours_run(epochs: int) -> tuple[float, float]:
        r = madelon_run("set", 0, epochs, data=data, conventions=args.conventions)
        return r["epoch_s"], r["epoch_cpu_s"]

    ours_run(2), theirs_run(2)  # warm-up, untimed: first calls, compiled kernels loaded
    ours, theirs = [], []
    for _ in range(args.rounds):
        ours.append(ours_run(args.epochs))
        theirs.append(theirs_run(args.epochs))
    a, b = statistics.median(w for w, _ in ours), statistics.median(w for w, _ in theirs)
    ac, bc = statistics.median(c for _, c in ours), statistics.median(c for _, c in theirs)
    given = f", dagnet with the code's conventions {', '.join(args.conventions)}" if args.conventions else ""
    print(
        f"### Madelon SET epoch, back to back ({args.rounds} alternating rounds of {args.epochs} epochs{given}, "
        "1 thread)\n"
    )
    print(
        "s/epoch = the whole epoch as each trains it: training, evaluation (dagnet: the test set; the "
        "truly sparse code: the test and the training set) and evolution.\n"
    )
    print("| implementation | s/epoch per round | median | CPU s/epoch per round | median |")
    print("|---|---|---|---|---|")
    for label, runs, wall, cpu in (("dagnet (SparseLinear + SET)", ours, a, ac), (name, theirs, b, bc)):
        print(
            f"| {label} | {', '.join(f'{w:.3f}' for w, _ in runs)} | {wall:.3f} | "
            f"{', '.join(f'{c:.3f}' for _, c in runs)} | {cpu:.3f} |"
        )
    ratios = ", ".join(f"{t[0] / o[0]:.1f}" for o, t in zip(ours, theirs))
    print(f"\nSpeed-up (ratio of medians): {b / a:.1f}x; per round: {ratios}; in CPU time: {bc / ac:.1f}x")


def cmd_density(args) -> None:
    loaders = {"digits": lambda: load_digits(seed=0), "coil20": lambda: load_coil20(seed=0)}
    print(
        f"### SET vs static sparse vs dense at whole-model density {args.density:.0%} (ERK), "
        f"{args.epochs} epochs, Adam lr {args.lr}\n"
    )
    print("| data | model | mode | parameters | best test acc | final test acc |")
    print("|---|---|---|---|---|---|")
    for name in args.data:
        data = loaders[name]()
        sizes = [data.X_train.shape[1], *args.hidden, data.num_classes]
        for seed in args.seeds:
            for mode in ("set", "static", "dense"):
                mlp = sparse_mlp(sizes, density=1.0 if mode == "dense" else args.density, seed=seed)
                rules = [SET(zeta=0.3, seed=seed)] if mode == "set" else []
                res = fit(
                    mlp,
                    data,
                    optimizer=functools.partial(torch.optim.Adam, lr=args.lr),
                    epochs=args.epochs,
                    batch_size=64,
                    rules=rules,
                    seed=seed,
                    progress=False,
                )
                acc = [r["test_accuracy"] for r in res.metrics]
                params = sum(p.numel() for p in mlp.parameters())
                print(
                    f"| {name} | {'-'.join(map(str, sizes))} (seed {seed}) | {mode} | {params} | "
                    f"{max(acc):.1%} | {acc[-1]:.1%} |",
                    flush=True,
                )


def cmd_degrees(args) -> None:
    """The Madelon SET run's degrees before and after evolution."""
    import numpy as np

    from dagnet.analysis import fit_power_law

    data = load_madelon()
    mlp = madelon_mlp("set", 0)
    input_degree0 = np.bincount(mlp[0].edge_endpoints()[0], minlength=MADELON_SIZES[0])
    res = fit(
        mlp,
        data,
        optimizer=MADELON_SGD,
        epochs=args.epochs,
        batch_size=128,
        rules=[SET(zeta=0.3, seed=0)],
        seed=0,
        progress=False,
        degree_epochs=[0, args.epochs],
    )
    fig = plot_in_degrees(res.degrees, module="3")
    fig.savefig(args.plot, dpi=100)
    print(f"### Degrees of the Madelon SET-MLP before and after {args.epochs} epochs of SET (seed 0)\n")
    print(
        "In-degree of each layer's neurons (ER at epoch 0), with the power-law fit of the tail "
        "(`dagnet.analysis.fit_power_law`, the fit `describe` uses):\n"
    )
    print("| layer | epoch | mean | std | max | power-law alpha (xmin) | vs log-normal | vs exponential |")
    print("|---|---|---|---|---|---|---|---|")
    for name in res.degrees[0]:
        i = int(name)
        if mlp[i].out_features < 10:  # too few neurons for a distribution
            continue
        for epoch in sorted(res.degrees):
            k = res.degrees[epoch][name]
            f = fit_power_law(k[k > 0])
            comp = [
                f"{f.comparisons[c].favoured} (p={f.comparisons[c].p_value:.2g})" for c in ("lognormal", "exponential")
            ]
            print(
                f"| {mlp[i].in_features}->{mlp[i].out_features} | {epoch} | {k.mean():.1f} | {k.std():.1f} | "
                f"{k.max()} | {f.alpha:.1f} ({f.xmin:g}) | {comp[0]} | {comp[1]} |"
            )
    X = data.X_train.numpy()
    corr = np.abs(np.corrcoef(X.T))
    np.fill_diagonal(corr, 0)
    relevant = np.flatnonzero(corr.max(1) > 0.3)  # Madelon's 20 relevant features correlate; its 480 probes do not
    degree = np.bincount(mlp[0].edge_endpoints()[0], minlength=MADELON_SIZES[0])
    top = np.argsort(-degree, kind="stable")[:20]
    others = np.setdiff1d(np.arange(degree.size), relevant)
    print(
        f"\nConnections per input feature (out-degree of the inputs in the first layer): the "
        f"{relevant.size} relevant features (the ones correlated with another feature) have "
        f"{input_degree0[relevant].mean():.1f} on average at epoch 0 and {degree[relevant].mean():.1f} after "
        f"evolution; the {others.size} probes {input_degree0[others].mean():.1f} and {degree[others].mean():.1f}. "
        f"{np.isin(top, relevant).sum()} of the 20 best-connected inputs after evolution are relevant features "
        f"(chance: {20 * relevant.size / degree.size:.1f})."
    )
    print(f"\nFinal test accuracy {res.metrics[-1]['test_accuracy']:.1%}; plot of the 400->100 layer: `{args.plot}`.")


def _train_briefly(width: int, layers: int, batch: int) -> nn.Module:
    sizes = [width] + [width] * layers + [10]
    mlp = sparse_mlp(sizes, epsilon=20, seed=0)
    opt = torch.optim.SGD(mlp.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, width, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(batch, dtype=torch.long)
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(mlp(x), y).backward()
        opt.step()
    SET(seed=0).step(mlp, opt)
    return mlp


def _memory_child(width: int, layers: int, batch: int) -> dict:
    torch.set_num_threads(1)
    _train_briefly(100, layers, batch)  # load the compiled kernels first: the base includes them
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mlp = _train_briefly(width, layers, batch)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"width": width, "params": sum(p.numel() for p in mlp.parameters()), "peak_mib": (peak - base) / 1024}


def cmd_memory(args) -> None:
    print(
        f"### Memory of a SET-MLP with {args.layers} hidden layers of width w (epsilon 20, batch {args.batch}; "
        "3 SGD steps and one SET step, each width in a fresh process; the base is taken after "
        "the same run at width 100, with the compiled kernels loaded)\n"
    )
    print(
        "| width w | parameters | parameters / w | peak RSS above start (MiB) | MiB / 1000 w | "
        "dense weights alone (MiB) |"
    )
    print("|---|---|---|---|---|---|")
    for w in args.widths:
        out = subprocess.run(
            [sys.executable, __file__, "_memory", str(w), str(args.layers), str(args.batch)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        dense = (args.layers * w * w + w * 10) * 4 / 2**20
        print(
            f"| {w} | {r['params']} | {r['params'] / w:.1f} | {r['peak_mib']:.0f} | "
            f"{1000 * r['peak_mib'] / w:.2f} | {dense:.0f} |",
            flush=True,
        )


def cmd_scale(args) -> None:
    """Seconds of a training step and of one SET and one RigL update on a wide SET-MLP."""
    from dagnet.evolve import RigL

    w = args.width
    mlp = sparse_mlp([w, w, w, 10], epsilon=20, seed=0)
    edges = sum(m.num_edges for m in mlp if hasattr(m, "num_edges"))
    opt = torch.optim.SGD(mlp.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(128, w, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(128, dtype=torch.long)
    rigl = RigL(update_every=1, seed=0)
    rigl.attach(mlp)

    def train_step():
        opt.zero_grad()
        nn.functional.cross_entropy(mlp(x), y).backward()
        opt.step()

    train_step()
    t = {}
    start = time.perf_counter()
    train_step()
    t["training step (batch 128)"] = time.perf_counter() - start
    start = time.perf_counter()
    SET(seed=0).step(mlp, opt)
    t["SET update"] = time.perf_counter() - start
    train_step()
    start = time.perf_counter()
    rigl.step(mlp, opt)
    t["RigL update (dense gradient in blocks)"] = time.perf_counter() - start
    print(f"### Rules at scale: SET-MLP {w}-{w}-{w}-10, epsilon 20, {edges:,} connections, 1 thread\n")
    print("| what | seconds |")
    print("|---|---|")
    for k, v in t.items():
        print(f"| {k} | {v:.2f} |")


def main(argv=None) -> None:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "_memory":
        print(json.dumps(_memory_child(*map(int, sys.argv[2:5]))))
        return
    torch.set_num_threads(1)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("madelon")
    m.add_argument("--epochs", type=int, default=500)
    m.add_argument("--dense-epochs", type=int, default=150)
    m.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    m.add_argument("--modes", nargs="+", default=["set", "static", "dense"])
    m.add_argument("--activation", default="all_relu")
    m.add_argument("--conventions", nargs="*", choices=CONVENTIONS, default=[], help="the truly sparse code's")
    m.add_argument("--json", help="append each run (with its per-epoch test accuracy) to this JSON-lines file")
    m.set_defaults(func=cmd_madelon)
    r = sub.add_parser("reference")
    r.add_argument("--reference", required=True, help="local checkout of SelimaC/large-scale-sparse-neural-networks")
    r.add_argument("--epochs", type=int, default=500)
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    r.add_argument("--json", help="append each run (with its per-epoch test accuracy) to this JSON-lines file")
    r.set_defaults(func=cmd_reference)
    ls = sub.add_parser("lockstep")
    ls.add_argument("--reference", required=True, help="local checkout of SelimaC/large-scale-sparse-neural-networks")
    ls.add_argument("--steps", type=int, default=60)
    ls.add_argument("--seed", type=int, default=0)
    ls.set_defaults(func=cmd_lockstep)
    s = sub.add_parser("speed")
    s.add_argument("--epochs", type=int, default=20)
    s.add_argument("--rounds", type=int, default=3)
    s.add_argument("--reference", help="local checkout of the truly sparse code (default: the re-implementation)")
    s.add_argument("--conventions", nargs="*", choices=CONVENTIONS, default=[], help="dagnet's, as for madelon")
    s.set_defaults(func=cmd_speed)
    d = sub.add_parser("density")
    d.add_argument("--data", nargs="+", default=["digits", "coil20"])
    d.add_argument("--density", type=float, default=0.05)
    d.add_argument("--hidden", type=int, nargs="+", default=[1000, 1000])
    d.add_argument("--epochs", type=int, default=100)
    d.add_argument("--lr", type=float, default=1e-3)
    d.add_argument("--seeds", type=int, nargs="+", default=[0])
    d.set_defaults(func=cmd_density)
    g = sub.add_parser("degrees")
    g.add_argument("--epochs", type=int, default=500)
    g.add_argument("--plot", default="bench/set_in_degrees.png")
    g.set_defaults(func=cmd_degrees)
    mem = sub.add_parser("memory")
    mem.add_argument("--widths", type=int, nargs="+", default=[4000, 8000, 16000])
    mem.add_argument("--layers", type=int, default=3)
    mem.add_argument("--batch", type=int, default=128)
    mem.set_defaults(func=cmd_memory)
    sc = sub.add_parser("scale")
    sc.add_argument("--width", type=int, default=20000)
    sc.set_defaults(func=cmd_scale)
    args = p.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
