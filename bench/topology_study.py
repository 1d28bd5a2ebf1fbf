"""A topology study in the shape of "Graph Structure of Neural Networks" (You, Leskovec, He, Xie 2020).

    python bench/topology_study.py [--datasets digits coil20] [--epochs 30] [--repeats 3]

Watts–Strogatz wirings of ``--neurons`` hidden neurons over a grid of ``k``
and ``p`` (each between the data's inputs and outputs, ``dagnet.topology.with_io``),
``--repeats`` seeds each, trained as one population per data set through
``dagnet train``'s ``[population]`` section. For each data set it writes, under
``--out``: ``<data>/population.csv`` and ``population.png`` (accuracy against
k, p and each graph statistic, a heat map over k and p) and
``<data>_map.png`` (mean best test accuracy over clustering coefficient and
average path length, the paper's picture). It prints a markdown table of the
mean best accuracy per (k, p), the Spearman correlations of accuracy with
clustering and path length, and the training time.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from dagnet.analysis import plot_accuracy_map
from dagnet.cli.config import load_config, run_config


def study(name: str, args) -> dict:
    out = Path(args.out) / name
    cfg = load_config(
        {
            "seed": 0,
            "epochs": args.epochs,
            "batch_size": 64,
            "out_dir": str(out),
            "data": {"name": name, "path": args.data},
            "optimizer": {"name": "adam", "lr": args.lr},
            "population": {
                "generator": "small_world",
                "neurons": args.neurons,
                "fan_in": args.fan_in,
                "fan_out": args.fan_out,
                "activations": ["relu"],
                "repeats": args.repeats,
                "grid": {"k": args.k, "p": args.p},
            },
        }
    )
    t = time.perf_counter()
    model, _, result = run_config(cfg, progress=False)
    seconds = time.perf_counter() - t
    with open(out / "population.csv") as f:
        rows = list(csv.DictReader(f))
    ax = plot_accuracy_map(rows, bins=args.bins)
    ax.figure.savefig(Path(args.out) / f"{name}_map.png", dpi=100)
    acc = np.array([float(r["best_test_accuracy"]) for r in rows])
    grid = {}
    for r, a in zip(rows, acc):
        grid.setdefault((int(float(r["k"])), float(r["p"])), []).append(a)
    corr = {key: spearmanr([float(r[key]) for r in rows], acc).statistic for key in ("clustering", "path_length")}
    return dict(
        name=name,
        members=len(model),
        edges=model.num_edges,
        grid=grid,
        corr=corr,
        seconds=seconds,
        epochs=len(result.metrics),
        best=int(np.argmax(acc)),
        best_acc=float(acc.max()),
        rows=rows,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "coil20"], choices=["digits", "coil20"])
    parser.add_argument("--data", default=None, help="folder of coil20.npz (default: DAGNET_DATA or ../shared/data)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--neurons", type=int, default=64)
    parser.add_argument("--fan-in", type=int, default=16)
    parser.add_argument("--fan-out", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--k", type=int, nargs="+", default=[2, 4, 6, 8, 12])
    parser.add_argument("--p", type=float, nargs="+", default=[0.0, 0.1, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--bins", type=int, default=6)
    parser.add_argument("--out", default="bench/topology_study")
    args = parser.parse_args(argv)
    print(f"load before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for name in args.datasets:
        r = study(name, args)
        print(
            f"\n### {name}: {r['members']} Watts–Strogatz networks ({args.neurons} hidden neurons, "
            f"{r['edges']:,} edges in all), {r['epochs']} epochs in {r['seconds']:.1f} s as one population\n"
        )
        ps = sorted({p for _, p in r["grid"]})
        print("| k \\ p | " + " | ".join(f"{p:g}" for p in ps) + " |")
        print("|---" * (len(ps) + 1) + "|")
        for k in sorted({k for k, _ in r["grid"]}):
            cells = [r["grid"].get((k, p)) for p in ps]
            print(
                f"| {k} | "
                + " | ".join("" if c is None else f"{np.mean(c):.1%} ± {np.std(c):.1%}" for c in cells)
                + " |"
            )
        best = r["rows"][r["best"]]
        print(
            f"\nbest member: k={best['k']}, p={best['p']}: {r['best_acc']:.1%}; Spearman correlation of best "
            f"accuracy with clustering {r['corr']['clustering']:+.2f}, with path length {r['corr']['path_length']:+.2f}"
        )
    print(f"\nload after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
