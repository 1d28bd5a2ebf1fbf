"""Evidence for the neuron models of papers.md section 5.

Three experiments, every random choice from an explicit seed:

1. XOR with a single ADA neuron (one DAGNetwork node fed by two inputs): how many of
   10 seeds reach 100% accuracy, for several training setups.
2. Multi-branch AIL nodes (combine "and" / "or" / "xnor") vs ordinary ReLU nodes in a
   layered sparse DAGNetwork, at equal parameter count, on digits and Madelon.
3. DendriticTree vs an MLP of equal parameter count on digits.

Usage::

    OMP_NUM_THREADS=1 python bench/neurons.py -o report.md
    OMP_NUM_THREADS=1 python bench/neurons.py --quick       # smoke run, seconds

The markdown report goes to stdout (and to ``-o FILE``).
"""

from __future__ import annotations

import argparse
import functools
import math
import platform
import statistics
import sys
import time

import networkx as nx
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import dagnet
from dagnet.activations import ADA, LeakyADA
from dagnet.data import load_digits, load_madelon
from dagnet.nn.dendritic_tree import DendriticTree
from dagnet.seeding import numpy_rng, torch_generator
from dagnet.topology import layered_sparse
from dagnet.train.loop import fit


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def mean_std(values) -> str:
    values = list(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * sd:.1f}"


# --------------------------------------------------------------------------- 1. XOR


XOR_SEEDS = list(range(10))


def xor_data(coding: str):
    """The four XOR points; class 1 when x1 != x2."""
    lo = 0.0 if coding == "01" else -1.0
    X = torch.tensor([[lo, lo], [lo, 1.0], [1.0, lo], [1.0, 1.0]])
    y = torch.tensor([0.0, 1.0, 1.0, 0.0])
    return X, y


def xor_run(setup: dict, seed: int, steps: int) -> bool:
    """Train one single-neuron network; return whether it classifies all 4 points."""
    g = nx.DiGraph()
    g.add_nodes_from(["x1", "x2", "y"])
    g.add_edges_from([("x1", "y"), ("x2", "y")])
    if setup["init_std"] is not None:  # larger-scale init from a seeded generator
        gen = torch_generator(10_000 + seed)
        w = torch.randn(3, generator=gen) * setup["init_std"]
        if setup.get("same_sign"):  # |w1|, |w2| with one shared random sign: the XOR basin (see report)
            sign = 1.0 if torch.rand(1, generator=gen).item() < 0.5 else -1.0
            w[:2] = sign * w[:2].abs()
        g.edges["x1", "y"]["weight"] = float(w[0])
        g.edges["x2", "y"]["weight"] = float(w[1])
        # bias: N(0, init_std), or "peak": 1/alpha, the argmax of ADA (every point starts with a gradient)
        g.nodes["y"]["bias"] = 1.0 / setup["alpha"] if setup.get("bias") == "peak" else float(w[2])
    elif setup.get("bias") == "peak":  # default weights, bias at ADA's argmax
        g.nodes["y"]["bias"] = 1.0 / setup["alpha"]
    alpha, trainable = setup["alpha"], setup["trainable_alpha"]
    act = (
        LeakyADA(alpha=alpha, slope=setup.get("slope", 0.01), trainable=trainable)
        if setup["act"] == "leaky_ada"
        else ADA(alpha=alpha, trainable=trainable)
    )
    net = dagnet.DAGNetwork(g, inputs=["x1", "x2"], outputs=["y"], output_activation=act, seed=seed)
    X, y = xor_data(setup["coding"])
    opt_name, lr = setup["opt"]
    opt = torch.optim.SGD(net.parameters(), lr=lr) if opt_name == "sgd" else torch.optim.Adam(net.parameters(), lr=lr)

    def peak():
        # max of ADA(x) = ADA(1/alpha) = 1/(e alpha): the output scale; the decision threshold is peak/2.
        a = float(act.alpha.detach())
        return 1.0 / (math.e * max(a, 1e-3))

    for _ in range(steps):
        opt.zero_grad()
        out = net(X).squeeze(1) / peak()  # in [0, 1] for z >= 0
        if setup["loss"] == "mse":
            loss = F.mse_loss(out, y)
        else:  # BCE with logits on the shifted, scaled output
            loss = F.binary_cross_entropy_with_logits(setup["bce_scale"] * (out - 0.5), y)
        loss.backward()
        opt.step()
        with torch.no_grad():
            if trainable:
                act.alpha.clamp_(min=1e-3)
    with torch.no_grad():
        pred = (net(X).squeeze(1) / peak() > 0.5).float()
    return bool((pred == y).all())


