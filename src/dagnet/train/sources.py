"""Where fit's batches come from: a :class:`~dagnet.data.Dataset`, or a pair of the user's own loaders."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

from ..data.batching import batches, num_batches
from ..data.datasets import Dataset

__all__ = ["DatasetSource", "LoaderSource", "as_source", "is_source"]


class DatasetSource:
    """A Dataset: copied to the device once, shuffled each epoch by fit's own generator, in ``batch_size`` batches."""

    def __init__(self, data: Dataset, batch_size: int, device: torch.device, classes: bool):
        self.data, self.batch_size, self.device = data, batch_size, device
        self.name = data.name
        self.X_train, self.y_train = data.X_train.to(device), data.y_train.to(device)  # once: no copy per batch
        self.X_test, self.y_test = data.X_test.to(device), data.y_test.to(device)
        self.top_label = int(max(data.y_train.max(), data.y_test.max())) if classes else None
        self.num_batches = num_batches(data.X_train.shape[0], batch_size)

    def train_batches(self, epoch: int, gen: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of one epoch on the device, in the order :func:`~dagnet.data.batches` draws from ``gen``.

        On the CPU they are :func:`~dagnet.data.batches`'s. Elsewhere only the
        order crosses, once per epoch (from pinned memory, without waiting, on
        CUDA), and each batch is gathered there.
        """
        X, y, device = self.X_train, self.y_train, self.device
        if device.type == "cpu":
            yield from batches(X, y, self.batch_size, seed=gen)
            return
        order = torch.randperm(X.shape[0], generator=gen)
        order = (order.pin_memory() if device.type == "cuda" else order).to(device, non_blocking=True)
        for start in range(0, X.shape[0], self.batch_size):
            idx = order[start : start + self.batch_size]
            yield X.index_select(0, idx), y.index_select(0, idx)

    def test_batches(self, batch_size: int = 1024) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        yield from batches(self.X_test, self.y_test, batch_size, shuffle=False)


class LoaderSource:
    """A pair ``(train, test)`` of iterables of ``(x, y)`` batches (e.g. DataLoaders), each moved to the device.

    fit does not shuffle them: the loader's own sampler does. Before each
    epoch a sampler with ``set_epoch`` (e.g. ``DistributedSampler``) is told
    the epoch, so that its shuffle differs per epoch and repeats on resume.
    """

    def __init__(self, train: Iterable, test: Iterable, device: torch.device):
        self.train, self.test, self.device = train, test, device
        self.name = type(train).__name__
        self.top_label = None
        self.num_batches = len(train) if hasattr(train, "__len__") else None

    def _moved(self, loader: Iterable) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for b, item in enumerate(loader, 1):
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise ValueError(
                    f"fit's loaders must yield (x, y) pairs; batch {b} of {self.name} is a {type(item).__name__}."
                )
            x, y = item
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def train_batches(self, epoch: int, gen: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        sampler = getattr(self.train, "sampler", None)
        if callable(getattr(sampler, "set_epoch", None)):
            sampler.set_epoch(epoch)
        return self._moved(self.train)

    def test_batches(self, batch_size: int = 1024) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self._moved(self.test)


def is_source(data) -> bool:
    """Whether ``data`` is what fit takes: a Dataset, or a pair ``(train, test)`` of iterables of batches."""
    if isinstance(data, Dataset):
        return True
    pair = isinstance(data, (tuple, list)) and len(data) == 2
    return pair and all(hasattr(d, "__iter__") and not isinstance(d, (torch.Tensor, str, bytes)) for d in data)


def as_source(data, batch_size: int, device: torch.device, classes: bool):
    """Return the source of ``data`` (see :func:`is_source`), its tensors on ``device``."""
    if isinstance(data, Dataset):
        return DatasetSource(data, batch_size, device, classes)
    return LoaderSource(*data, device)
