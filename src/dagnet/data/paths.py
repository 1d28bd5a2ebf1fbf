"""Where data files are found: one lookup shared by every loader that reads a file.

A loader takes ``path=`` (the file, or the folder that holds it); without it the
file is looked up in the folder named by ``$DAGNET_DATA``, else in
``../shared/data`` beside the current directory or beside the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_folders", "find_data_file"]

_REPO = Path(__file__).resolve().parents[3]  # src/dagnet/data/paths.py -> the repository


def data_folders() -> list[Path]:
    """Return the folders searched for data files when no ``path=`` is given, in order.

    ``[$DAGNET_DATA]`` when that variable is set, else ``../shared/data`` beside
    the current directory and beside the repository (duplicates removed).

    Examples
    --------
    >>> all(isinstance(f, Path) for f in data_folders())
    True
    """
    env = os.environ.get("DAGNET_DATA")
    if env:
        return [Path(env)]
    return list(
        dict.fromkeys([(Path.cwd() / ".." / "shared" / "data").resolve(), (_REPO / ".." / "shared" / "data").resolve()])
    )


def find_data_file(
    filename: str, path: str | os.PathLike | None = None, *, what: str = "data", func: str = "the loader"
) -> Path:
    """Return the path of the data file ``filename``, or raise a FileNotFoundError saying where it looked.

    Parameters
    ----------
    filename : str
        The file's usual name, e.g. ``"madelon.npz"``.
    path : str or path-like, optional
        The file itself, or the folder that holds ``filename``. Default: the
        folders of :func:`data_folders`.
    what : str
        What the file is, for the message (``"madelon"``, ``"connectome"``).
    func : str
        The public function whose ``path`` argument this is, for the message.

    Returns
    -------
    pathlib.Path
        An existing file.

    Raises
    ------
    FileNotFoundError
        If ``path`` names no file (nor a folder holding ``filename``), or, with
        no ``path``, if no default folder holds it; the message lists the
        places tried and says how to pass ``path=`` or set ``$DAGNET_DATA``.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "x.csv").write_text("a,b")
    >>> find_data_file("x.csv", folder).name, find_data_file("x.csv", folder / "x.csv").name
    ('x.csv', 'x.csv')
    """
    if path is not None:
        file = Path(path)
        if file.is_dir():
            file = file / filename
        if file.is_file():
            return file
        raise FileNotFoundError(
            f"No {what} file at {str(file)!r} (the 'path' given to {func}). Pass path= the file "
            f"{filename!r} or the folder that holds it."
        )
    env = os.environ.get("DAGNET_DATA")
    folders = data_folders()
    for folder in folders:
        if (folder / filename).is_file():
            return folder / filename
    where = ", ".join(str(f) for f in folders)
    raise FileNotFoundError(
        f"Could not find the {what} file {filename!r}; looked in {where}"
        + (" (from $DAGNET_DATA)." if env else ".")
        + " Set the environment variable DAGNET_DATA to the folder that holds it, "
        f"or pass path='/path/to/{filename}'."
    )
