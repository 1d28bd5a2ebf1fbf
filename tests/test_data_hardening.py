"""dagnet.data refuses damaged data files: wrong shapes and lengths, NaN cells, bad labels, truncated files.

Each case copies the real arrays of a shared file (through the ``data_dir``
fixture), damages one of them, and checks that the loader names the file and
the array instead of scrambling rows, dropping samples or changing the classes.
"""

from __future__ import annotations

import gzip
import re
import struct

import numpy as np
import pytest
import torch

from dagnet.data import Dataset, load_coil20, load_madelon, load_mnist, read_idx
from dagnet.errors import FileFormatError


def _copy(data_dir, name, tmp_path, **changes):
    """Write ``tmp_path/name``: the shared file's arrays with ``changes`` applied; return its path."""
    with np.load(data_dir / name) as real:
        arrays = {k: real[k] for k in real.files}
    arrays.update(changes)
    np.savez(tmp_path / name, **arrays)
    return tmp_path / name


def _raises(loader, file, *parts):
    """``loader(file)`` must raise a FileFormatError on ``file``, its message starting so and holding ``parts``."""
    with pytest.raises(FileFormatError) as info:
        loader(file)
    assert info.value.path == file and isinstance(info.value, ValueError)
    message = str(info.value)
    assert message.startswith(f"{file}: "), message
    for part in parts:
        assert part in message, message
    return message


@pytest.fixture(scope="module")
def madelon(data_dir):
    with np.load(data_dir / "madelon.npz") as real:
        return {k: real[k] for k in real.files}


@pytest.fixture(scope="module")
def coil(data_dir):
    with np.load(data_dir / "coil20.npz") as real:
        return {k: real[k] for k in real.files}


# ----------------------------------------------------------------- Madelon
def test_madelon_transposed_features_are_named(data_dir, tmp_path, madelon):
    file = _copy(data_dir, "madelon.npz", tmp_path, X_train=madelon["X_train"].T)
    _raises(
        load_madelon,
        file,
        "X_train has shape (500, 2000)",
        "500 features per sample",
        "It looks transposed: store X_train.T",
    )


def test_madelon_other_feature_count(data_dir, tmp_path, madelon):
    file = _copy(data_dir, "madelon.npz", tmp_path, X_valid=madelon["X_valid"][:, :499])
    message = _raises(load_madelon, file, "X_valid has shape (600, 499)", "(expected shape (n, 500))")
    assert "transposed" not in message


def test_madelon_fewer_labels_than_samples(data_dir, tmp_path, madelon):
    file = _copy(data_dir, "madelon.npz", tmp_path, y_train=madelon["y_train"][:1999])
    _raises(load_madelon, file, "y_train has 1999 labels but X_train has 2000 rows.")


def test_madelon_nan_and_inf_cells(data_dir, tmp_path, madelon):
    X = madelon["X_valid"].astype(np.float32)
    X[5, 17] = np.nan
    X[300, 2] = np.inf
    file = _copy(data_dir, "madelon.npz", tmp_path, X_valid=X)
    _raises(load_madelon, file, "X_valid has 2 NaN or infinite value(s), the first at index (5, 17) (nan)")


def test_madelon_labels_must_be_minus_one_and_plus_one(data_dir, tmp_path, madelon):
    y = madelon["y_valid"].copy()
    y[[3, 9]] = [0, 2]
    file = _copy(data_dir, "madelon.npz", tmp_path, y_valid=y)
    _raises(load_madelon, file, "y_valid must hold -1 and +1 only. Got [0, 2] too.")


def test_madelon_float_labels_integral_accepted_fractional_refused(data_dir, tmp_path, madelon):
    file = _copy(data_dir, "madelon.npz", tmp_path, y_train=madelon["y_train"].astype(np.float64))
    ds = load_madelon(file)
    assert torch.equal(ds.y_train, torch.from_numpy((madelon["y_train"] > 0).astype(np.int64)))
    y = madelon["y_train"].astype(np.float64)
    y[7] = 0.5
    file = _copy(data_dir, "madelon.npz", tmp_path, y_train=y)
    _raises(load_madelon, file, "y_train must hold integer labels. Got 0.5 at index 7")
    y[7] = np.nan
    file = _copy(data_dir, "madelon.npz", tmp_path, y_train=y)
    _raises(load_madelon, file, "y_train must hold integer labels. Got nan at index 7")


def test_madelon_column_of_labels_and_string_labels(data_dir, tmp_path, madelon):
    file = _copy(data_dir, "madelon.npz", tmp_path, y_train=madelon["y_train"][:, None])
    _raises(
        load_madelon, file, "y_train must be 1-D, one label per sample. Got shape (2000, 1)", "Store y_train.ravel()."
    )
    file = _copy(data_dir, "madelon.npz", tmp_path, y_valid=madelon["y_valid"].astype(str))
    _raises(load_madelon, file, "y_valid must hold integer labels. Got dtype <U")


