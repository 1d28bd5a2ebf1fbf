"""SET-RBM on COIL-20: dagnet's SparseRBM against the SET paper's own RBM code, run side by side.

The reference is the folder ``SET-RBM-Sparse-Python-Data-Structures`` of a local
checkout of the SET authors' public code (sparse-evolutionary-artificial-neural-
networks); nothing of it is copied here: this script imports its two modules
(``set_rbm_sparse_data_structures``, ``fixprob_rbm_sparse_data_structures``)
from the checkout and calls their ``fit``. To run on today's Python it supplies
their compiled helper ``sparseoperations``: the checkout's own
``sparseoperations.pyx`` built with Cython's ``pyximport`` when Cython can be
imported (add it with ``pip install --target DIR cython`` and ``PYTHONPATH=DIR``),
else a module whose function is the checkout's own pure-NumPy
``contrastive_divergence_updates_Numpy`` (same numbers, far slower).

The setting is the reference's: 1024 visible and 200 hidden Bernoulli units,
epsilon 10, one Gibbs step (its "Markov chain of length 2": hidden states
drawn, visible probabilities, hidden states drawn), lr 0.1, weight decay 2e-7
per step on weights and biases, batch 10, SET's zeta 0.3 after every epoch but
the last, new weights N(0, 0.05^2), float64, a random 2/3 training split. Both
sides get the same split (``dagnet.data.load_coil20(test_size=1/3, seed)``).
The figure is the reference's: the test reconstruction MSE after each epoch,
with the hidden states drawn (``SparseRBM.reconstruct(v, sample=True)``); the
mean-field one (hidden probabilities) is printed for dagnet too.

dagnet side: ``SparseRBM(1024, 200, epsilon=10, sample_visible=False)`` trained
by ``torch.optim.SGD(lr=0.1, weight_decay=2e-6)`` (torch scales the decay by
the learning rate: 0.1 * 2e-6 = the reference's 2e-7) on ``cd_loss(v, k=1)``,
and ``dagnet.evolve.SET(zeta=0.3, init="normal", init_scale=0.05)``. One
difference remains: dagnet's CD statistics use the hidden probabilities where
the reference uses the drawn hidden states (same expectation, less noise).

Runs, back to back in one process: reference SET-RBM, dagnet SET-RBM,
reference fixed sparse RBM, dagnet fixed sparse RBM. Seconds per epoch are the
wall time of the whole run (training, the per-epoch test evaluation and the
rewiring) over the epochs. Usage::

    nice -n 10 .venv/bin/python bench/rbm.py /path/to/sparse-evolutionary-artificial-neural-networks \\
        --epochs 100 --seed 0 --json /tmp/rbm.json

``--speed-rounds R`` times only: R rounds of the four runs in turn, each
``--epochs`` long, and prints the median seconds per epoch and the median of the
per-round reference / dagnet ratios (alternating, so that the load of a shared
machine falls on both sides alike).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread each side, before numpy loads

import argparse  # noqa: E402
import contextlib  # noqa: E402
import importlib.util  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dagnet.data import load_coil20  # noqa: E402
from dagnet.evolve import SET  # noqa: E402
from dagnet.nn import SparseRBM  # noqa: E402

FOLDER = "SET-RBM-Sparse-Python-Data-Structures"
RUNS = {  # option -> name
    "ref-set": "reference SET-RBM",
    "dagnet-set": "dagnet SET-RBM",
    "ref-fixed": "reference fixed sparse RBM",
    "dagnet-fixed": "dagnet fixed sparse RBM",
}
SETTING = dict(n_hidden=200, epsilon=10, lr=0.1, weight_decay=2e-7, batch=10, zeta=0.3, std=0.05)


# ------------------------------------------------------------------ the reference, as it is
def load_reference(checkout: Path) -> tuple[types.ModuleType, types.ModuleType, str]:
    """Import the reference's SET-RBM and fixed-sparsity RBM modules; return them and how CD is computed."""
    folder = Path(checkout) / FOLDER
    if not (folder / "set_rbm_sparse_data_structures.py").is_file():
        raise SystemExit(f"{folder} does not hold set_rbm_sparse_data_structures.py: give the checkout's root.")
    helper, how = _compiled_helper(folder)
    sys.modules["sparseoperations"] = helper
    mods = [
        _import(folder / f"{name}.py", name)
        for name in ("set_rbm_sparse_data_structures", "fixprob_rbm_sparse_data_structures")
    ]
    if how == "numpy":  # the reference's own fallback, named in its comments
        helper.contrastive_divergence_updates_Cython = mods[0].contrastive_divergence_updates_Numpy
    return mods[0], mods[1], how


