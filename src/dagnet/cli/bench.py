"""The ``dagnet bench`` command.

The main CLI calls :func:`add_bench_parser` with its sub-parsers::

    dagnet bench engine [--quick] [--scale [standard|huge|giant|all]] [--threads 1 2] [-o FILE] ...
    dagnet bench engine --device cuda [--backend triton torch] [--fourward-code PATH] [--huge] ...

See :mod:`dagnet.bench.engine` for what is measured and how.
"""

from __future__ import annotations

import argparse

from ..bench import engine
from .report import report_error

__all__ = ["add_bench_parser"]


def _run_engine(args: argparse.Namespace) -> int:

    try:
        return engine.run_from_args(args)
    except Exception as err:  # noqa: BLE001 - user errors become one line; bugs are raised again
        return report_error(err, "dagnet bench engine")


def add_bench_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``bench`` command (sub-command ``engine``) on a CLI's sub-parsers.

    The handler is stored as ``func`` on the parsed arguments: call
    ``args.func(args)``; it returns the exit code (0 done, 2 for contradictory
    options, an output folder that does not exist or ``--device cuda`` without a
    GPU, 1 if a baseline disagrees with dagnet or the report cannot be written;
    see :mod:`dagnet.cli`).

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()`` of the main ``dagnet`` parser.

    Returns
    -------
    argparse.ArgumentParser
        The ``bench`` parser.

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="dagnet")
    >>> _ = add_bench_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["bench", "engine", "--quick", "--threads", "1"])
    >>> args.quick, args.threads, args.func.__name__
    (True, [1], '_run_engine')
    """
    bench = subparsers.add_parser("bench", help="benchmarks", description="Benchmarks of dagnet against its baselines.")
    commands = bench.add_subparsers(dest="bench_command", metavar="{engine}", required=True)
    eng = commands.add_parser(
        "engine",
        help="training-step time and memory vs 4Ward-style and per-node baselines",
        description=(
            "Time a full training step (forward + backward + SGD) of DAGNetwork, a "
            "4Ward-style dense-masked network and a per-node loop on Erdős–Rényi DAGs, "
            "plus a 100,000-node / 1,000,000-edge scale run; print a markdown report. "
            "With --device cuda: on the GPU, per back end, against the dense-masked network "
            "(and 4Ward's own code with --fourward-code), with the 10^6-, 10^7- and, memory "
            "permitting, 10^8-edge scale runs."
        ),
    )
    engine.add_arguments(eng)
    eng.set_defaults(func=_run_engine)
    return bench