def test_madelon_garbage_file(tmp_path, madelon):
    file = tmp_path / "madelon.npz"
    file.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(file))} is not a madelon file: NumPy cannot read it"):
        load_madelon(file)
    labels = np.empty(2000, dtype=object)
    labels[:] = 1
    np.savez(file, **{**madelon, "y_train": labels})  # an object array needs pickle: refused, named
    with pytest.raises(ValueError, match=rf"^{re.escape(str(file))} is not a madelon file: .*allow_pickle"):
        load_madelon(file)


def test_madelon_unchanged_copy_still_loads(data_dir, tmp_path):
    file = _copy(data_dir, "madelon.npz", tmp_path)
    assert torch.equal(load_madelon(file).X_test, load_madelon(data_dir).X_test)


# ----------------------------------------------------------------- COIL-20
def test_coil20_transposed(data_dir, tmp_path, coil):
    file = _copy(data_dir, "coil20.npz", tmp_path, X=coil["X"].T)
    _raises(
        load_coil20, file, "X has shape (1024, 1440)", "COIL-20 has 1024 features per sample", "It looks transposed"
    )


def test_coil20_fewer_labels(data_dir, tmp_path, coil):
    file = _copy(data_dir, "coil20.npz", tmp_path, y=coil["y"][1:])
    _raises(load_coil20, file, "y has 1439 labels but X has 1440 rows.")


def test_coil20_labels_outside_0_to_19(data_dir, tmp_path, coil):
    for bad in (20, -1):
        y = coil["y"].copy()
        y[100] = bad
        file = _copy(data_dir, "coil20.npz", tmp_path, y=y)
        _raises(load_coil20, file, f"y must hold the labels 0 .. 19 only. Got [{bad}] too.")


def test_coil20_nan_pixel(data_dir, tmp_path, coil):
    X = coil["X"].copy()
    X[1439, 1023] = np.nan
    file = _copy(data_dir, "coil20.npz", tmp_path, X=X)
    _raises(load_coil20, file, "X has 1 NaN or infinite value(s), the first at index (1439, 1023)")


def test_coil20_has_twenty_classes_whatever_the_labels_present(tmp_path):
    np.savez(tmp_path / "coil20.npz", X=np.zeros((8, 1024), np.float32), y=np.array([0, 1] * 4))
    assert load_coil20(tmp_path).num_classes == 20
    np.savez(tmp_path / "coil20.npz", X=np.zeros((8, 1024), np.float32), y=np.arange(8.0) + 0.25)
    _raises(load_coil20, tmp_path / "coil20.npz", "y must hold integer labels. Got 0.25 at index 0")


# ----------------------------------------------------------------- MNIST
def _write_idx(path, array: np.ndarray) -> None:
    code = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}[array.dtype]
    path.write_bytes(bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes())


def _mnist_arrays(n_train=5, n_test=3):
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test).astype(np.uint8),
    }


def test_mnist_npz_checks(tmp_path):
    file = tmp_path / "mnist.npz"
    cases = [
        ({"y_train": np.arange(4, dtype=np.uint8)}, "y_train has 4 labels but x_train has 5 rows."),
        (
            {"x_test": np.zeros((3, 32, 32), np.uint8)},
            "x_test has samples of shape (32, 32), but the training samples have shape (28, 28).",
        ),
        ({"y_test": np.array([1, -1, 3], np.int8)}, "y_test must hold labels >= 0 only. Got [-1] too."),
        ({"x_train": np.full((5, 784), np.nan)}, "x_train has 3920 NaN or infinite value(s)"),
        ({"x_train": np.zeros(5, np.uint8)}, "x_train must hold one sample per row"),
    ]
    for change, part in cases:
        np.savez(file, **{**_mnist_arrays(), **change})
        _raises(load_mnist, file, part)
    np.savez(file, **_mnist_arrays())
    assert load_mnist(file).X_train.shape == (5, 784)


def test_mnist_idx_label_count_names_both_files(tmp_path):
    arrays = _mnist_arrays()
    arrays["y_test"] = arrays["y_test"][:2]
    names = {
        "x_train": "train-images-idx3-ubyte",
        "y_train": "train-labels-idx1-ubyte",
        "x_test": "t10k-images-idx3-ubyte",
        "y_test": "t10k-labels-idx1-ubyte",
    }
    for key, name in names.items():
        _write_idx(tmp_path / name, arrays[key])
    with pytest.raises(FileFormatError) as info:
        load_mnist(tmp_path)
    assert info.value.path == tmp_path / names["y_test"]
    assert str(info.value) == (
        f"{tmp_path / names['y_test']} (y_test) has 2 labels but {tmp_path / names['x_test']} (x_test) has 3 rows."
    )


