"""Writing files atomically, and torch files that carry a checksum of their content.

:func:`atomic_write` replaces a file at once (a reader sees the old file or
the new one, never half of one), with the permissions ``open()`` would give.
:func:`write_checked` and :func:`read_checked` store a dict with
``torch.save`` together with a SHA-256 of its content, and read it back with
``torch.load(weights_only=True)`` (no code runs), refusing any file that is
empty, truncated, foreign or whose content no longer matches its checksum
with one :class:`~dagnet.errors.FileFormatError` that names the path.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import struct
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .errors import FileFormatError

__all__ = ["check_path", "atomic_write", "content_digest", "read_checked", "write_checked"]


def _umask() -> int:
    try:
        with open("/proc/self/status") as f:  # reading it leaves the process' umask alone
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_path(path: Any, what: str) -> Path:
    """Return ``path`` as a :class:`~pathlib.Path`: a TypeError if it is not a path, a ValueError if empty.

    (A bare int would be taken by ``open`` as a file descriptor, an empty
    string as the current folder.)

    Examples
    --------
    >>> check_path("runs/net.pt", "the file")
    PosixPath('runs/net.pt')
    """
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} must be a path (a str or os.PathLike). Got {path!r} instead.")
    if str(path) == "":
        raise ValueError(f"{what} must name a file or folder; it is empty.")
    return Path(path)


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then move it onto ``path`` at once.

    A reader (or a run resumed after a crash) sees the old file or the new
    one, never half of one; the temporary file is removed if ``write`` fails.
    The file gets the permissions ``open()`` would give it: those of the file
    it replaces, or ``0o666`` less the process' umask for a new one.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> folder = tempfile.mkdtemp()
    >>> p = atomic_write(os.path.join(folder, "a.txt"), lambda tmp: Path(tmp).write_text("hi"))
    >>> p.read_text(), os.listdir(folder)
    ('hi', ['a.txt'])
    >>> oct(p.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    True
    """
    path = check_path(path, "The path to write")
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"Cannot write {path}: it is a folder; give a file name in it.")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    except OSError as err:
        what = (
            "does not exist"
            if isinstance(err, FileNotFoundError)
            else "is not a folder"
            if isinstance(err, NotADirectoryError)
            else f"cannot be written in ({err.strerror})"
        )
        raise type(err)(
            err.errno, f"Cannot write {path}: its folder {path.parent} {what}; create it or choose another path."
        ) from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, mode)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _feed(h, obj: Any, where: str) -> None:
    """Add a canonical, type-tagged encoding of ``obj`` to the hash ``h``."""

    def sized(tag: bytes, data: bytes) -> None:
        h.update(tag + struct.pack("<Q", len(data)) + data)

    if obj is None:
        h.update(b"N")
    elif isinstance(obj, bool):
        h.update(b"B1" if obj else b"B0")
    elif isinstance(obj, int):
        sized(b"I", str(obj).encode())
    elif isinstance(obj, float):
        h.update(b"F" + struct.pack("<d", obj))
    elif isinstance(obj, complex):
        h.update(b"C" + struct.pack("<dd", obj.real, obj.imag))
    elif isinstance(obj, str):
        sized(b"S", obj.encode("utf-8", "surrogatepass"))
    elif isinstance(obj, (bytes, bytearray)):
        sized(b"Y", bytes(obj))
    elif isinstance(obj, torch.Tensor):
        if obj.layout != torch.strided or obj.is_quantized:
            raise TypeError(
                f"Cannot checksum {where}: a {obj.layout} tensor; store a dense tensor (e.g. t.to_dense())."
            )
        t = obj.detach().cpu().contiguous().reshape(-1)
        sized(b"T", f"{t.dtype}|{tuple(obj.shape)}|{obj.requires_grad}".encode())
        sized(b"t", t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, torch.Size):
        sized(b"Z", repr(tuple(obj)).encode())
    elif isinstance(obj, (torch.dtype, torch.device)):
        sized(b"P" if isinstance(obj, torch.dtype) else b"V", str(obj).encode())
    elif isinstance(obj, dict):
        h.update(b"D" + struct.pack("<Q", len(obj)))
        for k, v in obj.items():
            _feed(h, k, f"a key of {where}")
            _feed(h, v, f"{where}[{k!r}]")
    elif isinstance(obj, (list, tuple)):
        h.update((b"L" if isinstance(obj, list) else b"U") + struct.pack("<Q", len(obj)))
        for i, v in enumerate(obj):
            _feed(h, v, f"{where}[{i}]")
    else:
        raise TypeError(
            f"Cannot checksum {where}: {type(obj).__name__} is not a tensor or plain data "
            "(dict, list, tuple, str, int, float, bool, None)."
        )