XOR_SETUPS = [
    # name, coding, act, alpha, trainable, loss, init_std (None = default nn.Linear-style), optimizer
    dict(
        name="baseline",
        coding="01",
        act="ada",
        alpha=1.0,
        trainable_alpha=False,
        loss="mse",
        init_std=None,
        opt=("sgd", 0.1),
    ),
    dict(
        name="baseline, Adam",
        coding="01",
        act="ada",
        alpha=1.0,
        trainable_alpha=False,
        loss="mse",
        init_std=None,
        opt=("adam", 0.05),
    ),
    dict(
        name="±1 inputs",
        coding="pm1",
        act="ada",
        alpha=1.0,
        trainable_alpha=False,
        loss="mse",
        init_std=None,
        opt=("sgd", 0.1),
    ),
    dict(
        name="±1 inputs, Adam",
        coding="pm1",
        act="ada",
        alpha=1.0,
        trainable_alpha=False,
        loss="mse",
        init_std=None,
        opt=("adam", 0.05),
    ),
    dict(
        name="±1, BCE, Adam",
        coding="pm1",
        act="ada",
        alpha=1.0,
        trainable_alpha=False,
        loss="bce",
        bce_scale=8.0,
        init_std=None,
        opt=("adam", 0.05),
    ),
    dict(
        name="±1, init N(0,1), Adam",
        coding="pm1",
        act="ada",
        alpha=1.0,
        trainable_alpha=False,
        loss="mse",
        init_std=1.0,
        opt=("adam", 0.05),
    ),
    dict(
        name="{0,1}, init N(0,1), Adam",
        coding="01",
        act="ada",
        alpha=1.0,
        trainable_alpha=False,
        loss="mse",
        init_std=1.0,
        opt=("adam", 0.05),
    ),
    dict(
        name="±1, trainable alpha, Adam",
        coding="pm1",
        act="ada",
        alpha=1.0,
        trainable_alpha=True,
        loss="mse",
        init_std=None,
        opt=("adam", 0.05),
    ),
    dict(
        name="±1, leaky ADA, Adam",
        coding="pm1",
        act="leaky_ada",
        alpha=1.0,
        trainable_alpha=False,
        loss="mse",
        init_std=None,
        opt=("adam", 0.05),
    ),
    dict(
        name="±1, alpha 0.5, Adam",
        coding="pm1",
        act="ada",
        alpha=0.5,
        trainable_alpha=False,
        loss="mse",
        init_std=None,
        opt=("adam", 0.05),
    ),
    dict(
        name="±1, BCE, init N(0,1), Adam",
        coding="pm1",
        act="ada",
        alpha=1.0,
        trainable_alpha=False,
        loss="bce",
        bce_scale=8.0,
        init_std=1.0,
        opt=("adam", 0.05),
    ),
    dict(
        name="±1, leaky ADA slope 0.1, N(0,1) same-sign w",
        coding="pm1",
        act="leaky_ada",
        slope=0.1,
        alpha=1.0,
        trainable_alpha=False,
        loss="mse",
        init_std=1.0,
        same_sign=True,
        opt=("adam", 0.05),
    ),
    dict(
        name="±1, default w, b = 1/alpha",
        coding="pm1",
        act="ada",
        alpha=1.0,
        trainable_alpha=False,
        loss="mse",
        init_std=None,
        bias="peak",
        opt=("adam", 0.05),
    ),
    dict(
        name="{0,1}, N(0,1) w, b = 1/alpha",
        coding="01",
        act="ada",
        alpha=1.0,
        trainable_alpha=False,
        loss="mse",
        init_std=1.0,
        bias="peak",
        opt=("adam", 0.05),
    ),
    dict(
        name="**±1, N(0,1) w, b = 1/alpha**",
        coding="pm1",
        act="ada",
        alpha=1.0,
        trainable_alpha=False,
        loss="mse",
        init_std=1.0,
        bias="peak",
        opt=("adam", 0.05),
    ),
    dict(
        name="±1, N(0,1) w, b = 1/alpha, SGD",
        coding="pm1",
        act="ada",
        alpha=1.0,
        trainable_alpha=False,
        loss="mse",
        init_std=1.0,
        bias="peak",
        opt=("sgd", 0.1),
    ),
]


