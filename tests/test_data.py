"""dagnet.data: loaders on the real files and on tiny files written here, batches, the path lookup."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from dagnet.data import (
    Dataset,
    batches,
    find_data_file,
    load_coil20,
    load_digits,
    load_madelon,
    load_mnist,
    read_idx,
)


def test_digits_split_sizes_types_and_standardisation():
    ds = load_digits()
    assert (ds.X_train.shape, ds.X_test.shape) == ((1347, 64), (450, 64))
    assert ds.X_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.num_classes == 10 and set(ds.y_test.tolist()) == set(range(10))
    used = ds.X_train.std(0) > 0  # pixels that are not constant in the training set
    assert torch.allclose(ds.X_train.mean(0), torch.zeros(64), atol=1e-5)
    assert torch.allclose(ds.X_train.std(0, unbiased=False)[used], torch.ones(int(used.sum())), atol=1e-4)
    raw = load_digits(standardize=False)
    assert float(raw.X_train.min()) == 0.0 and float(raw.X_train.max()) == 1.0


def test_digits_is_reproducible_and_seed_dependent():
    a, b, c = load_digits(seed=3), load_digits(seed=3), load_digits(seed=4)
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_train, c.y_train)
    small = load_digits(test_size=0.1)
    assert small.X_test.shape[0] == 180  # ceil(0.1 * 1797)


@pytest.mark.parametrize("bad", [0, 1.0, -0.5, "0.2", True])
def test_test_size_is_validated(bad):
    message = r"The 'test_size' parameter of load_digits must be a float in \(0, 1\)"
    with pytest.raises(ValueError, match=message):
        load_digits(test_size=bad)


def test_madelon_shapes_labels_and_training_statistics(data_dir):
    ds = load_madelon(data_dir)
    assert (ds.X_train.shape, ds.X_test.shape) == ((2000, 500), (600, 500))
    assert ds.num_classes == 2
    assert set(ds.y_train.tolist()) == {0, 1} and set(ds.y_test.tolist()) == {0, 1}
    raw = np.load(data_dir / "madelon.npz")
    assert torch.equal(ds.y_test, torch.from_numpy((raw["y_valid"] > 0).astype(np.int64)))
    assert float(ds.X_train.mean(0).abs().max()) < 1e-4  # centred by the training mean ...
    assert float(ds.X_test.mean(0).abs().max()) > 1e-3  # ... which is not the test mean
    same = load_madelon(data_dir / "madelon.npz")  # the file itself works as well as its folder
    assert torch.equal(same.X_test, ds.X_test)


def test_coil20_shapes_and_labels(data_dir):
    ds = load_coil20(data_dir)
    assert (ds.X_train.shape, ds.X_test.shape) == ((1080, 1024), (360, 1024))
    assert ds.num_classes == 20
    labels = torch.cat([ds.y_train, ds.y_test])
    assert int(labels.min()) == 0 and int(labels.max()) == 19
    assert torch.equal(torch.bincount(labels), torch.full((20,), 72))
    assert float(ds.X_train.min()) >= 0.0 and float(ds.X_train.max()) <= 1.0
    assert not torch.equal(load_coil20(data_dir, seed=1).y_test, ds.y_test)


def test_default_folder_comes_from_dagnet_data(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("DAGNET_DATA", str(data_dir))
    assert load_madelon().X_train.shape == (2000, 500)
    monkeypatch.setenv("DAGNET_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        load_coil20()
    message = str(info.value)
    assert "coil20.npz" in message and str(tmp_path) in message
    assert "DAGNET_DATA" in message and "path=" in message


def test_missing_file_given_as_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="No madelon file at .*nope.npz.*load_madelon"):
        load_madelon(tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError, match="No coil20 file at .*coil20.npz"):
        load_coil20(tmp_path)  # a folder without the file
    with pytest.raises(FileNotFoundError, match="No MNIST data at .*downloads nothing"):
        load_mnist(tmp_path)


def test_find_data_file_prefers_the_given_path(tmp_path, monkeypatch):
    (tmp_path / "a.csv").write_text("x")
    monkeypatch.setenv("DAGNET_DATA", str(tmp_path))
    assert find_data_file("a.csv") == tmp_path / "a.csv"
    other = tmp_path / "sub"
    other.mkdir()
    (other / "a.csv").write_text("y")
    assert find_data_file("a.csv", other) == other / "a.csv"


def test_madelon_rejects_other_labels(tmp_path):
    X = np.zeros((4, 500), np.int16)
    np.savez(tmp_path / "madelon.npz", X_train=X, y_train=np.array([-1, 1, 0, 1]), X_valid=X, y_valid=np.ones(4))
    with pytest.raises(ValueError, match=r"y_train must hold -1 and \+1 only. Got \[0\]"):
        load_madelon(tmp_path)
    np.savez(tmp_path / "madelon.npz", X_train=X, y_train=np.ones(4))
    with pytest.raises(ValueError, match="missing array\\(s\\) X_valid, y_valid"):
        load_madelon(tmp_path)


def _write_idx(path, array: np.ndarray, gz: bool = False) -> None:
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[array.dtype]
    raw = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(raw)


def _tiny_mnist(seed: int = 0):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 5).astype(np.uint8),
        rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        np.array([9, 0, 4], np.uint8),
    )


def test_mnist_idx_round_trip(tmp_path):
    xtr, ytr, xte, yte = _tiny_mnist()
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", xtr, gz=True)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", ytr)
    _write_idx(tmp_path / "t10k-images.idx3-ubyte", xte)  # the dotted spelling of some mirrors
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", yte, gz=True)
    ds = load_mnist(tmp_path)
    assert (ds.X_train.shape, ds.X_test.shape) == ((5, 784), (3, 784))
    assert torch.equal(ds.X_train, torch.from_numpy(xtr.reshape(5, -1) / np.float32(255)))
    assert ds.y_train.tolist() == ytr.tolist() and ds.y_test.tolist() == [9, 0, 4]
    assert ds.num_classes == 10


def test_read_idx_other_types_and_bad_files(tmp_path):
    ints = np.array([[-5, 70000], [3, 0]], dtype=">i4")
    _write_idx(tmp_path / "ints", ints)
    back = read_idx(tmp_path / "ints")
    assert back.tolist() == ints.tolist() and back.dtype == np.int32
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="is not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 4, 1, 2]))
    with pytest.raises(ValueError, match=r"shape \(4,\) of uint8, 12 bytes in all, but the file has 10"):
        read_idx(tmp_path / "short")


def test_mnist_npz_file_or_folder(tmp_path):
    xtr, ytr, xte, yte = _tiny_mnist(1)
    np.savez(tmp_path / "mnist.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    a, b = load_mnist(tmp_path / "mnist.npz"), load_mnist(tmp_path)
    assert torch.equal(a.X_test, b.X_test)
    assert float(a.X_test.max()) <= 1.0 and torch.equal(a.X_test[0] * 255, torch.from_numpy(xte[0].ravel()).float())


def test_batches_cover_everything_once_and_are_reproducible():
    X, y = torch.arange(20.0).reshape(10, 2), torch.arange(10)
    first = [yb for _, yb in batches(X, y, 3, seed=5)]
    assert [len(b) for b in first] == [3, 3, 3, 1]
    assert sorted(torch.cat(first).tolist()) == list(range(10))
    assert torch.equal(torch.cat(first), torch.cat([yb for _, yb in batches(X, y, 3, seed=5)]))
    for xb, yb in batches(X, y, 4, seed=5):
        assert torch.equal(xb[:, 0], 2.0 * yb)  # rows stay paired with their labels
    gen = torch.Generator().manual_seed(5)
    epoch1 = torch.cat([yb for _, yb in batches(X, y, 3, seed=gen)])
    epoch2 = torch.cat([yb for _, yb in batches(X, y, 3, seed=gen)])
    assert torch.equal(epoch1, torch.cat(first)) and not torch.equal(epoch1, epoch2)


def test_batches_and_dataset_validate():
    X, y = torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64)
    with pytest.raises(ValueError, match="The 'batch_size' parameter of batches must be an int >= 1. Got 0 instead."):
        next(batches(X, y, 0))
    with pytest.raises(ValueError, match="as many rows. Got 4 and 3"):
        next(batches(X, y[:3], 2))
    with pytest.raises(ValueError, match="y_train int64. Got torch.float32 and torch.float32"):
        Dataset(X, y.float(), X, y, "bad", 2)
    with pytest.raises(ValueError, match=r"Got shapes \(4, 2\) and \(3,\)"):
        Dataset(X, y, X, y[:3], "bad", 2)
