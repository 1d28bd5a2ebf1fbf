"""The ``dagnet`` command line: ``dagnet demo``, ``dagnet train``, ``dagnet bench ...``, ``dagnet graph ...``.

Errors
------
A mistake of the user's is reported on one line of standard error,
``dagnet <command>: error: <what is wrong and what to do>``, without a
traceback, and sets the exit code:

* **2, usage errors**: what was asked for is wrong: a bad option (argparse), a
  bad configuration key or value, a malformed TOML, GraphML or edge-list file,
  a file or folder named by the user that does not exist, a checkpoint written
  for another configuration (``ValueError`` and its dagnet subclasses,
  ``FileNotFoundError``, XML parse errors);
* **1, runtime errors**: what was asked for cannot be done here and now: a file
  or folder cannot be written (``PermissionError``, a file where a folder
  should be, a full disk: any other ``OSError``), memory runs out
  (``MemoryError``, ``torch.OutOfMemoryError``), training diverges
  (``FloatingPointError``), another dagnet error;
* **130**: interrupted (Ctrl-C).

Any other exception (``TypeError``, ``KeyError``, ``RuntimeError``, ...) is a
bug in dagnet and is raised with its traceback.
"""

from __future__ import annotations

import argparse
import errno
import sys
from xml.etree import ElementTree

import torch

from .errors import DagnetError

__all__ = ["main", "build_parser", "exit_code", "error_message", "report_error", "USAGE", "RUNTIME"]

#: Exit code of a usage error (as argparse's).
USAGE = 2
#: Exit code of a runtime error.
RUNTIME = 1

_OUT_OF_MEMORY = tuple(t for t in (MemoryError, getattr(torch, "OutOfMemoryError", None),
                                   getattr(torch.cuda, "OutOfMemoryError", None)) if isinstance(t, type))


def exit_code(err: BaseException) -> int | None:
    """Return the exit code for ``err``: 2 (usage), 1 (runtime), or None for a bug (an unexpected exception).

    Examples
    --------
    >>> exit_code(ValueError("bad key")), exit_code(PermissionError("read-only")), exit_code(TypeError("bug"))
    (2, 1, None)
    """
    if isinstance(err, _OUT_OF_MEMORY):
        return RUNTIME
    if isinstance(err, (ValueError, FileNotFoundError, ElementTree.ParseError)):
        return USAGE
    if isinstance(err, (OSError, FloatingPointError, DagnetError)):
        return RUNTIME
    return None


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def error_message(err: BaseException) -> str:
    """Return ``err`` as one line that says what is wrong (and, for system errors, what to do).

    Examples
    --------
    >>> error_message(PermissionError(13, "Permission denied", "runs/a"))
    "Permission denied: 'runs/a' (check its permissions, or choose another path)"
    >>> error_message(ValueError("optimizer.lr must be a number > 0, got 'fast' (a string)."))
    "optimizer.lr must be a number > 0, got 'fast' (a string)."
    """
    if isinstance(err, _OUT_OF_MEMORY):
        first = (_lines(str(err)) or ["out of memory"])[0]
        return f"{first} (out of memory: lower batch_size or the model's size, or use a machine with more memory)"
    if isinstance(err, ElementTree.ParseError):
        return f"not well-formed XML ({err})"
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        where = repr(str(err.filename)) + ("" if err.filename2 is None else f" -> {str(err.filename2)!r}")
        hint = {
            PermissionError: "check its permissions, or choose another path",
            FileExistsError: "something is in the way: choose another path, or move it away",
            NotADirectoryError: "a part of the path is a file, not a folder: choose another path",
            IsADirectoryError: "it is a folder: name a file",
        }.get(type(err))
        if err.errno == errno.ENOSPC:
            hint = "free some space, or choose another disk"
        return f"{err.strerror}: {where}" + (f" ({hint})" if hint else "")
    return " ".join(_lines(str(err))) or type(err).__name__


