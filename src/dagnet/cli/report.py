"""How the command lines report errors: one line for a user's mistake, and its exit code.

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

import errno
import sys
from xml.etree import ElementTree

import torch

from ..errors import DagnetError

__all__ = ["exit_code", "error_message", "report_error", "USAGE", "RUNTIME"]

#: Exit code of a usage error (as argparse's).
USAGE = 2
#: Exit code of a runtime error.
RUNTIME = 1

_OUT_OF_MEMORY = tuple(
    t
    for t in (MemoryError, getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None))
    if isinstance(t, type)
)


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


def report_error(err: BaseException, prog: str = "dagnet") -> int:
    """Print ``err`` on one line of stderr as ``prog: error: ...`` and return its exit code.

    Call it in an ``except`` block. An error that is not the user's (see
    :func:`exit_code`) is a bug: it is raised again, traceback and all, and
    nothing is printed.
    """
    code = exit_code(err)
    if code is None:
        raise err
    print(f"{prog}: error: {error_message(err)}", file=sys.stderr)
    return code
