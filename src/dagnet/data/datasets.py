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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..seeding import numpy_rng
from .paths import find_data_file

__all__ = ["Dataset", "load_digits", "load_madelon", "load_coil20", "load_mnist", "read_idx"]


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
    ValueError
        If the shapes or dtypes disagree (the message gives them).

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
        for split in ("train", "test"):
            X, y = getattr(self, f"X_{split}"), getattr(self, f"y_{split}")
            if X.dtype != torch.float32 or y.dtype != torch.int64:
                raise ValueError(f"Dataset {self.name!r}: X_{split} must be float32 and y_{split} int64. "
                                 f"Got {X.dtype} and {y.dtype} instead.")
            if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
                raise ValueError(f"Dataset {self.name!r}: X_{split} must be 2-D and y_{split} 1-D with as "
                                 f"many rows. Got shapes {tuple(X.shape)} and {tuple(y.shape)} instead.")
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise ValueError(f"Dataset {self.name!r}: train and test have {self.X_train.shape[1]} and "
                             f"{self.X_test.shape[1]} features.")

    @property
    def num_features(self) -> int:
        """Columns of ``X_train`` (and ``X_test``)."""
        return int(self.X_train.shape[1])

    def __repr__(self) -> str:
        (n, d), m = self.X_train.shape, self.X_test.shape[0]
        return (f"Dataset(name={self.name!r}, train={n}x{d}, test={m}x{d}, "
                f"num_classes={self.num_classes})")


# ----------------------------------------------------------------- helpers
def _check_test_size(test_size, func: str, n: int) -> float:
    ok = isinstance(test_size, numbers.Real) and not isinstance(test_size, bool) and 0 < test_size < 1
    if not ok:
        raise ValueError(f"The 'test_size' parameter of {func} must be a float in the range (0, 1). "
                         f"Got {test_size!r} instead.")
    n_test = math.ceil(test_size * n)
    if n_test >= n:
        raise ValueError(f"The 'test_size' parameter of {func} leaves no training sample "
                         f"({n_test} of {n} go to the test set). Got {test_size!r} instead.")
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


def _make(name: str, X_train, y_train, X_test, y_test, standardize: bool,
          num_classes: int | None = None) -> Dataset:
    X_train = np.asarray(X_train, dtype=np.float64).reshape(len(y_train), -1)
    X_test = np.asarray(X_test, dtype=np.float64).reshape(len(y_test), -1)
    if standardize:
        X_train, X_test = _standardize(X_train, X_test)
    y_train, y_test = np.asarray(y_train, np.int64), np.asarray(y_test, np.int64)
    if num_classes is None:
        num_classes = int(max(y_train.max(initial=-1), y_test.max(initial=-1))) + 1
    as_t = lambda a, dt: torch.from_numpy(np.ascontiguousarray(a, dtype=dt))  # noqa: E731
    return Dataset(as_t(X_train, np.float32), as_t(y_train, np.int64), as_t(X_test, np.float32),
                   as_t(y_test, np.int64), name, num_classes)


def _npz(file: Path, keys: tuple[str, ...], what: str) -> dict:
    with np.load(file) as data:
        missing = [k for k in keys if k not in data.files]
        if missing:
            raise ValueError(f"{file} is not a {what} file: missing array(s) {', '.join(missing)}; "
                             f"expected {', '.join(keys)} (it has {', '.join(data.files) or 'none'}).")
        return {k: data[k] for k in keys}