def report_error(err: BaseException, prog: str = "dagnet") -> int | None:
    """Print ``err`` on one line of stderr as ``prog: error: ...`` and return its exit code.

    Returns None, printing nothing, when ``err`` is not a user error (see
    :func:`exit_code`): the caller re-raises it, traceback and all.
    """
    code = exit_code(err)
    if code is not None:
        print(f"{prog}: error: {error_message(err)}", file=sys.stderr)
    return code


def _count(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
        return value

    parse.__name__ = "int"
    return parse


def _threads(args: argparse.Namespace) -> None:
    if args.threads is not None:
        torch.set_num_threads(args.threads)


def _demo(args: argparse.Namespace) -> int:
    from .demo import DemoConfig, run_demo

    _threads(args)
    cfg = DemoConfig(epochs=args.epochs, seed=args.seed, hidden=args.hidden)
    run_demo(cfg, progress=args.progress)
    return 0


def _train(args: argparse.Namespace) -> int:
    from .train.config import load_config, run_config

    _threads(args)
    cfg = load_config(args.config)
    if args.epochs is not None:
        cfg["epochs"] = args.epochs
    if args.out_dir is not None:
        cfg["out_dir"] = args.out_dir
    if args.resume and cfg["out_dir"] is None:
        raise ValueError("--resume needs an output folder: out_dir in the configuration or --out-dir.")
    model, data, result = run_config(cfg, resume=args.resume, progress=not args.quiet)
    rows = result.metrics
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    best = max((r["test_accuracy"] for r in rows if r.get("test_accuracy") is not None), default=None)
    seconds = sum(r["seconds"] for r in rows) / max(1, len(rows))
    last = rows[-1] if rows else {}
    print(f"{data.name}: {model.__class__.__name__}, {params} trainable parameters, {len(rows)} epochs, "
          f"{seconds:.3f} s/epoch")
    if best is not None and last.get("test_accuracy") is not None:
        print(f"test accuracy: final {last['test_accuracy']:.2%}, best {best:.2%}")
    if result.out_dir is not None:
        print(f"metrics, checkpoint and plots in {result.out_dir}")
    return 0


def _add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train the model a TOML configuration describes (see dagnet.train.config)")
    p.add_argument("config", help="TOML file: data, model, optimizer, evolve rules, epochs, seed, out_dir")
    p.add_argument("--epochs", type=_count(1), default=None, help="override the configuration's epochs")
    p.add_argument("--out-dir", default=None, help="override the configuration's output folder")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in the output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=_count(1), default=None, help="CPU threads (default: torch's)")
    p.set_defaults(func=_train)


def _add_demo_parser(sub) -> None:
    p = sub.add_parser("demo", help="train a SET-MLP and a DAG network on scikit-learn's digits; "
                       "print accuracy, parameters and speed")
    p.add_argument("--progress", action="store_true", help="draw a progress bar per epoch on stderr")
    p.add_argument("--epochs", type=_count(1), default=30, help="training epochs (default 30)")
    p.add_argument("--hidden", type=_count(1), default=300, help="hidden neurons of the random DAG (default 300)")
    p.add_argument("--seed", type=_count(0), default=0, help="seed of the graph, weights and data order")
    p.add_argument("--threads", type=_count(1), default=None,
                   help="CPU threads for torch and the compiled kernels (default: torch's)")
    p.set_defaults(func=_demo)


def build_parser() -> argparse.ArgumentParser:
    """Return the ``dagnet`` argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="dagnet", description="Neural networks wired by any DAG.",
                                     epilog="Exit codes: 0 done, 2 usage error (options, configuration, input "
                                            "files), 1 runtime error (files that cannot be written, memory, "
                                            "a diverged run), 130 interrupted.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo_parser(sub)
    _add_train_parser(sub)
    from .bench.cli import add_bench_parser
    from .topology.cli import add_graph_parser

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
        code = report_error(err, prog)
        if code is None:
            raise
        return code


if __name__ == "__main__":
    sys.exit(main())
