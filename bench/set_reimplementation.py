"""A re-implementation of the truly sparse SET-MLP (Sparse Evolutionary Training) in numpy, scipy.sparse and numba.

A same-machine baseline for SET (Mocanu et al., 2018), written from scratch the
way the public "truly sparse" implementation (Curci, Mocanu and Pechenizkiy,
2021) works; it is not that code (``bench/sparse_training.py reference`` runs
the code itself, from a local checkout). It differs from that code in its
outputs (sigmoid units and the mean squared error; the code: softmax and the
cross-entropy), its regrown weights (normal; the code: He-uniform as at the
start), its precision (float32; the code computes in float64) and its default
All-ReLU slope (0.75; the code's Madelon setting: 0.6). What it does:

- every layer's weights are a ``scipy.sparse.csr_matrix`` of shape (n_in, n_out);
  the forward pass is ``dense activations @ CSR`` and the backward pass
  ``dense delta @ CSR.T`` (both scipy);
- the weight gradient is computed only for the stored connections, by a numba
  SDDMM over the CSR pattern: for each stored (i, j), the mean over the batch of
  ``input[:, i] * delta[:, j]``;
- the update is SGD with momentum on the stored values; the momentum is a CSR
  matrix with the same pattern as the weights (``w += v - weight_decay * w``
  after ``v = momentum * v - lr * grad``, as in the public code);
- after every epoch but the last, each sparse layer evolves: the fraction
  ``zeta`` of the positive weights with the smallest values and the fraction
  ``zeta`` of the negative weights closest to zero are removed (exact zeros go
  too), and as many connections are regrown uniformly at random among the
  positions absent after the removal, with weights ~ N(0, ``regrow_std``) and
  momentum 0. The evolution goes through COO arrays, numpy sorting and a rebuilt
  CSR matrix, as the public code does. Layers created dense (connection
  probability >= 1, here the output layer) do not evolve.

Network: input, hidden layers with ReLU (or "All-ReLU": a leaky ReLU whose
negative slope alternates sign from one hidden layer to the next, -0.75, +0.75,
...), inverted dropout on the hidden activations during training, sigmoid
output units trained with the mean squared error against one-hot targets.

Connectivity: a layer n_in x n_out keeps each connection with probability
``p = epsilon * (n_in + n_out) / (n_in * n_out)`` (Erdős–Rényi, as SET), and is
dense if ``p >= 1``. Initial weights of the stored connections: He-uniform on
the layer's full fan-in, U(-sqrt(6 / n_in), sqrt(6 / n_in)) (the SET code's
``he_uniform``); biases 0. Mode ``"dense"`` uses the same code path with every
connection stored in the CSR matrices.

Usage::

    .venv/bin/python bench/set_reimplementation.py --mode set --epochs 500 --seed 0
    .venv/bin/python bench/set_reimplementation.py --mode dense --epochs 150 --seed 0

Each run prints one line: mode, seed, best and final test accuracy, mean train
and evolution seconds per epoch.
"""

from __future__ import annotations

import argparse
import os
import sys

