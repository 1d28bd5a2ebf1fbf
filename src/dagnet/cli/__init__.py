"""The command lines: ``dagnet demo``, ``dagnet train CONFIG.toml``, ``dagnet graph ...``, ``dagnet bench ...``.

* :mod:`dagnet.cli.commands`: the ``dagnet`` command and its subcommands.
* :mod:`dagnet.cli.config`: ``dagnet train``'s TOML files: keys, defaults, and
  the data, model, optimizer and rules they build.
* :mod:`dagnet.cli.graph`: ``dagnet graph generate | convert | stats``.
* :mod:`dagnet.cli.bench`: ``dagnet bench engine``.
* :mod:`dagnet.cli.report`: one line and an exit code per user error.
"""

from .commands import build_parser, main
from .report import RUNTIME, USAGE, error_message, exit_code, report_error

__all__ = ["main", "build_parser", "exit_code", "error_message", "report_error", "USAGE", "RUNTIME"]