def _compiled_helper(folder: Path) -> tuple[types.ModuleType, str]:
    try:
        import pyximport
    except ImportError:
        return types.ModuleType("sparseoperations"), "numpy"
    build = Path(tempfile.gettempdir()) / "dagnet-bench-rbm-pyx"
    pyximport.install(setup_args={"include_dirs": np.get_include()}, build_dir=str(build), language_level=3)
    return _import(folder / "sparseoperations.pyx", "sparseoperations"), "cython"


def _import(path: Path, name: str) -> types.ModuleType:
    if path.suffix == ".pyx":
        sys.path.insert(0, str(path.parent))
        try:
            return importlib.import_module(name)
        finally:
            sys.path.pop(0)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_reference(module, cls: str, X_train, X_test, epochs: int, seed: int) -> dict:
    """Train the reference's ``cls`` with its ``fit``; return its per-epoch test MSE and the seconds per epoch."""
    np.random.seed(seed)
    s = SETTING
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        model = getattr(module, cls)(X_train.shape[1], noHiddens=s["n_hidden"], epsilon=s["epsilon"])
        edges = model.W.getnnz()
        file = os.path.join(tmp, "metrics.txt")
        kwargs = dict(zeta=s["zeta"]) if cls == "SET_RBM" else {}
        t0 = time.perf_counter()
        model.fit(
            X_train,
            X_test,
            batch_size=s["batch"],
            epochs=epochs,
            lengthMarkovChain=2,
            weight_decay=s["weight_decay"],
            learning_rate=s["lr"],
            testing=True,
            save_filename=file,
            **kwargs,
        )
        seconds = time.perf_counter() - t0
        metrics = np.loadtxt(file).reshape(-1, 2)
    return {"test_mse": metrics[:, 1].tolist(), "edges": int(edges), "s_per_epoch": seconds / epochs}


# ------------------------------------------------------------------ dagnet
def run_dagnet(evolve: bool, X_train, X_test, epochs: int, seed: int) -> dict:
    """Train a SparseRBM in the reference's setting; return its per-epoch test MSE and the seconds per epoch."""
    s = SETTING
    X_train, X_test = torch.as_tensor(X_train), torch.as_tensor(X_test)
    rbm = SparseRBM(
        X_train.shape[1],
        s["n_hidden"],
        epsilon=s["epsilon"],
        init_std=s["std"],
        sample_visible=False,
        seed=seed,
        dtype=torch.float64,
    )
    edges = rbm.num_edges
    opt = torch.optim.SGD(rbm.parameters(), lr=s["lr"], weight_decay=s["weight_decay"] / s["lr"])
    rule = SET(zeta=s["zeta"], init="normal", init_scale=s["std"], seed=seed)
    order = torch.Generator().manual_seed(seed)
    sampled = []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        perm = torch.randperm(X_train.shape[0], generator=order)
        for start in range(0, X_train.shape[0] - s["batch"] + 1, s["batch"]):  # full batches, as the reference
            opt.zero_grad()
            rbm.cd_loss(X_train[perm[start : start + s["batch"]]], k=1).backward()
            opt.step()
        with torch.no_grad():
            sampled.append(((rbm.reconstruct(X_test, sample=True) - X_test) ** 2).mean().item())
        if evolve and epoch < epochs - 1:
            rule.step(rbm, opt)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        mean_field = ((rbm.reconstruct(X_test) - X_test) ** 2).mean().item()
    return {"test_mse": sampled, "test_mse_mean_field": mean_field, "edges": edges, "s_per_epoch": seconds / epochs}


