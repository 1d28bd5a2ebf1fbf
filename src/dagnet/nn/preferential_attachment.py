"""Pre-training rewiring of a layer's weights by preferential attachment (Scabini et al. 2022)."""

from __future__ import annotations

import numpy as np
import torch

from ..seeding import numpy_rng

__all__ = ["rewire_pa_"]


def _pa_pass(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One pass over the rows of ``values``; return ``idx`` with new[r, c] = values[r, idx[r, c]].

    Each row keeps its values. Columns are "inputs": their strength ``s`` is
    the sum of the values they received from the rows done so far.
    """
    rows, cols = values.shape
    strength = np.zeros(cols)
    idx = np.empty((rows, cols), dtype=np.int64)
    for r in range(rows):
        ascending = np.argsort(values[r], kind="stable")  # most negative value first
        p = strength - strength.min() + 1.0
        # Weighted random permutation (Efraimidis-Spirakis): sort by u**(1/p), largest first,
        # i.e. by log(u) / p; u in (0, 1]. Strong columns tend to come first.
        keys = np.log1p(-rng.random(cols)) / p
        columns = np.argsort(-keys, kind="stable")
        idx[r, columns] = ascending  # the k-th column drawn gets the k-th smallest value
        strength[columns] += values[r, ascending]
    return idx


def rewire_pa_(weight: torch.Tensor, seed: int | np.random.Generator | None = None) -> torch.Tensor:
    """Reassign a 2-D weight's values in place by preferential attachment, keeping the values.

    Scabini et al.'s rewiring of a layer ``W`` of shape ``(out, in)`` before
    training, in two passes:

    1. Go through the output neurons (rows) in order, keeping the strength
       ``s_i`` of every input ``i`` (the sum of the weights it has sent to the
       rows done so far, 0 at the start). For each row, draw a weighted random
       permutation of the inputs with probabilities proportional to
       ``s - min(s) + 1`` and give the row's values, from the most negative
       up, to the inputs in that order: the strongest inputs tend to get the
       most negative weights, which evens out the strengths.
    2. Repeat on the transpose (columns in order, output strengths).

    Pass 1 keeps every row's values, pass 2 every column's: the multiset of
    all values is kept exactly, and the spread of the neurons' strengths
    (row and column sums) shrinks.

    Parameters
    ----------
    weight : Tensor, shape (out, in)
        A floating-point weight, e.g. ``linear.weight`` (a ``Parameter`` is
        fine: the change is made under ``no_grad``). For a convolution, pass
        a 2-D view such as ``conv.weight.view(conv.out_channels, -1)``.
    seed : int, numpy Generator or None
        Source of randomness; the same seed gives the same result.

    Returns
    -------
    Tensor
        ``weight`` itself, modified in place.

    Raises
    ------
    ValueError
        If ``weight`` is not a 2-D floating-point tensor.

    References
    ----------
    Scabini, L., De Baets, B., Bruno, O. M. (2022). Improving deep neural
    network random initialization through neuronal rewiring. arXiv:2207.08148.

    Examples
    --------
    >>> w = torch.arange(12.0).reshape(3, 4) - 6
    >>> before = sorted(w.flatten().tolist())
    >>> rewire_pa_(w, seed=0) is w, sorted(w.flatten().tolist()) == before
    (True, True)
    """
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2 or not weight.is_floating_point():
        got = f"a {weight.dim()}-D {weight.dtype} tensor" if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(
            f"The 'weight' parameter of rewire_pa_ must be a 2-D floating-point tensor "
            f"(out_features, in_features). Got {got} instead; for a convolution pass "
            f"weight.view(weight.shape[0], -1)."
        )
    rng = numpy_rng(seed)
    rows, cols = weight.shape
    if weight.numel() == 0:
        return weight
    values = weight.detach().to("cpu", torch.float64).numpy()  # exact for every float dtype
    idx1 = _pa_pass(values, rng)
    flat1 = np.arange(rows)[:, None] * cols + idx1  # into the original, row-major
    after1 = np.take_along_axis(values, idx1, axis=1)
    idx2 = _pa_pass(after1.T, rng)  # (cols, rows): new.T[i, j] = after1.T[i, idx2[i, j]]
    flat = flat1[idx2.T, np.arange(cols)[None, :]]  # new[j, i] = after1[idx2[i, j], i]
    index = torch.from_numpy(flat).to(weight.device)
    with torch.no_grad():
        weight.copy_(weight.reshape(-1)[index])
    return weight
