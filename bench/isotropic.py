"""Evidence for isotropic networks that grow and shrink (papers.md section 4).

Four experiments, every random choice from an explicit seed:

1. How much each operation of :class:`dagnet.nn.isotropic.IsotropicMLP` changes the outputs
   of a trained network on the digits test set, in float32 and float64.
2. Removing directions of small, non-zero singular value: the change against the size of
   what was removed.
3. ``sparsify()``: parameters before and after, for several shapes.
4. Digits under :class:`dagnet.evolve.neuroadaptation.Neuroadaptation`: trained on classes
   0-4, then on all ten; the hidden widths over the epochs (plotted to
   ``bench/isotropic_widths.png``), against fixed-width networks of the initial and the
   final widths.

Usage::

    .venv/bin/python bench/isotropic.py -o report.md

The markdown report goes to stdout (and to ``-o FILE``).
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from dagnet.data import Dataset, load_digits  # noqa: E402
from dagnet.evolve.neuroadaptation import Neuroadaptation  # noqa: E402
from dagnet.nn.isotropic import IsotropicMLP  # noqa: E402
from dagnet.seeding import torch_generator  # noqa: E402
from dagnet.train import evaluate, fit  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PLOT = os.path.join(HERE, "isotropic_widths.png")


def table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out + [""]


def sci(v: float) -> str:
    return "0" if v == 0 else f"{v:.1e}"


def subset(ds: Dataset, classes: list[int], name: str) -> Dataset:
    keep = torch.tensor(classes)
    tr, te = torch.isin(ds.y_train, keep), torch.isin(ds.y_test, keep)
    return Dataset(ds.X_train[tr], ds.y_train[tr], ds.X_test[te], ds.y_test[te], name, ds.num_classes)


@torch.no_grad()
def change(net: IsotropicMLP, x: torch.Tensor, before: torch.Tensor) -> float:
    return float((net(x.to(before.dtype)) - before).abs().max())


def trained_net(digits: Dataset) -> IsotropicMLP:
    """[64, 32, 48, 32, 10]: layer 2 is wider than its input, so 16 of its directions are constant."""
    net = IsotropicMLP([64, 32, 48, 32, 10], intrinsic_length=0.1, seed=0)
    fit(net, digits, optimizer=lambda p: torch.optim.Adam(p, lr=3e-3), epochs=5, batch_size=64, seed=0, progress=False)
    return net


# --------------------------------------------------------------------------- 1. exact operations
def section_operations(net: IsotropicMLP, x: torch.Tensor, out: list[str]) -> None:
    ops = [
        ("grow(2, 4): 4 scaffold neurons", lambda m: m.grow(2, 4, seed=0)),
        ("diagonalise(2, 'left')", lambda m: m.diagonalise(2, "left")),
        ("diagonalise(2, 'full')", lambda m: m.diagonalise(2, "full")),
        (
            "grow(1, 4) then shrink(1, 4): scaffold removed (s = 0, b* = 0)",
            lambda m: (m.grow(1, 4, seed=0), m.shrink(1, 4)),
        ),
        ("shrink(2, 16): the 16 constant directions (s = 0, b* != 0)", lambda m: m.shrink(2, 16)),
        ("sparsify()", lambda m: m.sparsify()),
        ("all of the above, in turn", None),
    ]
    rows = []
    nets = {torch.float32: net, torch.float64: copy.deepcopy(net).double()}
    for label, op in ops:
        row = [label]
        for dtype, base in nets.items():
            m = copy.deepcopy(base)
            with torch.no_grad():
                before = m(x.to(dtype))
            if op is None:
                for _, each in ops[:-1]:
                    each(m)
            else:
                op(m)
            row.append(sci(change(m, x, before)))
            if dtype == torch.float64:
                row.append(str(m.sizes[1:-1]))
        rows.append(row)
    with torch.no_grad():
        scale = float(net(x).abs().max())
    out += [
        "## 1. Operations that keep the function",
        "",
        "A trained `IsotropicMLP([64, 32, 48, 32, 10], intrinsic_length=0.1)` (5 epochs of Adam on digits); "
        f"each operation on a fresh copy. Max |change of output| over the 450 test digits (outputs up to "
        f"{scale:.1f} in size). Bounds asked for: 1e-6 in float32, 1e-12 in float64.",
        "",
    ]
    out += table(["operation", "max abs change, float32", "max abs change, float64", "hidden widths after"], rows)
    out += [
        "`grow` only appends zero rows and new columns, so nothing is rounded. The other operations rotate "
        "the weights (computed in float64, whatever the model's dtype) and store them in the model's dtype: "
        "what remains is that rounding.",
        "",
    ]


# --------------------------------------------------------------------------- 2. small singular values
def section_small(net: IsotropicMLP, x: torch.Tensor, out: list[str]) -> None:
    base = copy.deepcopy(net).double()
    x = x.double()
    with torch.no_grad():
        before = base(x)
    rows = []
    for layer in (1, 3):
        for n in (1, 2, 4, 8):
            m = copy.deepcopy(base)
            report = m.shrink(layer, n)
            rows.append([layer, n, f"{report.singular_values[0]:.3f}", f"{change(m, x, before):.3f}"])
    out += [
        "## 2. Removing directions of non-zero singular value",
        "",
        "The same trained network (float64). `shrink(layer, n)` removes the n smallest singular directions; "
        "the change of the layer's pre-activation is at most the largest removed singular value times the norm "
        "of the layer's input (below 1 after an isotropic tanh; the digits' norm, about 8, for layer 1).",
        "",
    ]
    out += table(["layer", "n removed", "largest removed singular value", "max abs change of output"], rows)
    rows = []
    g = torch_generator(1)
    for eps in (1e-1, 1e-2, 1e-3, 1e-4, 1e-6, 1e-8):
        m = copy.deepcopy(base)
        with torch.no_grad():  # set layer 3's smallest singular value to eps
            u, s, vh = torch.linalg.svd(m.weight3, full_matrices=False)
            s[-1] = eps
            m.weight3.copy_(u @ torch.diag(s) @ vh)
            ref = m(x)
        report = m.shrink(3, 1)
        d = change(m, x, ref)
        rows.append([sci(report.singular_values[0]), sci(d), f"{d / eps:.3f}"])
    del g
    out += ["Layer 3's smallest singular value set to eps, then removed: the change shrinks in proportion.", ""]
    out += table(["removed singular value eps", "max abs change of output", "change / eps"], rows)


# --------------------------------------------------------------------------- 3. sparsify
def section_sparsify(out: list[str]) -> None:
    rows = []
    for sizes in (
        [64, 32, 48, 32, 10],
        [64] + [128] * 4 + [10],
        [64] + [256] * 8 + [10],
        [784] + [512] * 6 + [10],
        [100] + [200] * 20 + [10],
    ):
        net = IsotropicMLP(sizes, seed=0, dtype=torch.float64)
        x = torch.randn(256, sizes[0], generator=torch_generator(0), dtype=torch.float64)
        with torch.no_grad():
            before = net(x)
        report = net.sparsify()
        label = (
            f"[{sizes[0]}, {sizes[1]} x {len(sizes) - 2}, {sizes[-1]}]" if len(set(sizes[1:-1])) == 1 else str(sizes)
        )
        rows.append(
            [
                label,
                list(report.layers),
                report.parameters_before,
                report.parameters_after,
                f"{100 * report.ratio:.1f}%",
                sci(change(net, x, before)),
            ]
        )
    out += [
        "## 3. sparsify(): alternate layers stored as their diagonals",
        "",
        "Parameters = every number in the state_dict (weights, biases, intrinsic lengths); a diagonal layer "
        "counts its diagonal and the forward pass uses it as such. Float64; change over 256 random inputs.",
        "",
    ]
    out += table(
        ["sizes", "diagonal layers", "parameters before", "after", "after / before", "max abs change of output"], rows
    )


# --------------------------------------------------------------------------- 4. neuroadaptation on digits
def adaptive_run(
    digits: Dataset,
    phases: list[Dataset],
    epochs: int,
    seed: int,
    start: int,
    lr: float,
    adapt: bool,
    widths: list[int] | None = None,
) -> dict:
    hidden = widths or [start, start]
    net = IsotropicMLP([64, *hidden, 10], seed=seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    rules = [(Neuroadaptation(threshold=0.1, scaffold=2, seed=seed), lambda epoch: True)] if adapt else []
    history, accs = [], []
    for p, ds in enumerate(phases):
        result = fit(
            net, ds, optimizer=opt, epochs=epochs, batch_size=64, rules=rules, seed=100 * seed + p, progress=False
        )
        for row in result.metrics:
            history.append([row.get(f"Neuroadaptation.layer{k}.width", net.sizes[k]) for k in (1, 2)])
            accs.append(row["test_accuracy"])
    return {
        "net": net,
        "widths": history,
        "acc": accs,
        "first": evaluate(net, phases[0].X_test, phases[0].y_test)[1],
        "all": evaluate(net, digits.X_test, digits.y_test)[1],
    }


def section_neuroadaptation(digits: Dataset, out: list[str], epochs: int, seeds: list[int]) -> None:
    start, lr = 8, 3e-3
    phases = [subset(digits, list(range(5)), "digits 0-4"), digits]
    runs = [adaptive_run(digits, phases, epochs, s, start, lr, True) for s in seeds]
    rows = []
    for s, r in zip(seeds, runs):
        w = r["widths"]
        rows.append(
            [
                s,
                f"{start}, {start}",
                f"{w[epochs - 1][0]}, {w[epochs - 1][1]}",
                f"{w[-1][0]}, {w[-1][1]}",
                r["net"].parameter_count(),
                f"{100 * r['acc'][epochs - 1]:.1f}",
                f"{100 * r['all']:.1f}",
                f"{100 * r['first']:.1f}",
            ]
        )
    static = []
    for label, widths in (
        ("fixed, initial widths", [start, start]),
        ("fixed, final widths of seed 0", runs[0]["widths"][-1]),
    ):
        accs = [adaptive_run(digits, phases, epochs, s, start, lr, False, widths=list(widths))["all"] for s in seeds]
        static.append(
            [
                label,
                str(list(widths)),
                f"{100 * statistics.mean(accs):.1f} ± {100 * (statistics.stdev(accs) if len(accs) > 1 else 0):.1f}",
            ]
        )
    adaptive = [r["all"] for r in runs]
    static.insert(
        0,
        [
            "Neuroadaptation (grows from the initial widths)",
            "see above",
            f"{100 * statistics.mean(adaptive):.1f} ± "
            f"{100 * (statistics.stdev(adaptive) if len(adaptive) > 1 else 0):.1f}",
        ],
    )

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    x = list(range(1, 2 * epochs + 1))
    for s, r in zip(seeds, runs):
        for k, style in ((0, "-"), (1, "--")):
            ax1.plot(x, [w[k] for w in r["widths"]], style, color=f"C{s}", label=f"seed {s}, layer {k + 1}")
        ax2.plot(x, [100 * a for a in r["acc"]], color=f"C{s}", label=f"seed {s}")
    for ax in (ax1, ax2):
        ax.axvline(epochs + 0.5, color="grey", lw=1, ls=":")
        ax.set_xlabel("epoch")
    ax1.set_ylabel("hidden width")
    ax1.set_title("Widths under Neuroadaptation (classes 0-4, then 0-9)")
    ax1.legend(fontsize=7, ncol=2)
    ax2.set_ylabel("test accuracy on the current task (%)")
    ax2.set_title("Test accuracy")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=100)
    plt.close(fig)

    out += [
        "## 4. Neuroadaptation on digits, with a task added mid-run",
        "",
        f"`IsotropicMLP([64, {start}, {start}, 10])`, Adam (lr {lr}), batch 64; "
        f"`Neuroadaptation(threshold=0.1, scaffold=2)` after every epoch. {epochs} epochs on the digits of "
        f"classes 0-4, then {epochs} on all ten (same model and optimizer; the 10 outputs exist from the "
        f"start). Widths over the epochs: `bench/isotropic_widths.png` (dotted line: the new classes arrive).",
        "",
    ]
    out += table(
        [
            "seed",
            "widths at start",
            f"after epoch {epochs} (0-4)",
            f"after epoch {2 * epochs} (0-9)",
            "parameters at the end",
            f"test acc. 0-4 at epoch {epochs} (%)",
            "test acc. 0-9 at the end (%)",
            "test acc. 0-4 at the end (%)",
        ],
        rows,
    )
    out += [
        f"Against fixed widths, same two-phase schedule, seeds {seeds} (test accuracy on all ten digits at "
        "the end, mean ± std):",
        "",
    ]
    out += table(["network", "hidden widths", "test accuracy (%)"], static)
    steps = [b[k] - a[k] for r in runs for a, b in zip(r["widths"], r["widths"][1:]) for k in (0, 1)]
    out += [
        f"A layer grows by at most `scaffold` = 2 neurons per step (largest step seen here: {max(steps)}): "
        "after a step exactly 2 of its singular values are below the threshold, and only those can cross it "
        "before the next. It shrinks when training leaves more than 2 directions below the threshold "
        f"(largest shrink seen here: {max(0, -min(steps))}).",
        "",
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", help="also write the markdown report to this file")
    ap.add_argument("--epochs", type=int, default=30, help="epochs per phase of section 4")
    ap.add_argument("--seeds", type=int, default=3, help="seeds of section 4")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    started = time.strftime("%Y-%m-%d %H:%M:%S %z")
    command = " ".join([".venv/bin/python", "bench/isotropic.py", *(argv if argv is not None else sys.argv[1:])])
    out = [
        "# Isotropic networks that grow and shrink",
        "",
        f"Command: `{command}`",
        "",
        f"- Started {started}; Python {platform.python_version()}, torch {torch.__version__}, 1 thread; "
        f"{platform.platform()}, {os.cpu_count()} logical CPUs.",
        "",
    ]
    digits = load_digits(seed=0)
    x = digits.X_test
    net = trained_net(digits)
    section_operations(net, x, out)
    section_small(net, x, out)
    section_sparsify(out)
    section_neuroadaptation(digits, out, args.epochs, list(range(args.seeds)))
    out += [f"Total time: {time.perf_counter() - t0:.0f} s.", ""]
    text = "\n".join(out)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
