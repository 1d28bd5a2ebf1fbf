"""Training checkpoints: model, optimizer, rules and generators, checksummed and written atomically."""

from __future__ import annotations

import os
import tempfile  # noqa: F401 (the examples use it)
from pathlib import Path

import torch  # noqa: F401 (the examples use it)

from ..fileio import read_checked, write_checked

__all__ = ["save_checkpoint", "load_checkpoint"]

_FORMAT = "dagnet.train.checkpoint"
_VERSION = 2  # 2: with a checksum of the content


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write a training checkpoint (a dict of tensors and plain data) to ``path``, atomically.

    The file holds a SHA-256 of its content, which :func:`load_checkpoint`
    verifies. The file gets the user's usual permissions (umask).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    TypeError
        If ``state`` holds something other than tensors and plain data
        (dict, list, tuple, str, int, float, bool, None); the message says where.

    Examples
    --------
    >>> path = os.path.join(tempfile.mkdtemp(), "checkpoint.pt")
    >>> _ = save_checkpoint(path, {"epoch": 2, "model": {"w": torch.ones(2)}})
    >>> load_checkpoint(path)["epoch"]
    2
    """
    reserved = {"format", "version", "checksum"} & set(state)
    if reserved:
        raise ValueError(f"A checkpoint's state cannot use the key(s) {sorted(reserved)}; dagnet writes them.")
    return write_checked(path, {"format": _FORMAT, "version": _VERSION, **state})


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Return the dict saved by :func:`save_checkpoint`, with its ``format`` and ``version``.

    The file is read with ``torch.load(weights_only=True)`` (no code runs) and
    its content must match the checksum stored in it. Checkpoints of version 1
    (written before checksums) are returned unverified.

    Raises
    ------
    dagnet.errors.FileFormatError
        If the file is empty, truncated, corrupt, not a dagnet training
        checkpoint, or from a newer dagnet; the message names the path.
    OSError
        If the file cannot be opened.

    Examples
    --------
    >>> path = os.path.join(tempfile.mkdtemp(), "c.pt")
    >>> _ = save_checkpoint(path, {"epoch": 1})
    >>> sorted(load_checkpoint(path))
    ['epoch', 'format', 'version']
    """
    state = read_checked(path, _FORMAT, _VERSION, "a training checkpoint written by dagnet.train")
    state.pop("checksum", None)
    return state
