"""The ``dagnet`` command line: ``dagnet demo``, ``dagnet bench ...``, ``dagnet graph ...``."""

from __future__ import annotations

import argparse
import sys

import torch

__all__ = ["main", "build_parser"]


def _demo(args: argparse.Namespace) -> int:
    from .demo import DemoConfig, run_demo

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    cfg = DemoConfig(epochs=args.epochs, seed=args.seed, hidden=args.hidden)
    run_demo(cfg)
    return 0


def _add_demo_parser(sub) -> None:
    p = sub.add_parser("demo", help="train a DAG network on scikit-learn's digits; print accuracy and speed")
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    p.add_argument("--hidden", type=int, default=300, help="hidden neurons of the random DAG (default 300)")
    p.add_argument("--seed", type=int, default=0, help="seed of the graph, weights and data order")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch and the compiled kernels (default: torch's)")
    p.set_defaults(func=_demo)


def build_parser() -> argparse.ArgumentParser:
    """Return the ``dagnet`` argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="dagnet", description="Neural networks wired by any DAG.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo_parser(sub)
    from .bench.cli import add_bench_parser
    from .topology.cli import add_graph_parser

    add_bench_parser(sub)
    add_graph_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``dagnet`` command line; return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("dagnet: interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as err:
        print(f"dagnet: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