_THREAD_VARS = (
    "NUMBA_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def _limit_threads_early(argv: list[str]) -> None:
    """Set the thread-count environment variables from ``--threads`` before numpy loads."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--threads", type=int, default=1)
    threads = max(1, pre.parse_known_args(argv)[0].threads)
    for var in _THREAD_VARS:
        os.environ[var] = str(threads)


if __name__ == "__main__":
    _limit_threads_early(sys.argv[1:])

import time  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

__all__ = ["train_reimplementation", "SETMLP", "connection_probability", "sddmm_csr", "main"]

DTYPE = np.float32
MODES = ("set", "static", "dense")


# ----------------------------------------------------------------- kernels
@numba.njit(parallel=True, fastmath=True, cache=True)
def sddmm_csr(indptr, indices, a_t, d_t, out):
    """Gradient on the stored connections: ``out[k] = mean_b a[b, i] * d[b, j]``.

    ``indptr`` and ``indices`` are the CSR pattern of an (n_in, n_out) matrix;
    ``a_t`` is the layer input transposed, (n_in, batch), and ``d_t`` the output
    delta transposed, (n_out, batch), both C-contiguous; ``out`` (nnz,) receives
    the value for each stored (i, j) in CSR order.
    """
    n_rows = indptr.shape[0] - 1
    batch = a_t.shape[1]
    inv = 1.0 / batch
    for i in numba.prange(n_rows):
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            s = 0.0
            for b in range(batch):
                s += a_t[i, b] * d_t[j, b]
            out[k] = s * inv


# ----------------------------------------------------------------- helpers
def connection_probability(epsilon: float, n_in: int, n_out: int) -> float:
    """SET's Erdős–Rényi probability ``epsilon * (n_in + n_out) / (n_in * n_out)``, capped at 1."""
    return min(1.0, epsilon * (n_in + n_out) / (n_in * n_out))


def _csr_from_coo(rows, cols, vals, mom, shape):
    """Build weight and momentum CSR matrices with one shared, row-major sorted pattern."""
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    indptr = np.zeros(shape[0] + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    indices = cols.astype(np.int32)
    w = sp.csr_matrix((vals[order].astype(DTYPE), indices, indptr), shape=shape)
    v = sp.csr_matrix((mom[order].astype(DTYPE), indices.copy(), indptr.copy()), shape=shape)
    return w, v


def _as_numpy(data):
    """Return ``(X_train, y_train, X_test, y_test)`` as float32 / int64 numpy arrays."""

    def conv(a, dtype):
        a = a.numpy() if hasattr(a, "numpy") else a
        return np.ascontiguousarray(a, dtype=dtype)

    if isinstance(data, (tuple, list)):
        X_train, y_train, X_test, y_test = data
    else:
        X_train, y_train, X_test, y_test = data.X_train, data.y_train, data.X_test, data.y_test
    return conv(X_train, DTYPE), conv(y_train, np.int64), conv(X_test, DTYPE), conv(y_test, np.int64)


# ----------------------------------------------------------------- model
class SETMLP:
    """A multilayer perceptron with one CSR weight matrix per layer.

    Parameters
    ----------
    sizes : sequence of int
        Units per layer, input first, output last.
    epsilon : float
        SET density parameter; ignored when ``dense`` is True.
    rng : numpy.random.Generator
        Source of every random choice (initial pattern and weights, dropout,
        regrowth).
    dense : bool
        Store every connection (same code path, full CSR).
    dropout : float
        Drop probability on hidden activations during training (inverted dropout).
    all_relu : bool
        Hidden activation: leaky ReLU with negative slope ``-alpha, +alpha, ...``
        by hidden layer, instead of ReLU.
    alpha : float
        Magnitude of the All-ReLU negative slope.
    """

    def __init__(self, sizes, epsilon, rng, dense=False, dropout=0.3, all_relu=False, alpha=0.75):
        self.sizes = tuple(int(s) for s in sizes)
        self.rng = rng
        self.dropout = float(dropout)
        self.n_layers = len(self.sizes) - 1
        # Slope for x < 0 of each hidden layer's activation (0: ReLU).
        self.slopes = [(-alpha if k % 2 == 0 else alpha) if all_relu else 0.0 for k in range(self.n_layers - 1)]
        self.W, self.V, self.b, self.vb, self.evolvable = [], [], [], [], []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]):
            p = 1.0 if dense else connection_probability(epsilon, n_in, n_out)
            mask = rng.random((n_in, n_out)) < p if p < 1.0 else np.ones((n_in, n_out), bool)
            rows, cols = np.nonzero(mask)
            limit = np.sqrt(6.0 / n_in)
            vals = rng.uniform(-limit, limit, rows.size)
            w, v = _csr_from_coo(rows, cols, vals, np.zeros(rows.size), (n_in, n_out))
            self.W.append(w)
            self.V.append(v)
            self.b.append(np.zeros(n_out, DTYPE))
            self.vb.append(np.zeros(n_out, DTYPE))
            self.evolvable.append(p < 1.0)

    @property
    def nnz(self) -> list[int]:
        """Stored connections per layer."""
        return [int(w.nnz) for w in self.W]

    # -------------------------------------------------------------- passes
    def forward(self, x, train=False):
        """Return pre-activations ``z``, activations ``a`` (``a[0] = x``) and dropout factors.

        The dropout factor of a hidden layer is 0 for a dropped unit and
        ``1 / (1 - dropout)`` for a kept one (None when not training).
        """
        a, zs, drops = [x], [], []
        for k in range(self.n_layers):
            z = np.asarray(a[-1] @ self.W[k]) + self.b[k]
            zs.append(z)
            if k == self.n_layers - 1:
                h = 1.0 / (1.0 + np.exp(-z))
            else:
                h = np.where(z > 0, z, self.slopes[k] * z) if self.slopes[k] else np.maximum(z, 0)
                if train and self.dropout > 0:
                    keep = self.rng.random(h.shape, dtype=DTYPE) >= self.dropout
                    factor = keep * DTYPE(1.0 / (1.0 - self.dropout))
                    h = h * factor
                    drops.append(factor)
                else:
                    drops.append(None)
            a.append(h.astype(DTYPE, copy=False))
        return zs, a, drops

    def predict(self, x):
        """Class index of each row of ``x`` (argmax of the sigmoid outputs)."""
        return self.forward(x)[1][-1].argmax(1)

    def train_step(self, x, y_onehot, lr, momentum, weight_decay):
        """One SGD-with-momentum step on a batch; returns the batch MSE."""
        zs, a, drops = self.forward(x, train=True)
        out = a[-1]
        err = out - y_onehot
        loss = float(np.mean(err * err))
        delta = (err * out * (1.0 - out)).astype(DTYPE)
        for k in range(self.n_layers - 1, -1, -1):
            w = self.W[k]
            grad = np.empty_like(w.data)
            sddmm_csr(w.indptr, w.indices, np.ascontiguousarray(a[k].T), np.ascontiguousarray(delta.T), grad)
            grad_b = delta.mean(0)
            if k > 0:
                back = np.asarray(delta @ w.T)
                dact = np.where(zs[k - 1] > 0, DTYPE(1.0), DTYPE(self.slopes[k - 1]))
                if drops[k - 1] is not None:
                    dact = dact * drops[k - 1]
                delta = (back * dact).astype(DTYPE)
            v = self.V[k]
            v.data *= momentum
            v.data -= lr * grad
            w.data += v.data - weight_decay * w.data
            self.vb[k] *= momentum
            self.vb[k] -= lr * grad_b
            self.b[k] += self.vb[k] - weight_decay * self.b[k]
        return loss

    # -------------------------------------------------------------- evolution
    def evolve(self, zeta, regrow_std=0.01):
        """Remove and regrow connections in every evolvable layer (one SET step)."""
        for k in range(self.n_layers):
            if self.evolvable[k]:
                self.W[k], self.V[k] = self._evolve_layer(self.W[k], self.V[k], zeta, regrow_std)

    def _evolve_layer(self, w, v, zeta, regrow_std):
        n_in, n_out = w.shape
        wc, vc = w.tocoo(), v.tocoo()  # same pattern, hence same order
        rows, cols, vals, mom = wc.row, wc.col, wc.data, vc.data
        # Remove: the zeta fraction of positives with the smallest values, of negatives
        # with the largest values (closest to zero), and any exact zero.
        pos = np.flatnonzero(vals > 0)
        neg = np.flatnonzero(vals < 0)
        pos = pos[np.argsort(vals[pos], kind="stable")]
        neg = neg[np.argsort(-vals[neg], kind="stable")]
        remove = vals == 0
        remove[pos[: int(zeta * pos.size)]] = True
        remove[neg[: int(zeta * neg.size)]] = True
        keep = ~remove
        rows, cols, vals, mom = rows[keep], cols[keep], vals[keep], mom[keep]
        # Regrow as many, uniformly among the positions now absent.
        n_new = int(remove.sum())
        occupied = rows.astype(np.int64) * n_out + cols
        new = np.empty(0, np.int64)
        while new.size < n_new:
            cand = np.unique(self.rng.integers(0, n_in * n_out, n_new - new.size))
            cand = cand[~np.isin(cand, occupied) & ~np.isin(cand, new)]
            new = np.concatenate([new, cand])
        rows = np.concatenate([rows, new // n_out]).astype(np.int64)
        cols = np.concatenate([cols, new % n_out]).astype(np.int64)
        vals = np.concatenate([vals, self.rng.normal(0.0, regrow_std, n_new)])
        mom = np.concatenate([mom, np.zeros(n_new)])
        return _csr_from_coo(rows, cols, vals, mom, (n_in, n_out))


# ----------------------------------------------------------------- training
def train_reimplementation(
    mode="set",
    epochs=500,
    seed=0,
    epsilon=20,
    zeta=0.3,
    batch=128,
    lr=0.01,
    momentum=0.9,
    dropout=0.3,
    all_relu=False,
    data=None,
    log_every=0,
    hidden=(400, 100, 400),
    weight_decay=0.0,
    regrow_std=0.01,
    alpha=0.75,
) -> dict:
    """Train a SET-MLP on a classification set and return the per-epoch record.

    Parameters
    ----------
    mode : {"set", "static", "dense"}
        ``"set"``: sparse with evolution after every epoch but the last;
        ``"static"``: the same sparse initial pattern, never evolved;
        ``"dense"``: every connection stored (full CSR, same code path).
    epochs, seed, epsilon, zeta, batch, lr, momentum, dropout
        As in SET. All randomness comes from ``np.random.default_rng(seed)``.
    all_relu : bool
        Use the All-ReLU hidden activation (negative slope ``-alpha, +alpha, ...``).
    data : Dataset or (X_train, y_train, X_test, y_test), optional
        Default: ``dagnet.data.load_madelon()`` (standardised, test = validation split).
    log_every : int
        Print a progress line every that many epochs (0: never).
    hidden : tuple of int
        Hidden layer sizes (default: Madelon's 400-100-400).
    weight_decay : float
        Per-step decay, ``w += v - weight_decay * w`` (also on biases).
    regrow_std : float
        Standard deviation of the regrown weights.

    Returns
    -------
    dict
        ``test_acc`` (list per epoch), ``train_loss`` (mean batch MSE per epoch),
        ``train_s``, ``evolve_s`` and ``eval_s`` (wall seconds per epoch: training
        batches, weight evolution, test evaluation), ``best_acc``, ``final_acc``,
        ``nnz`` (connections per layer at the start), ``sizes`` and ``config``.
    """
    if mode not in MODES:
        raise ValueError(f"The 'mode' parameter must be one of {MODES}. Got {mode!r} instead.")
    if data is None:
        from dagnet.data import load_madelon

        data = load_madelon()
    X_train, y_train, X_test, y_test = _as_numpy(data)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    Y_train = np.eye(n_classes, dtype=DTYPE)[y_train]
    sizes = (X_train.shape[1], *hidden, n_classes)
    config = dict(
        mode=mode,
        epochs=epochs,
        seed=seed,
        epsilon=epsilon,
        zeta=zeta,
        batch=batch,
        lr=lr,
        momentum=momentum,
        dropout=dropout,
        all_relu=all_relu,
        weight_decay=weight_decay,
        regrow_std=regrow_std,
        alpha=alpha,
    )

    rng = np.random.default_rng(seed)
    net = SETMLP(sizes, epsilon, rng, dense=(mode == "dense"), dropout=dropout, all_relu=all_relu, alpha=alpha)
    nnz0 = net.nnz
    # Compile (or load from cache) the kernel outside the timed loop.
    w0 = net.W[0]
    sddmm_csr(
        w0.indptr,
        w0.indices,
        np.zeros((w0.shape[0], 1), DTYPE),
        np.zeros((w0.shape[1], 1), DTYPE),
        np.empty(w0.nnz, DTYPE),
    )

    rec = dict(test_acc=[], train_loss=[], train_s=[], evolve_s=[], eval_s=[])
    n = X_train.shape[0]
    for epoch in range(epochs):
        t0 = time.perf_counter()
        order = rng.permutation(n)
        losses = []
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            losses.append(net.train_step(X_train[idx], Y_train[idx], lr, momentum, weight_decay))
        t1 = time.perf_counter()
        acc = float(np.mean(net.predict(X_test) == y_test))
        t2 = time.perf_counter()
        if mode == "set" and epoch < epochs - 1:
            net.evolve(zeta, regrow_std)
        t3 = time.perf_counter()
        rec["test_acc"].append(acc)
        rec["train_loss"].append(float(np.mean(losses)))
        rec["train_s"].append(t1 - t0)
        rec["eval_s"].append(t2 - t1)
        rec["evolve_s"].append(t3 - t2)
        if log_every and (epoch + 1) % log_every == 0:
            print(
                f"epoch {epoch + 1:4d}  loss {rec['train_loss'][-1]:.4f}  test acc {acc:.4f}  "
                f"train {t1 - t0:.3f} s  evolve {t3 - t2:.3f} s",
                flush=True,
            )
    rec.update(best_acc=max(rec["test_acc"]), final_acc=rec["test_acc"][-1], nnz=nnz0, sizes=sizes, config=config)
    return rec


def summary_line(rec: dict) -> str:
    """One line: mode, seed, best and final accuracy, mean seconds per epoch."""
    c = rec["config"]
    ev = rec["evolve_s"][:-1] if c["mode"] == "set" and len(rec["evolve_s"]) > 1 else rec["evolve_s"]
    return (
        f"mode={c['mode']} seed={c['seed']} epochs={c['epochs']} best_acc={rec['best_acc']:.4f} "
        f"final_acc={rec['final_acc']:.4f} train_s/epoch={np.mean(rec['train_s']):.4f} "
        f"evolve_s/epoch={np.mean(ev):.4f} eval_s/epoch={np.mean(rec['eval_s']):.4f} "
        f"nnz={sum(rec['nnz'])}"
    )


def main(argv=None) -> None:
    """Command line: train one re-implemented SET-MLP on Madelon and print its summary line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=MODES, default="set")
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="numba / BLAS threads (default 1)")
    parser.add_argument("--epsilon", type=float, default=20)
    parser.add_argument("--zeta", type=float, default=0.3)
    parser.add_argument("--all-relu", action="store_true", help="alternating-sign leaky ReLU, slope 0.75")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--regrow-std", type=float, default=0.01)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--log-every", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", help="also write the full per-epoch record as JSON")
    args = parser.parse_args(argv)
    threads = max(1, args.threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    rec = train_reimplementation(
        mode=args.mode,
        epochs=args.epochs,
        seed=args.seed,
        epsilon=args.epsilon,
        zeta=args.zeta,
        dropout=args.dropout,
        all_relu=args.all_relu,
        weight_decay=args.weight_decay,
        regrow_std=args.regrow_std,
        log_every=args.log_every,
    )
    print(summary_line(rec), flush=True)
    if args.json:
        import json

        with open(args.json, "w") as f:
            json.dump(rec, f)


if __name__ == "__main__":
    main()
