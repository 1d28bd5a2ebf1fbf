"""Classification data sets as torch tensors, split into train and test sets.

Every loader returns a :class:`Dataset`: float32 features of shape
``(n, num_features)`` and int64 labels in ``0 .. num_classes - 1``. Nothing is
downloaded: scikit-learn's digits ship with scikit-learn; other files are read
from a path (see :func:`dagnet.data.find_data_file`).
"""

from __future__ import annotations

import gzip
import math
import numbers
import os
import pickle
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._checks import check_float
from ..errors import FileFormatError
from ..seeding import numpy_rng
from .paths import find_data_file

__all__ = ["Dataset", "load_digits", "load_madelon", "load_coil20", "load_mnist", "read_idx"]

MADELON_FEATURES = 500
COIL20_FEATURES = 32 * 32
COIL20_CLASSES = 20


@dataclass(frozen=True, repr=False)
class Dataset:
    """A classification data set split into a training and a test set.

    Attributes
    ----------
    X_train, X_test : torch.Tensor, float32, shape (n_train, d) and (n_test, d)
    y_train, y_test : torch.Tensor, int64, shape (n_train,) and (n_test,)
        Labels in ``0 .. num_classes - 1``.
    name : str
    num_classes : int

    Raises
    ------
    TypeError
        If an array is not a torch.Tensor (e.g. a NumPy array or a list).
    ValueError
        If the shapes or dtypes disagree (the message gives them), a set is
        empty, a feature
        is NaN or infinite, or a label is outside ``0 .. num_classes - 1``.

    Examples
    --------
    >>> ds = Dataset(torch.zeros(3, 2), torch.tensor([0, 1, 1]), torch.zeros(1, 2), torch.tensor([1]),
    ...              "toy", 2)
    >>> ds, ds.num_features
    (Dataset(name='toy', train=3x2, test=1x2, num_classes=2), 2)
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    name: str
    num_classes: int

    def __post_init__(self):
        for key, want in (("X_train", "float32"), ("y_train", "int64"), ("X_test", "float32"), ("y_test", "int64")):
            value = getattr(self, key)
            if not isinstance(value, torch.Tensor):
                raise TypeError(
                    f"Dataset {self.name!r}: {key} must be a torch.Tensor of {want}. Got a "
                    f"{type(value).__name__} instead; pass torch.as_tensor({key}, dtype=torch.{want})."
                )
        for split in ("train", "test"):
            X, y = getattr(self, f"X_{split}"), getattr(self, f"y_{split}")
            if X.dtype != torch.float32 or y.dtype != torch.int64:
                raise ValueError(
                    f"Dataset {self.name!r}: X_{split} must be float32 and y_{split} int64. "
                    f"Got {X.dtype} and {y.dtype} instead."
                )
            if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
                raise ValueError(
                    f"Dataset {self.name!r}: X_{split} must be 2-D and y_{split} 1-D with as "
                    f"many rows. Got shapes {tuple(X.shape)} and {tuple(y.shape)} instead."
                )
            if X.shape[0] == 0:
                raise ValueError(
                    f"Dataset {self.name!r}: the {split} set holds no sample (X_{split} has shape "
                    f"{tuple(X.shape)}); give it at least one."
                )
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise ValueError(
                f"Dataset {self.name!r}: train and test have {self.X_train.shape[1]} and "
                f"{self.X_test.shape[1]} features."
            )
        k = self.num_classes
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"Dataset {self.name!r}: num_classes must be an int >= 1. Got {k!r} instead.")
        for split in ("train", "test"):
            X, y = getattr(self, f"X_{split}"), getattr(self, f"y_{split}")
            finite = torch.isfinite(X)
            if not bool(finite.all()):
                row, col = (int(i) for i in torch.nonzero(~finite)[0])
                raise ValueError(
                    f"Dataset {self.name!r}: X_{split} has {int((~finite).sum())} NaN or infinite "
                    f"value(s), the first at row {row}, column {col} ({float(X[row, col])})."
                )
            outside = (y < 0) | (y >= k)
            if bool(outside.any()):
                i = int(torch.nonzero(outside)[0])
                raise ValueError(
                    f"Dataset {self.name!r}: y_{split}[{i}] is {int(y[i])}, outside the labels "
                    f"0 .. {k - 1} (num_classes = {k})."
                )

    @property
    def num_features(self) -> int:
        """Columns of ``X_train`` (and ``X_test``)."""
        return int(self.X_train.shape[1])

    def __repr__(self) -> str:
        (n, d), m = self.X_train.shape, self.X_test.shape[0]
        return f"Dataset(name={self.name!r}, train={n}x{d}, test={m}x{d}, num_classes={self.num_classes})"


# ----------------------------------------------------------------- helpers
def _check_test_size(test_size, func: str, n: int) -> float:
    check_float(test_size, "test_size", func, 0, 1, low_open=True, high_open=True)
    n_test = math.ceil(test_size * n)
    if n_test >= n:
        raise ValueError(
            f"The 'test_size' parameter of {func} leaves no training sample "
            f"({n_test} of {n} go to the test set). Got {test_size!r} instead."
        )
    return float(test_size)


def _split(X: np.ndarray, y: np.ndarray, test_size: float, seed) -> tuple:
    """Shuffle with ``numpy_rng(seed)``; the last ``ceil(test_size * n)`` samples are the test set."""
    order = numpy_rng(seed).permutation(len(y))
    cut = len(y) - math.ceil(test_size * len(y))
    return X[order[:cut]], y[order[:cut]], X[order[cut:]], y[order[cut:]]


def _standardize(X_train: np.ndarray, X_test: np.ndarray) -> tuple:
    """Centre and scale both sets by the training mean and std (constant features: std 1)."""
    mean = X_train.mean(0, dtype=np.float64)
    std = X_train.std(0, dtype=np.float64)
    std[std == 0] = 1.0
    return (X_train - mean) / std, (X_test - mean) / std


def _make(name: str, X_train, y_train, X_test, y_test, standardize: bool, num_classes: int | None = None) -> Dataset:
    X_train = np.asarray(X_train, dtype=np.float64).reshape(len(y_train), -1)
    X_test = np.asarray(X_test, dtype=np.float64).reshape(len(y_test), -1)
    if standardize:
        X_train, X_test = _standardize(X_train, X_test)
    y_train, y_test = np.asarray(y_train, np.int64), np.asarray(y_test, np.int64)
    if num_classes is None:
        num_classes = int(max(y_train.max(initial=-1), y_test.max(initial=-1))) + 1
    as_t = lambda a, dt: torch.from_numpy(np.ascontiguousarray(a, dtype=dt))  # noqa: E731
    return Dataset(
        as_t(X_train, np.float32),
        as_t(y_train, np.int64),
        as_t(X_test, np.float32),
        as_t(y_test, np.int64),
        name,
        num_classes,
    )


def _npz(file: Path, keys: tuple[str, ...], what: str) -> dict:
    try:
        with np.load(file) as data:
            missing = [k for k in keys if k not in data.files]
            if missing:
                raise FileFormatError(
                    f"{file} is not a {what} file: missing array(s) {', '.join(missing)}; "
                    f"expected {', '.join(keys)} (it has {', '.join(data.files) or 'none'}).",
                    file,
                )
            return {k: data[k] for k in keys}
    except FileFormatError:
        raise
    except (OSError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError) as err:
        raise FileFormatError(
            f"{file} is not a {what} file: NumPy cannot read it as an .npz archive of "
            f"numeric arrays ({type(err).__name__}: {err}).",
            file,
        ) from err


class _Source:
    """Where the arrays of a data set come from, to name them in messages.

    One ``file`` holding every array (an ``.npz``): messages start with the
    file and name the arrays by key. Or one file per array (``files``, IDX):
    each array is named by its file, with its key in brackets.
    """

    def __init__(self, file: Path | None = None, files: dict | None = None):
        self.file, self.files = file, files or {}

    def name(self, key: str) -> str:
        return key if self.file is not None else f"{self.files[key]} ({key})"

    def error(self, key: str, text: str) -> FileFormatError:
        if self.file is None:
            return FileFormatError(text, self.files[key])
        return FileFormatError(f"{self.file}: {text}", self.file)


def _check_samples(
    src: _Source, key: str, X, what: str, num_features: int | None = None, sample_shape: tuple | None = None
) -> np.ndarray:
    """Return ``X`` as an array of at least one sample, numeric, finite, of the shape the data set defines.

    ``num_features``: ``X`` must be ``(n, num_features)`` (a ``(num_features, n)``
    array is called transposed). ``sample_shape``: each ``X[i]`` must have
    this shape. Neither: ``X`` must have at least two dimensions.
    """
    X = np.asarray(X)
    name = src.name(key)
    if X.dtype.kind not in "biuf":
        raise src.error(key, f"{name} must be a numeric array. Got dtype {X.dtype} instead.")
    if num_features is not None and (X.ndim != 2 or X.shape[1] != num_features):
        hint = ""
        if X.ndim == 2 and X.shape[0] == num_features:
            hint = f" It looks transposed: store {key}.T, one sample per row."
        raise src.error(
            key,
            f"{name} has shape {X.shape}, but {what} has {num_features} features per sample "
            f"(expected shape (n, {num_features})).{hint}",
        )
    if X.ndim < 2:
        raise src.error(key, f"{name} must hold one sample per row (2-D or more). Got shape {X.shape} instead.")
    if sample_shape is not None and X.shape[1:] != tuple(sample_shape):
        raise src.error(
            key,
            f"{name} has samples of shape {X.shape[1:]}, but the training samples have shape {tuple(sample_shape)}.",
        )
    if X.shape[0] == 0:
        raise src.error(key, f"{name} holds no sample (shape {X.shape}).")
    if X.dtype.kind == "f":
        bad = ~np.isfinite(X)
        if bad.any():
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            raise src.error(
                key,
                f"{name} has {int(bad.sum())} NaN or infinite value(s), the first at index "
                f"{at[0] if len(at) == 1 else at} ({X[at]}). Remove or impute them.",
            )
    if X.dtype.kind in "fiu" and X.dtype.itemsize > 4:
        big = np.abs(X.astype(np.float64)) > np.finfo(np.float32).max
        if big.any():
            at = tuple(int(i) for i in np.argwhere(big)[0])
            raise src.error(
                key,
                f"{name} has {int(big.sum())} value(s) beyond the largest float32 "
                f"({np.finfo(np.float32).max:g}), the first at index {at} ({X[at]}); a Dataset holds "
                "float32, where they would become inf. Scale the data down.",
            )
    return X


def _check_labels(src: _Source, key: str, y, x_key: str, X: np.ndarray, rule: str, outside) -> np.ndarray:
    """Return ``y`` as int64 if it holds one integer label per row of ``X``, each allowed by the data set.

    ``outside(values)`` returns those of the distinct label ``values`` that are
    not allowed; ``rule`` says which are, e.g. ``"-1 and +1"``.
    """
    y = np.asarray(y)
    name = src.name(key)
    if y.ndim != 1:
        hint = f" Store {key}.ravel()." if y.ndim == 2 and 1 in y.shape else ""
        raise src.error(key, f"{name} must be 1-D, one label per sample. Got shape {y.shape} instead.{hint}")
    if y.size != X.shape[0]:
        hint = ""
        if X.shape[-1] == y.size:
            hint = f" {x_key} seems to hold its samples along its last axis: is it transposed?"
        raise src.error(key, f"{name} has {y.size} labels but {src.name(x_key)} has {X.shape[0]} rows.{hint}")
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise src.error(
                key,
                f"{name} must hold integer labels. Got {y[i].item()!r} at index {i} "
                f"({int(bad.sum())} non-integer label(s) in all).",
            )
    elif y.dtype.kind not in "iu":
        raise src.error(key, f"{name} must hold integer labels. Got dtype {y.dtype} instead.")
    bad = outside(np.unique(y))
    if len(bad):
        got = [int(v) for v in bad[:5]]
        raise src.error(key, f"{name} must hold {rule} only. Got {got}{' ...' if len(bad) > 5 else ''} too.")
    return y.astype(np.int64)


# ----------------------------------------------------------------- loaders
def load_digits(test_size: float = 0.25, seed: int | None = 0, standardize: bool = True) -> Dataset:
    """Return scikit-learn's 8x8 handwritten digits (1797 images, 64 features, 10 classes).

    Parameters
    ----------
    test_size : float in (0, 1), default 0.25
        Fraction of the samples in the test set (rounded up, as scikit-learn does).
    seed : int, numpy Generator or random.Random, optional
        Seed of the shuffle before the split.
    standardize : bool, default True
        Centre and scale each feature by the training set's mean and std;
        otherwise pixels are scaled to [0, 1].

    Returns
    -------
    Dataset

    Examples
    --------
    >>> load_digits()
    Dataset(name='digits', train=1347x64, test=450x64, num_classes=10)
    """
    from sklearn.datasets import load_digits as sk_load_digits

    test_size = _check_test_size(test_size, "load_digits", 1797)
    X, y = sk_load_digits(return_X_y=True)
    parts = _split(X / 16.0, y, test_size, seed)
    return _make("digits", *parts, standardize=standardize, num_classes=10)


def load_madelon(path: str | os.PathLike | None = None, standardize: bool = True) -> Dataset:
    """Return Madelon (NIPS 2003): 2000 training and 600 test samples, 500 features, 2 classes.

    Reads ``madelon.npz`` (arrays ``X_train`` and ``X_valid`` of 500 columns,
    ``y_train`` and ``y_valid`` in {-1, +1}). The official test labels are not public,
    so the validation split is the test set. Labels become {0, 1}.

    Parameters
    ----------
    path : str or path-like, optional
        The file or the folder that holds ``madelon.npz``. Default: see
        :func:`dagnet.data.find_data_file`.
    standardize : bool, default True
        Centre and scale each feature by the training set's mean and std.

    Raises
    ------
    FileNotFoundError
        If the file is missing (the message says where it looked).
    FileFormatError
        A ``ValueError``: if the file is not an ``.npz`` archive of numeric
        arrays or lacks an array, an ``X`` is not ``(n, 500)`` (a transposed
        one is named so) or holds NaN or infinite values, a ``y`` has not one
        label per row of its ``X``, or a label is not -1 or +1. The message
        names the file and the array.

    Examples
    --------
    >>> import tempfile
    >>> folder, rng = tempfile.mkdtemp(), np.random.default_rng(0)
    >>> np.savez(os.path.join(folder, "madelon.npz"), X_train=rng.integers(0, 999, (8, 500)),
    ...          y_train=np.array([-1, 1] * 4), X_valid=rng.integers(0, 999, (4, 500)),
    ...          y_valid=np.array([1, -1, 1, 1]))
    >>> load_madelon(folder)
    Dataset(name='madelon', train=8x500, test=4x500, num_classes=2)
    >>> load_madelon()  # doctest: +SKIP
    Dataset(name='madelon', train=2000x500, test=600x500, num_classes=2)
    """
    file = find_data_file("madelon.npz", path, what="madelon", func="load_madelon")
    d = _npz(file, ("X_train", "y_train", "X_valid", "y_valid"), "madelon")
    src, y01 = _Source(file), {}
    for split in ("train", "valid"):
        X = _check_samples(src, f"X_{split}", d[f"X_{split}"], "Madelon", num_features=MADELON_FEATURES)
        y = _check_labels(
            src, f"y_{split}", d[f"y_{split}"], f"X_{split}", X, "-1 and +1", lambda v: np.setdiff1d(v, [-1, 1])
        )
        d[f"X_{split}"], y01[split] = X, (y > 0).astype(np.int64)
    return _make(
        "madelon", d["X_train"], y01["train"], d["X_valid"], y01["valid"], standardize=standardize, num_classes=2
    )


def load_coil20(
    path: str | os.PathLike | None = None, test_size: float = 0.25, seed: int | None = 0, standardize: bool = False
) -> Dataset:
    """Return COIL-20: 1440 grey 32x32 images (1024 features in [0, 1]) of 20 objects.

    Reads ``coil20.npz`` (arrays ``X`` of 1024 columns and ``y``, labels
    0..19) and splits it at random. ``num_classes`` is always 20.

    Parameters
    ----------
    path : str or path-like, optional
        The file or the folder that holds ``coil20.npz``. Default: see
        :func:`dagnet.data.find_data_file`.
    test_size : float in (0, 1), default 0.25
        Fraction of the samples in the test set (rounded up).
    seed : int, numpy Generator or random.Random, optional
        Seed of the shuffle before the split.
    standardize : bool, default False
        Centre and scale each feature by the training statistics. Off by
        default: the pixels are already in [0, 1], the scale of the published
        SET-RBM reconstruction errors.

    Raises
    ------
    FileNotFoundError
        If the file is missing (the message says where it looked).
    FileFormatError
        A ``ValueError``: if the file is not an ``.npz`` archive of numeric
        arrays or lacks ``X`` or ``y``, ``X`` is not ``(n, 1024)`` (a
        transposed one is named so) or holds NaN or infinite values, ``y`` has
        not one label per row of ``X``, or a label is not an integer in
        0 .. 19. The message names the file and the array.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> np.savez(os.path.join(folder, "coil20.npz"), X=np.zeros((8, 1024), np.float32), y=np.arange(8) % 2)
    >>> load_coil20(folder, test_size=0.25)
    Dataset(name='coil20', train=6x1024, test=2x1024, num_classes=20)
    >>> load_coil20()  # doctest: +SKIP
    Dataset(name='coil20', train=1080x1024, test=360x1024, num_classes=20)
    """
    file = find_data_file("coil20.npz", path, what="coil20", func="load_coil20")
    d = _npz(file, ("X", "y"), "coil20")
    src = _Source(file)
    X = _check_samples(src, "X", d["X"], "COIL-20", num_features=COIL20_FEATURES)
    y = _check_labels(
        src, "y", d["y"], "X", X, f"the labels 0 .. {COIL20_CLASSES - 1}", lambda v: v[(v < 0) | (v >= COIL20_CLASSES)]
    )
    test_size = _check_test_size(test_size, "load_coil20", len(y))
    parts = _split(X, y, test_size, seed)
    return _make("coil20", *parts, standardize=standardize, num_classes=COIL20_CLASSES)


# ----------------------------------------------------------------- MNIST
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Return the array stored in an IDX file (the MNIST format), gzipped or not.

    The header is two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B
    int16, 0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions,
    then each dimension as a big-endian uint32; the values follow, big-endian.

    Gzip is recognised by its magic number, so the file's name does not matter.

    Raises
    ------
    FileFormatError
        A ``ValueError``: if the file is a damaged gzip file, the header is
        not an IDX header, or the file is shorter or longer than its header
        says (the message names the file).

    Examples
    --------
    >>> import tempfile
    >>> file = os.path.join(tempfile.mkdtemp(), "x-idx2-ubyte")
    >>> with open(file, "wb") as f:
    ...     _ = f.write(bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]))
    >>> read_idx(file).tolist()
    [[1, 2, 3], [4, 5, 6]]
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":  # gzip's magic number, whatever the file's name
            raw = gzip.decompress(raw)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise FileFormatError(
            f"{path} is a damaged gzip file ({type(err).__name__}: {err}); fetch it again.", path
        ) from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise FileFormatError(
            f"{path} is not an IDX file: its first bytes are {raw[:4].hex()} "
            "(expected 00 00, a type code and the number of dimensions, at least 1).",
            path,
        )
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise FileFormatError(
            f"{path} is truncated: its header announces {ndim} dimensions ({4 + 4 * ndim} "
            f"header bytes), but the file has {len(raw)} bytes.",
            path,
        )
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = 4 + 4 * ndim + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise FileFormatError(
            f"{path}: the header announces shape {shape} of {dtype.name}, {expected} bytes "
            f"in all, but the file has {len(raw)} bytes"
            f"{' (truncated)' if len(raw) < expected else ''}.",
            path,
        )
    return np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem.replace("-idx", ".idx")):
        for suffix in ("", ".gz"):
            if (folder / (name + suffix)).is_file():
                return folder / (name + suffix)
    return None


def load_mnist(path: str | os.PathLike) -> Dataset:
    """Return MNIST (or any data set in its format) from the files at ``path``; nothing is downloaded.

    ``path`` is an ``mnist.npz`` file (arrays ``x_train``, ``y_train``,
    ``x_test``, ``y_test``, as Keras stores it), or a folder holding either
    that file or the four IDX files ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
    ``t10k-labels-idx1-ubyte`` (gzipped or not; ``.idx`` for ``-idx`` also
    accepted). Images are flattened and scaled to [0, 1] (divided by 255);
    ``num_classes`` is the largest label + 1.

    Raises
    ------
    FileNotFoundError
        If neither form is found (the message names the files looked for).
    FileFormatError
        A ``ValueError``: if a file is damaged, the test images' shape
        differs from the training images', an image array holds NaN or
        infinite values, a label array has not one label per image, or a label
        is not an integer >= 0. The message names the file and the array.

    Examples
    --------
    >>> import tempfile
    >>> file = os.path.join(tempfile.mkdtemp(), "mnist.npz")
    >>> img = np.zeros((6, 28, 28), np.uint8)
    >>> np.savez(file, x_train=img, y_train=np.arange(6), x_test=img[:2], y_test=np.array([9, 0]))
    >>> load_mnist(file)
    Dataset(name='mnist', train=6x784, test=2x784, num_classes=10)
    """
    path = Path(path)
    npz = path / "mnist.npz" if path.is_dir() else path
    if npz.is_file():
        d = _npz(npz, ("x_train", "y_train", "x_test", "y_test"), "MNIST")
        arrays = [d["x_train"], d["y_train"], d["x_test"], d["y_test"]]
        src = _Source(npz)
    elif path.is_dir() and all(_find_idx(path, s) for s in _MNIST_FILES.values()):
        files = {key: _find_idx(path, stem) for key, stem in _MNIST_FILES.items()}
        arrays = [read_idx(file) for file in files.values()]
        src = _Source(files=files)
    else:
        raise FileNotFoundError(
            f"No MNIST data at {str(path)!r} (the 'path' given to load_mnist): expected an mnist.npz "
            f"file, or a folder holding mnist.npz or the IDX files {', '.join(_MNIST_FILES.values())} "
            "(optionally .gz). dagnet downloads nothing: fetch the files once and pass their folder."
        )
    X_train, y_train, X_test, y_test = arrays
    X_train = _check_samples(src, "x_train", X_train, "MNIST")
    X_test = _check_samples(src, "x_test", X_test, "MNIST", sample_shape=X_train.shape[1:])
    y_train, y_test = (
        _check_labels(src, k, y, x, X, "labels >= 0", lambda v: v[v < 0])
        for k, y, x, X in (("y_train", y_train, "x_train", X_train), ("y_test", y_test, "x_test", X_test))
    )
    return _make("mnist", X_train / 255.0, y_train, X_test / 255.0, y_test, standardize=False)