def test_read_idx_truncated_and_garbage(tmp_path):
    file = tmp_path / "head"
    file.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 5]))
    with pytest.raises(
        FileFormatError,
        match=rf"{re.escape(str(file))} is truncated: its header announces 3 "
        r"dimensions \(16 header bytes\), but the file has 8 bytes",
    ):
        read_idx(file)
    file = tmp_path / "cut"
    file.write_bytes(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"cut: the header announces shape \(2, 3\) .* 15 bytes \(truncated\)"):
        read_idx(file)
    file = tmp_path / "zero-dims"
    file.write_bytes(bytes([0, 0, 8, 0, 7]))
    with pytest.raises(ValueError, match="zero-dims is not an IDX file"):
        read_idx(file)
    good = gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    file = tmp_path / "labels-idx1-ubyte.gz"
    file.write_bytes(good[: len(good) // 2])
    with pytest.raises(FileFormatError, match=rf"{re.escape(str(file))} is a damaged gzip file"):
        read_idx(file)
    file = tmp_path / "no-suffix"  # gzip recognised by its content, not its name
    file.write_bytes(good)
    assert read_idx(file).tolist() == [7, 8, 9]


# ----------------------------------------------------------------- Dataset
def test_dataset_refuses_non_finite_features_and_labels_outside_the_classes():
    X, y = torch.zeros(4, 2), torch.tensor([0, 1, 1, 0])
    bad = X.clone()
    bad[2, 1] = float("nan")
    with pytest.raises(
        ValueError,
        match=r"Dataset 'toy': X_test has 1 NaN or infinite value\(s\), "
        r"the first at row 2, column 1 \(nan\)",
    ):
        Dataset(X, y, bad, y, "toy", 2)
    with pytest.raises(
        ValueError,
        match=r"Dataset 'toy': y_train\[1\] is 2, outside the labels 0 \.\. 1 "
        r"\(num_classes = 2\)",
    ):
        Dataset(X, torch.tensor([0, 2, 1, 0]), X, y, "toy", 2)
    with pytest.raises(ValueError, match=r"y_test\[3\] is -1"):
        Dataset(X, y, X, torch.tensor([0, 1, 1, -1]), "toy", 2)
    for k in (0, True, 2.0):
        with pytest.raises(ValueError, match=f"num_classes must be an int >= 1. Got {k!r} instead"):
            Dataset(X, y, X, y, "toy", k)
    assert Dataset(X, y, X, y, "toy", 5).num_classes == 5  # classes absent from the data are fine


def test_dataset_refuses_arrays_that_are_not_tensors_and_empty_sets():
    X, y = torch.zeros(4, 2), torch.tensor([0, 1, 1, 0])
    with pytest.raises(
        TypeError,
        match=r"X_train must be a torch.Tensor of float32. Got a ndarray instead; pass "
        r"torch.as_tensor\(X_train, dtype=torch.float32\)",
    ):
        Dataset(X.numpy(), y, X, y, "toy", 2)
    with pytest.raises(TypeError, match=r"y_test must be a torch.Tensor of int64. Got a list instead"):
        Dataset(X, y, X, [0, 1, 1, 0], "toy", 2)
    with pytest.raises(ValueError, match=r"the test set holds no sample \(X_test has shape \(0, 2\)\)"):
        Dataset(X, y, X[:0], y[:0], "toy", 2)


@pytest.mark.parametrize(
    "load, name, arrays, key",
    [
        (
            load_madelon,
            "madelon.npz",
            {
                "X_train": np.full((8, 500), 1e39),
                "y_train": np.array([-1, 1] * 4),
                "X_valid": np.zeros((4, 500)),
                "y_valid": np.array([1, -1, 1, 1]),
            },
            "X_train",
        ),
        (load_coil20, "coil20.npz", {"X": np.full((8, 1024), -1e300), "y": np.arange(8)}, "X"),
        (load_mnist, "mnist.npz", {**_mnist_arrays(), "x_test": np.full((3, 28, 28), 1e300)}, "x_test"),
    ],
)
def test_values_beyond_float32_are_named_in_their_file_not_made_inf(tmp_path, load, name, arrays, key):
    np.savez(tmp_path / name, **arrays)
    _raises(load, tmp_path / name, f"{key} has ")
    with pytest.raises(FileFormatError, match=r"beyond the largest float32 \(3.40282e\+38\)"):
        load(tmp_path / name)