# ----------------------------------------------------------------- loaders
def load_digits(test_size: float = 0.25, seed: int | None = 0, standardize: bool = True) -> Dataset:
    """Return scikit-learn's 8x8 handwritten digits (1797 images, 64 features, 10 classes).

    Parameters
    ----------
    test_size : float in (0, 1), default 0.25
        Fraction of the samples in the test set (rounded up, as scikit-learn does).
    seed : int, optional
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

    Reads ``madelon.npz`` (arrays ``X_train``, ``y_train``, ``X_valid``,
    ``y_valid``; labels in {-1, +1}). The official test labels are not public,
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
    ValueError
        If the file lacks an array or has labels other than -1 and +1.

    Examples
    --------
    >>> import tempfile
    >>> folder, rng = tempfile.mkdtemp(), np.random.default_rng(0)
    >>> np.savez(os.path.join(folder, "madelon.npz"), X_train=rng.integers(0, 999, (8, 5)),
    ...          y_train=np.array([-1, 1] * 4), X_valid=rng.integers(0, 999, (4, 5)),
    ...          y_valid=np.array([1, -1, 1, 1]))
    >>> load_madelon(folder)
    Dataset(name='madelon', train=8x5, test=4x5, num_classes=2)
    >>> load_madelon()  # doctest: +SKIP
    Dataset(name='madelon', train=2000x500, test=600x500, num_classes=2)
    """
    file = find_data_file("madelon.npz", path, what="madelon", func="load_madelon")
    d = _npz(file, ("X_train", "y_train", "X_valid", "y_valid"), "madelon")
    for key in ("y_train", "y_valid"):
        bad = np.setdiff1d(d[key], [-1, 1])
        if bad.size:
            raise ValueError(f"{file}: {key} must hold -1 and +1 only. Got {bad[:5].tolist()} too.")
    to01 = lambda y: (np.asarray(y) > 0).astype(np.int64)  # noqa: E731
    return _make("madelon", d["X_train"], to01(d["y_train"]), d["X_valid"], to01(d["y_valid"]),
                 standardize=standardize, num_classes=2)


def load_coil20(path: str | os.PathLike | None = None, test_size: float = 0.25, seed: int | None = 0,
                standardize: bool = False) -> Dataset:
    """Return COIL-20: 1440 grey 32x32 images (1024 features in [0, 1]) of 20 objects.

    Reads ``coil20.npz`` (arrays ``X`` and ``y``, labels 0..19) and splits it
    at random.

    Parameters
    ----------
    path : str or path-like, optional
        The file or the folder that holds ``coil20.npz``. Default: see
        :func:`dagnet.data.find_data_file`.
    test_size : float in (0, 1), default 0.25
        Fraction of the samples in the test set (rounded up).
    seed : int, optional
        Seed of the shuffle before the split.
    standardize : bool, default False
        Centre and scale each feature by the training statistics. Off by
        default: the pixels are already in [0, 1], the scale of the published
        SET-RBM reconstruction errors.

    Raises
    ------
    FileNotFoundError
        If the file is missing (the message says where it looked).

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> np.savez(os.path.join(folder, "coil20.npz"), X=np.zeros((8, 4), np.float32), y=np.arange(8) % 2)
    >>> load_coil20(folder, test_size=0.25)
    Dataset(name='coil20', train=6x4, test=2x4, num_classes=2)
    >>> load_coil20()  # doctest: +SKIP
    Dataset(name='coil20', train=1080x1024, test=360x1024, num_classes=20)
    """
    file = find_data_file("coil20.npz", path, what="coil20", func="load_coil20")
    d = _npz(file, ("X", "y"), "coil20")
    test_size = _check_test_size(test_size, "load_coil20", len(d["y"]))
    parts = _split(d["X"], d["y"], test_size, seed)
    return _make("coil20", *parts, standardize=standardize)


# ----------------------------------------------------------------- MNIST
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_MNIST_FILES = {
    "X_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
    "X_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte",
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Return the array stored in an IDX file (the MNIST format), gzipped or not.

    The header is two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B
    int16, 0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions,
    then each dimension as a big-endian uint32; the values follow, big-endian.

    Raises
    ------
    ValueError
        If the header is not an IDX header or the size disagrees with it.

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
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file: its first bytes are {raw[:4].hex()} "
                         "(expected 00 00, a type code and the number of dimensions).")
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = 4 + 4 * ndim + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: the header announces shape {shape} of {dtype.name}, {expected} bytes "
                         f"in all, but the file has {len(raw)} bytes.")
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
    elif path.is_dir() and all(_find_idx(path, s) for s in _MNIST_FILES.values()):
        arrays = [read_idx(_find_idx(path, stem)) for stem in _MNIST_FILES.values()]
    else:
        raise FileNotFoundError(
            f"No MNIST data at {str(path)!r} (the 'path' given to load_mnist): expected an mnist.npz "
            f"file, or a folder holding mnist.npz or the IDX files {', '.join(_MNIST_FILES.values())} "
            "(optionally .gz). dagnet downloads nothing: fetch the files once and pass their folder."
        )
    X_train, y_train, X_test, y_test = arrays
    return _make("mnist", X_train / 255.0, y_train, X_test / 255.0, y_test, standardize=False)