def section_xor(quick: bool, out: list[str]) -> None:
    steps = 300 if quick else 1000
    setups = XOR_SETUPS[:3] if quick else XOR_SETUPS
    out += [
        "## 1. XOR with a single ADA neuron",
        "",
        "One DAGNetwork node `y` with in-edges from `x1` and `x2`: `y = f(w1 x1 + w2 x2 + b)`, "
        "`f` = ADA(x) = max(x,0)·exp(-alpha·x) (or leaky ADA, slope 0.01) given as `output_activation` "
        "(a `dagnet.activations.ADA` module). Class 1 iff x1 != x2. Inputs are coded {0,1} or "
        "{-1,+1} (column *inputs*). *same-sign*: |w1|, |w2| given one shared random sign; *b = 1/alpha*: the "
        "bias starts at ADA's argmax, so every point starts on the live (z > 0) side. The output is divided by ADA's peak value 1/(e·alpha) so that it "
        "lies in [0,1] for z >= 0; a point is predicted class 1 iff that scaled output > 0.5. "
        "*mse*: MSE of the scaled output to targets {0,1}; *bce*: BCE-with-logits on "
        "8·(scaled output − 0.5). Full batch (the 4 points), "
        f"{steps} steps, seeds {XOR_SEEDS[0]}..{XOR_SEEDS[-1]} (seed = DAGNetwork init seed; "
        "the N(0,1) init draws (w1, w2, b) from `torch_generator(10000 + seed)` and passes them "
        "as `weight`/`bias` attributes). *default* init = DAGNetwork's nn.Linear rule "
        "U(−1/√2, 1/√2). Trainable alpha is clamped at >= 1e-3.",
        "",
        "| setup | inputs | activation | alpha (trainable?) | loss | init | optimizer, lr | steps | seeds at 100% |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in setups:
        t0 = time.perf_counter()
        ok = [xor_run(s, seed, steps) for seed in XOR_SEEDS]
        dt = time.perf_counter() - t0
        init = (
            "default"
            if s["init_std"] is None
            else f"N(0,{s['init_std']:g})" + (" same-sign" if s.get("same_sign") else "")
        )
        init += ", b = 1/alpha" if s.get("bias") == "peak" else ""
        out.append(
            f"| {s['name']} | {'{0,1}' if s['coding'] == '01' else '{-1,+1}'} | {s['act']} | "
            f"{s['alpha']:g} ({'yes' if s['trainable_alpha'] else 'no'}) | {s['loss']} | {init} | "
            f"{s['opt'][0]}, {s['opt'][1]:g} | {steps} | **{sum(ok)}/10** "
            f"(failed: {[i for i, o in zip(XOR_SEEDS, ok) if not o] or 'none'}; {dt:.1f} s) |"
        )
    out.append("")


# --------------------------------------------------------------------------- 2. AIL vs ReLU


def count_sparse(sizes, eps, seed, multi: bool) -> tuple[int, object]:
    w = layered_sparse(sizes, epsilon=eps, seed=seed, as_wiring=True)
    hidden = sum(sizes[1:-1])
    biases = sum(sizes[1:]) + (2 * hidden if multi else 0)  # a multi-branch node: own entry + 2 branch biases
    return w.num_edges + biases, w


def ail_net(sizes, eps, seed, combine: str) -> dagnet.DAGNetwork:
    g = layered_sparse(sizes, epsilon=eps, seed=seed)
    rng = numpy_rng(20_000 + seed)
    last = len(sizes) - 1
    for n, d in g.nodes(data=True):
        if 0 < n[0] < last:
            d["combine"] = combine
    for u, v in sorted(g.edges()):
        if 0 < v[0] < last:
            g.edges[u, v]["branch"] = int(rng.integers(2))
    return dagnet.DAGNetwork(g, seed=seed)


def relu_net_matching(sizes, eps, seed, target: int) -> tuple[dagnet.DAGNetwork, float]:
    """Same layer sizes and seed; epsilon scanned upwards until the parameter count is closest to target."""
    best = None
    for k in range(0, 60):
        e = eps * (1 + 0.005 * k)
        c, _ = count_sparse(sizes, e, seed, multi=False)
        if best is None or abs(c - target) < abs(best[0] - target):
            best = (c, e)
        if c > target * 1.03:
            break
    e = best[1]
    return dagnet.DAGNetwork(layered_sparse(sizes, epsilon=e, seed=seed), activation="relu", seed=seed), e


def section_ail(quick: bool, out: list[str], lr: float) -> None:
    seeds = [0] if quick else [0, 1, 2]
    out += [
        "## 2. Multi-branch AIL nodes vs ReLU nodes (equal parameter count)",
        "",
        "Wiring: `layered_sparse([in, h, h, classes], epsilon, seed)`. AIL networks: every hidden "
        "node gets `combine` = and / or / xnor (the AIL of Lowe et al., identity activation after "
        "it) and each in-edge of a hidden node joins branch 0 or 1 drawn from "
        "`numpy_rng(20000 + seed)`. ReLU network: same layer sizes and same wiring seed, ordinary "
        "ReLU hidden nodes, epsilon raised in steps of 0.5% until its parameter count "
        "(`sum(p.numel() for p in net.parameters())`) is closest to the AIL network's (a multi-branch "
        "node counts 3 bias entries: its own, unused and fixed at 0, plus 2 branch biases). "
        f"Training: `fit`, Adam lr {lr:g}, batch 64, cross-entropy; test accuracy after the last "
        f"epoch, mean ± std over seeds {seeds} (seed = wiring, init and shuffling seed).",
        "",
    ]
    configs = [
        ("digits", lambda: load_digits(seed=0), 64, 10.0, 3 if quick else 15),
        ("madelon", lambda: load_madelon(), 64, 10.0, 2 if quick else 15),
    ]
    for name, loader, h, eps, epochs in configs:
        try:
            ds = loader()
        except Exception as exc:  # noqa: BLE001 — report, don't crash
            out += [f"**{name}: could not load ({type(exc).__name__}: {exc})**", ""]
            continue
        sizes = [ds.num_features, h, h, ds.num_classes]
        out += [
            f"### {name}: {ds!r}, sizes {sizes}, epsilon {eps:g}, {epochs} epochs",
            "",
            "| hidden nodes | params per seed | test accuracy % (mean ± std) | seconds |",
            "|---|---|---|---|",
        ]
        rows = {}
        for combine in ("and", "or", "xnor"):
            accs, counts, t0 = [], [], time.perf_counter()
            relu_accs, relu_counts, relu_eps = [], [], []
            for seed in seeds:
                net = ail_net(sizes, eps, seed, combine)
                counts.append(n_params(net))
                res = fit(
                    net,
                    ds,
                    optimizer=functools.partial(torch.optim.Adam, lr=lr),
                    epochs=epochs,
                    batch_size=64,
                    seed=seed,
                    progress=False,
                )
                accs.append(res.metrics[-1]["test_accuracy"])
            rows[f"AIL `{combine}`"] = (counts, accs, time.perf_counter() - t0)
        # The three AIL variants share wiring and hence parameter counts; match the ReLU net to them.
        t0 = time.perf_counter()
        relu_accs, relu_counts, relu_eps = [], [], []
        for i, seed in enumerate(seeds):
            target = rows["AIL `and`"][0][i]
            net, e = relu_net_matching(sizes, eps, seed, target)
            relu_counts.append(n_params(net))
            relu_eps.append(e)
            res = fit(
                net,
                ds,
                optimizer=functools.partial(torch.optim.Adam, lr=lr),
                epochs=epochs,
                batch_size=64,
                seed=seed,
                progress=False,
            )
            relu_accs.append(res.metrics[-1]["test_accuracy"])
        rows["ReLU (epsilon " + ", ".join(f"{e:.3g}" for e in relu_eps) + ")"] = (
            relu_counts,
            relu_accs,
            time.perf_counter() - t0,
        )
        for label, (counts, accs, dt) in rows.items():
            out.append(
                f"| {label} | {', '.join(map(str, counts))} | {mean_std(accs)} "
                f"({', '.join(f'{100 * a:.1f}' for a in accs)}) | {dt:.1f} |"
            )
        gap = max(abs(r - a) / a for r, a in zip(relu_counts, rows["AIL `and`"][0]))
        out += ["", f"Largest parameter-count gap ReLU vs AIL: {100 * gap:.2f}%.", ""]


# --------------------------------------------------------------------------- 3. DendriticTree vs MLP


class TreeNet(nn.Module):
    """m dendritic-tree neurons, each over its own seeded permutation of the 64 pixels, then a Linear head."""

    def __init__(self, in_features: int, m: int, branching: int, depth: int, classes: int, seed: int):
        super().__init__()
        per_tree = branching**depth
        assert per_tree == in_features, "each tree must see every input exactly once"
        rng = numpy_rng(30_000 + seed)
        index = np.concatenate([rng.permutation(in_features) for _ in range(m)])
        self.register_buffer("index", torch.as_tensor(index, dtype=torch.long))
        self.tree = DendriticTree(out_features=m, branching=branching, depth=depth, seed=seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.head = nn.Linear(m, classes)

    def forward(self, x):
        return self.head(F.leaky_relu(self.tree(x[:, self.index]), 0.1))


def mlp(in_features: int, hidden: int, classes: int, seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def section_tree(quick: bool, out: list[str], lr: float) -> None:
    seeds = [0] if quick else [0, 1, 2]
    epochs = 3 if quick else 30
    ds = load_digits(seed=0)
    d, c = ds.num_features, ds.num_classes
    b, depth = 8, 2
    m = 75
    # Tree: per neuron b^(depth-1)*(b+1) + (b+1) = 81 parameters, head 10m + 10 -> 91m + 10.
    # MLP 64-h-10: 75h + 10. m = 75 and h = 91 give exactly 6835 each.
    target = n_params(TreeNet(d, m, b, depth, c, 0))
    h = min(range(1, 1000), key=lambda k: abs(n_params(mlp(d, k, c, 0)) - target))
    out += [
        "## 3. DendriticTree vs an MLP of equal parameter count (digits)",
        "",
        f"Tree model: `x[:, index]` where `index` concatenates {m} seeded permutations of the {d} pixels "
        f"(`numpy_rng(30000 + seed)`), so each of the {m} tree neurons sees every pixel once, in its own "
        f"order, without any projection parameters; then `DendriticTree(out_features={m}, branching={b}, "
        f"depth={depth})` (LeakyReLU(0.1) between levels, input dropout 0.1 as in the paper), "
        f"LeakyReLU(0.1), `nn.Linear({m}, {c})`. MLP: `Linear({d}, {h})`, ReLU, `Linear({h}, {c})`, "
        "no dropout. nn.Linear modules are built under `torch.random.fork_rng` with "
        f"`torch.manual_seed(seed)`. Training: `fit`, Adam lr {lr:g}, batch 64, {epochs} epochs; test "
        f"accuracy after the last epoch; seeds {seeds}.",
        "",
        "| model | params | test accuracy % (mean ± std) | seconds |",
        "|---|---|---|---|",
    ]
    for label, make in (
        (f"DendriticTree m={m}, b={b}, depth={depth} + head", lambda s: TreeNet(d, m, b, depth, c, s)),
        (f"MLP {d}-{h}-{c}", lambda s: mlp(d, h, c, s)),
    ):
        accs, t0 = [], time.perf_counter()
        for seed in seeds:
            model = make(seed)
            p = n_params(model)
            res = fit(
                model,
                ds,
                optimizer=functools.partial(torch.optim.Adam, lr=lr),
                epochs=epochs,
                batch_size=64,
                seed=seed,
                progress=False,
            )
            accs.append(res.metrics[-1]["test_accuracy"])
        out.append(
            f"| {label} | {p} | {mean_std(accs)} ({', '.join(f'{100 * a:.1f}' for a in accs)}) | "
            f"{time.perf_counter() - t0:.1f} |"
        )
    out.append("")


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer setups, seeds, steps and epochs")
    ap.add_argument("-o", "--output", help="also write the markdown report to this file")
    ap.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate of sections 2 and 3")
    ap.add_argument(
        "--only", choices=["xor", "ail", "tree"], action="append", help="run only these sections (repeatable)"
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    sections = args.only or ["xor", "ail", "tree"]
    t0 = time.perf_counter()
    out = [
        "# Neuron models: XOR with ADA, AIL nodes, dendritic trees",
        "",
        f"Command: `{' '.join(['python', 'bench/neurons.py', *(argv if argv is not None else sys.argv[1:])])}`; "
        f"torch {torch.__version__}, {platform.python_version()}, 1 thread"
        f"{', QUICK smoke run' if args.quick else ''}.",
        "",
    ]
    if "xor" in sections:
        section_xor(args.quick, out)
    if "ail" in sections:
        section_ail(args.quick, out, args.lr)
    if "tree" in sections:
        section_tree(args.quick, out, args.lr)
    out += [f"Total time: {time.perf_counter() - t0:.0f} s.", ""]
    text = "\n".join(out)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
