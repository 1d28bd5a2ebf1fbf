"""What each surgery of :class:`~dagnet.nn.IsotropicMLP` did: one frozen report per operation."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["Diagonalised", "Grown", "Shrunk", "Sparsified"]


@dataclass(frozen=True)
class Diagonalised:
    """What :meth:`IsotropicMLP.diagonalise` did.

    Attributes
    ----------
    layer : int
        The hidden layer whose incoming weights were diagonalised.
    mode : str
        ``"left"`` or ``"full"``.
    singular_values : Tensor, shape (width,)
        Of the incoming map, descending, float64; padded with zeros to the
        layer's width (directions that no input reaches have singular value 0).
    left : Tensor, shape (width, width)
        ``U``: the layer's new neurons in the old basis (``z_new = U^T z_old``).
    right : Tensor or None, shape (width of layer - 1,) * 2
        ``V`` for ``mode="full"``: the previous layer's new basis; else None.

    Examples
    --------
    >>> from dagnet.nn import IsotropicMLP
    >>> net = IsotropicMLP([3, 4, 2], seed=0)
    >>> net.diagonalise(1).singular_values.shape
    torch.Size([4])
    """

    layer: int
    mode: str
    singular_values: torch.Tensor = field(repr=False)
    left: torch.Tensor = field(repr=False)
    right: torch.Tensor | None = field(repr=False)


@dataclass(frozen=True)
class Grown:
    """What :meth:`IsotropicMLP.grow` did.

    Attributes
    ----------
    layer, added, width : int
        The hidden layer, the neurons added, its width now.
    densified : tuple of int
        Layers whose compactly stored diagonal weights had to become dense.

    Examples
    --------
    >>> from dagnet.nn import IsotropicMLP
    >>> IsotropicMLP([3, 4, 2], seed=0).grow(1, 2, seed=0)
    Grown(layer=1, added=2, width=6, densified=())
    """

    layer: int
    added: int
    width: int
    densified: tuple = ()


@dataclass(frozen=True)
class Shrunk:
    """What :meth:`IsotropicMLP.shrink` did.

    Attributes
    ----------
    layer, removed, width : int
        The hidden layer, the neurons removed, its width now.
    singular_values : tuple of float
        The removed singular values, descending: the change of the layer's
        pre-activation is at most their size times the norm of its input
        (which is below 1 for every layer after the first).
    intrinsic_length : float
        The layer's intrinsic length ``o`` now (``o + ||b*||^2``).

    Examples
    --------
    >>> from dagnet.nn import IsotropicMLP
    >>> net = IsotropicMLP([3, 5, 2], seed=0)
    >>> report = net.shrink(1, 2)  # 5 neurons, rank 3: two singular values are 0
    >>> report.width, report.singular_values
    (3, (0.0, 0.0))
    """

    layer: int
    removed: int
    width: int
    singular_values: tuple
    intrinsic_length: float


@dataclass(frozen=True)
class Sparsified:
    """What :meth:`IsotropicMLP.sparsify` did.

    Attributes
    ----------
    layers : tuple of int
        The layers whose incoming weights are now stored as their diagonal.
    parameters_before, parameters_after : int
        :meth:`IsotropicMLP.parameter_count` before and after.

    Examples
    --------
    >>> from dagnet.nn import IsotropicMLP
    >>> report = IsotropicMLP([4, 8, 8, 2], seed=0).sparsify()
    >>> report.layers, report.parameters_before, report.parameters_after
    ((2,), 132, 76)
    """

    layers: tuple
    parameters_before: int
    parameters_after: int

    @property
    def ratio(self) -> float:
        """``parameters_after / parameters_before``."""
        return self.parameters_after / self.parameters_before