def content_digest(obj: Any) -> str:
    """Return the SHA-256 (hex) of the content of ``obj``: tensors, dicts, lists and plain values.

    Tensors count by dtype, shape and bytes (not by device or memory layout),
    dicts by their items in order. Two objects that ``torch.save`` stores
    alike have the same digest; any changed value, key, type or order changes it.

    Raises
    ------
    TypeError
        For anything else (it names where in ``obj``).

    Examples
    --------
    >>> a = content_digest({"w": torch.ones(2), "epoch": 3})
    >>> a == content_digest({"w": torch.ones(2), "epoch": 3}), a == content_digest({"w": torch.ones(2), "epoch": 4})
    (True, False)
    """
    h = hashlib.sha256()
    _feed(h, obj, "the content")
    return h.hexdigest()


def write_checked(path: str | os.PathLike, payload: dict) -> Path:
    """Write ``payload`` with ``torch.save`` and a ``"checksum"`` of the rest, atomically.

    ``payload`` holds a ``"format"`` (a str) and a ``"version"`` (an int);
    :func:`read_checked` verifies all three.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> path = os.path.join(tempfile.mkdtemp(), "x.pt")
    >>> _ = write_checked(path, {"format": "demo", "version": 2, "w": torch.ones(2)})
    >>> read_checked(path, "demo", 2, "a demo file")["w"]
    tensor([1., 1.])
    """
    content = {k: v for k, v in payload.items() if k != "checksum"}
    content["checksum"] = content_digest(content)
    return atomic_write(path, lambda tmp: torch.save(content, tmp))


def read_checked(path: str | os.PathLike, format: str, version: int, what: str) -> dict:
    """Return the dict written at ``path`` by :func:`write_checked`, verified; tensors are on the CPU.

    Files of an earlier ``version`` without a checksum (written before
    checksums existed) are returned unverified; the caller validates them.

    Parameters
    ----------
    path : path-like
    format : str
        The ``"format"`` the file must have.
    version : int
        The newest version understood; a newer file is refused.
    what : str
        What the file should be, for messages (``"a network written by dagnet.save"``).

    Raises
    ------
    FileFormatError
        If the file is empty, truncated, not a torch file, not of ``format``,
        of a newer version, or does not match its checksum.
    OSError
        If the file cannot be opened (missing, a folder, no permission).

    Examples
    --------
    >>> path = os.path.join(tempfile.mkdtemp(), "x.pt")
    >>> _ = Path(path).write_text("hello")
    >>> read_checked(path, "demo", 2, "a demo file")
    Traceback (most recent call last):
    ...
    dagnet.errors.FileFormatError: ... is not a demo file: it cannot be read as a torch file (...); it is truncated, ...
    """
    path = check_path(path, "The path to read")
    with open(path, "rb") as f:
        try:
            if not f.read(1):
                raise FileFormatError(f"{path} is not {what}: the file is empty.", path)
            f.seek(0)
            with warnings.catch_warnings():  # e.g. about the pickle protocol of a foreign file
                warnings.simplefilter("ignore")
                payload = torch.load(f, map_location="cpu", weights_only=True)
        except FileFormatError:
            raise
        except Exception as e:  # noqa: BLE001 (whatever torch raises, the file is not readable)
            reason = f"{type(e).__name__}: {e}".strip().splitlines()[0][:200]
            raise FileFormatError(
                f"{path} is not {what}: it cannot be read as a torch file ({reason}); "
                "it is truncated, corrupt or of another kind.",
                path,
            ) from None
    if not isinstance(payload, dict) or payload.get("format") != format:
        raise FileFormatError(f"{path} is not {what} (it holds other data).", path)
    v = payload.get("version")
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise FileFormatError(f"{path} is {what} with an invalid format version {v!r}: it is corrupt.", path)
    if v > version:
        raise FileFormatError(
            f"{path} was written by a newer dagnet (format version {v}; this one reads "
            f"up to {version}): upgrade dagnet to load it.",
            path,
        )
    if "checksum" in payload or v >= 2:
        saved = payload.get("checksum")
        try:
            digest = content_digest({k: x for k, x in payload.items() if k != "checksum"})
        except (TypeError, RecursionError):
            digest = None
        if not isinstance(saved, str) or digest != saved:
            raise FileFormatError(
                f"{path} is corrupt: its content does not match its checksum (the file "
                "was damaged or edited after it was written). Use another copy.",
                path,
            )
    return payload
