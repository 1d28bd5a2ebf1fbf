"""Data sets as torch tensors, and reproducible mini-batches; nothing is ever downloaded.

Examples
--------
>>> from dagnet import data
>>> ds = data.load_digits(seed=0)
>>> xb, yb = next(data.batches(ds.X_train, ds.y_train, 32, seed=0))
>>> xb.shape, yb.dtype
(torch.Size([32, 64]), torch.int64)
"""

from .batching import batches, num_batches
from .datasets import Dataset, load_coil20, load_digits, load_madelon, load_mnist, read_idx
from .paths import data_folders, find_data_file

__all__ = [
    "Dataset",
    "load_digits",
    "load_madelon",
    "load_coil20",
    "load_mnist",
    "read_idx",
    "batches",
    "num_batches",
    "find_data_file",
    "data_folders",
]
