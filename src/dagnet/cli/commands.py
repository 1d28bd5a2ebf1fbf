"""The ``dagnet`` command: ``dagnet demo``, ``dagnet train``, ``dagnet bench ...``, ``dagnet graph ...``.

Errors are reported as :mod:`dagnet.cli.report` says.
"""

from __future__ import annotations

import argparse
import sys

import torch

from .._checks import int_argument
from ..demo import DemoConfig, run_demo
from ..distributed.process_group import join_from_env, rank_and_world_size
from .bench import add_bench_parser
from .config import load_config, run_config
from .graph import add_graph_parser
from .report import USAGE, report_error

__all__ = ["main", "build_parser"]


def _threads(args: argparse.Namespace) -> None:
    if args.threads is not None:
        torch.set_num_threads(args.threads)


def _demo(args: argparse.Namespace) -> int:
    _threads(args)
    cfg = DemoConfig(epochs=args.epochs, seed=args.seed, hidden=args.hidden)
    run_demo(cfg, progress=args.progress)
    return 0


def _train(args: argparse.Namespace) -> int:
    _threads(args)
    joined = join_from_env()  # under torchrun: train data-parallel, one rank per process (gloo, CPU)
    try:
        return _train_config(args)
    finally:
        if joined:
            torch.distributed.destroy_process_group()


def _train_config(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if args.epochs is not None:
        cfg["epochs"] = args.epochs
    if args.out_dir is not None:
        cfg["out_dir"] = args.out_dir
    if args.resume and cfg["out_dir"] is None:
        raise ValueError("--resume needs an output folder: out_dir in the configuration or --out-dir.")
    model, data, result = run_config(cfg, resume=args.resume, progress=not args.quiet)
    if rank_and_world_size()[0] != 0:  # data-parallel: rank 0 alone reports
        return 0
    rows = result.metrics
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    best = max((r["test_accuracy"] for r in rows if r.get("test_accuracy") is not None), default=None)
    seconds = sum(r["seconds"] for r in rows) / max(1, len(rows))
    last = rows[-1] if rows else {}
    print(
        f"{data.name}: {model.__class__.__name__}, {params} trainable parameters, {len(rows)} epochs, "
        f"{seconds:.3f} s/epoch"
    )
    if best is not None and last.get("test_accuracy") is not None:
        print(f"test accuracy: final {last['test_accuracy']:.2%}, best {best:.2%}")
    if last.get("best_member") is not None:
        acc = last.get("best_test_accuracy")
        print(
            f"population of {len(model)}: best member {last['best_member']}"
            + ("" if acc is None else f", test accuracy {acc:.2%}")
            + f" (mean over members {last['test_accuracy']:.2%})"
            if last.get("test_accuracy") is not None
            else ""
        )
    if result.out_dir is not None:
        print(f"metrics, checkpoint and plots in {result.out_dir}")
    return 0


def _add_train_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train the model a TOML configuration describes (see dagnet.cli.config); under torchrun, "
        "data-parallel (torchrun --nproc_per_node=N -m dagnet train CONFIG.toml)",
    )
    p.add_argument("config", help="TOML file: data, model, optimizer, evolve rules, epochs, seed, out_dir")
    p.add_argument("--epochs", type=int_argument(1), default=None, help="override the configuration's epochs")
    p.add_argument("--out-dir", default=None, help="override the configuration's output folder")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in the output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=int_argument(1), default=None, help="CPU threads (default: torch's)")
    p.set_defaults(func=_train)


def _add_demo_parser(sub) -> None:
    p = sub.add_parser(
        "demo", help="train a SET-MLP and a DAG network on scikit-learn's digits; print accuracy, parameters and speed"
    )
    p.add_argument("--progress", action="store_true", help="draw a progress bar per epoch on stderr")
    p.add_argument("--epochs", type=int_argument(1), default=30, help="training epochs (default 30)")
    p.add_argument("--hidden", type=int_argument(1), default=300, help="hidden neurons of the random DAG (default 300)")
    p.add_argument("--seed", type=int_argument(0), default=0, help="seed of the graph, weights and data order")
    p.add_argument(
        "--threads",
        type=int_argument(1),
        default=None,
        help="CPU threads for torch and the compiled kernels (default: torch's)",
    )
    p.set_defaults(func=_demo)


def build_parser() -> argparse.ArgumentParser:
    """Return the ``dagnet`` argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="dagnet",
        description="Neural networks wired by any DAG.",
        epilog="Exit codes: 0 done, 2 usage error (options, configuration, input "
        "files), 1 runtime error (files that cannot be written, memory, "
        "a diverged run), 130 interrupted.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo_parser(sub)
    _add_train_parser(sub)

    add_bench_parser(sub)
    add_graph_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``dagnet`` command line; return its exit code (see the module's docstring)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2), already printed
        return exit_.code if isinstance(exit_.code, int) else USAGE
    prog = f"dagnet {args.command}"
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - user errors become one line; bugs are raised again
        return report_error(err, prog)


if __name__ == "__main__":
    sys.exit(main())
