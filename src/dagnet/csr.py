"""Compressed sparse row (CSR) index arrays, built in linear time."""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["group_by", "csr"]


@numba.njit(cache=True)
def _counting_sort(keys, n):  # pragma: no cover - compiled
    ptr = np.zeros(n + 1, dtype=np.int64)
    for k in keys:
        ptr[k + 1] += 1
    for i in range(n):
        ptr[i + 1] += ptr[i]
    fill = ptr[:-1].copy()
    perm = np.empty(keys.size, dtype=np.int64)
    for e in range(keys.size):
        k = keys[e]
        perm[fill[k]] = e
        fill[k] += 1
    return ptr, perm


def group_by(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(ptr, perm)`` grouping positions by integer key, stably.

    ``perm[ptr[k]:ptr[k + 1]]`` are the positions ``e`` with ``keys[e] == k``, in
    increasing order. Linear time (a counting sort).

    Examples
    --------
    >>> ptr, perm = group_by(np.array([2, 0, 2]), 3)
    >>> ptr.tolist(), perm.tolist()
    ([0, 1, 1, 3], [1, 0, 2])
    """
    keys = np.ascontiguousarray(keys, dtype=np.int64)
    return _counting_sort(keys, int(n))


@numba.njit(cache=True)
def _csr(rows, cols, n, m):  # pragma: no cover - compiled
    # Stable counting sort by column, then by row: rows end up sorted by column.
    cptr = np.zeros(m + 1, dtype=np.int64)
    for c in cols:
        cptr[c + 1] += 1
    for i in range(m):
        cptr[i + 1] += cptr[i]
    by_col = np.empty(cols.size, dtype=np.int64)
    for e in range(cols.size):
        c = cols[e]
        by_col[cptr[c]] = e
        cptr[c] += 1
    ptr = np.zeros(n + 1, dtype=np.int64)
    for r in rows:
        ptr[r + 1] += 1
    for i in range(n):
        ptr[i + 1] += ptr[i]
    fill = ptr[:-1].copy()
    perm = np.empty(rows.size, dtype=np.int64)
    col = np.empty(rows.size, dtype=np.int64)
    for k in range(by_col.size):
        e = by_col[k]
        r = rows[e]
        perm[fill[r]] = e
        col[fill[r]] = cols[e]
        fill[r] += 1
    return ptr, col, perm


def csr(rows: np.ndarray, cols: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(ptr, col, perm)``: the entries grouped by row, each row sorted by column.

    ``perm`` maps CSR position to the original entry index. Linear time (two
    stable counting sorts).

    Examples
    --------
    >>> ptr, col, perm = csr(np.array([1, 0, 1]), np.array([2, 1, 0]), 2)
    >>> ptr.tolist(), col.tolist(), perm.tolist()
    ([0, 1, 3], [1, 0, 2], [1, 2, 0])
    """
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    m = int(max(n, int(cols.max()) + 1 if cols.size else 0))
    return _csr(rows, cols, int(n), m)