def recorded(checkout: Path) -> dict:
    """The reference's recorded 1000-epoch results: final train and test reconstruction MSE per model."""
    out = {}
    for name, file in (("SET-RBM", "set_rbm.txt"), ("fixed sparse RBM", "rbm_fixprob.txt")):
        m = np.loadtxt(Path(checkout) / FOLDER / "Results" / file)
        out[name] = {"epochs": int(m.shape[0]), "final_test_mse": float(m[-1, 1]), "min_test_mse": float(m[:, 1].min())}
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkout", type=Path, help="root of a checkout of the SET authors' code")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write every per-epoch figure here")
    parser.add_argument(
        "--speed-rounds",
        type=int,
        default=0,
        help="instead: time only, in this many rounds of the four runs in turn (each --epochs long)",
    )
    parser.add_argument(
        "--runs",
        nargs="+",
        choices=list(RUNS),
        default=list(RUNS),
        help="which of the four runs (default all; several processes can share a long benchmark out)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    set_rbm, fix_rbm, how = load_reference(args.checkout)
    ds = load_coil20(test_size=1 / 3, seed=args.seed)
    X_train, X_test = ds.X_train.double().numpy(), ds.X_test.double().numpy()
    print(
        f"COIL-20 {X_train.shape[0]} train / {X_test.shape[0]} test, {args.epochs} epochs, seed {args.seed}; "
        f"reference CD kernel: {how}",
        flush=True,
    )
    runs = {
        "reference SET-RBM": lambda: run_reference(set_rbm, "SET_RBM", X_train, X_test, args.epochs, args.seed),
        "dagnet SET-RBM": lambda: run_dagnet(True, X_train, X_test, args.epochs, args.seed),
        "reference fixed sparse RBM": lambda: run_reference(
            fix_rbm, "RBM_FixProb", X_train, X_test, args.epochs, args.seed
        ),
        "dagnet fixed sparse RBM": lambda: run_dagnet(False, X_train, X_test, args.epochs, args.seed),
    }
    runs = {RUNS[key]: runs[RUNS[key]] for key in RUNS if key in args.runs}
    if args.speed_rounds > 0:
        return time_runs(runs, args.speed_rounds, args.json)
    results = {}
    for name, run in runs.items():
        results[name] = r = run()
        print(f"  done: {name}: final test MSE {r['test_mse'][-1]:.5f}, {r['s_per_epoch']:.3f} s/epoch", flush=True)
        if args.json:  # after each run, so that an interrupted benchmark keeps what it measured
            args.json.write_text(json.dumps({"args": _plain(vars(args)), "cd_kernel": how, "results": results}))
    summarize(results)
    rec = recorded(args.checkout)
    for name, r in rec.items():
        print(f"reference's recorded {name}, {r['epochs']} epochs: final test MSE {r['final_test_mse']:.5f}")
    if args.json:
        out = {"args": _plain(vars(args)), "cd_kernel": how, "results": results, "recorded": rec}
        args.json.write_text(json.dumps(out, indent=1))


def summarize(results: dict) -> None:
    """Print the table of the runs in ``results`` and, where both are there, the ratios."""
    print(f"{'run':28s} {'edges':>6s} {'final test MSE':>15s} {'min test MSE':>13s} {'s/epoch':>8s}")
    for name, r in results.items():
        mse = r["test_mse"]
        print(f"{name:28s} {r['edges']:6d} {mse[-1]:15.5f} {min(mse):13.5f} {r['s_per_epoch']:8.3f}")
    for name, r in results.items():
        if "test_mse_mean_field" in r:
            print(f"{name} mean-field test MSE (hidden probabilities): {r['test_mse_mean_field']:.5f}")
    for side in ("reference", "dagnet"):
        a, b = results.get(f"{side} SET-RBM"), results.get(f"{side} fixed sparse RBM")
        if a and b:
            print(f"{side}: SET-RBM / fixed final test MSE = {a['test_mse'][-1] / b['test_mse'][-1]:.3f}")


def time_runs(runs: dict, rounds: int, json_file: Path | None) -> None:
    """Time the runs in turn, ``rounds`` times; print the median seconds per epoch and the per-round ratios."""
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(run()["s_per_epoch"])
    for name, t in times.items():
        print(f"{name:28s} median {statistics.median(t):.3f} s/epoch  (rounds: {', '.join(f'{x:.3f}' for x in t)})")
    for kind in ("SET-RBM", "fixed sparse RBM"):
        if f"reference {kind}" not in times or f"dagnet {kind}" not in times:
            continue
        ratios = [r / d for r, d in zip(times[f"reference {kind}"], times[f"dagnet {kind}"])]
        print(
            f"{kind}: reference / dagnet seconds per epoch, median over rounds {statistics.median(ratios):.2f} "
            f"(min {min(ratios):.2f}, max {max(ratios):.2f})"
        )
    if json_file:
        json_file.write_text(json.dumps({"s_per_epoch": times}, indent=1))


def _plain(args: dict) -> dict:
    return {k: str(v) if isinstance(v, Path) else v for k, v in args.items()}


if __name__ == "__main__":
    main()
