"""`PathLinear`: a path-network layer stored as contiguous weight blocks, one gather per block."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._checks import check_int
from ..seeding import resolve_seed, torch_generator
from ..wiring import Wiring
from .init import initial_values

__all__ = ["PathLinear"]


class PathLinear(nn.Module):
    r"""A sparse linear layer made of ``k`` blocks, each joining every output to one input.

    Block ``b`` holds one weight per output and the input each output reads,
    ``perm[b]``, so the layer computes

    .. math:: y = b + \sum_{b=0}^{k-1} w_b \odot x[\mathrm{perm}_b]

    with one gather and one contiguous block of weights per block (no index
    per edge, no scatter in the forward pass; the backward pass is written
    out, block by block, and checked by ``gradcheck``). This is the storage Keller & Van Keirsbilck give
    the layers of Sobol' path networks (papers.md §3): with power-of-two
    sizes, every aligned run of ``out_features`` consecutive Sobol' paths
    visits each output exactly once, so it is such a block; with
    ``in_features == out_features`` each block is a permutation, otherwise
    each input is read ``out_features / in_features`` times per block (or,
    with more inputs than outputs, the blocks in turn cover the inputs).

    The layer made of paths ``0 .. k * out_features - 1`` of
    ``dagnet.topology.sobol_paths([in_features, out_features], ...)`` is
    built directly; :meth:`from_wiring` takes any two-layer path wiring with
    that block structure. Two paths of different blocks may join the same
    input and output: they are then two weights (an edge of the wiring with
    ``multiplicity`` 2 holds their sum).

    Parameters
    ----------
    in_features, out_features : int
        Sizes; ``out_features`` a power of two (for the block structure of
        the Sobol' sequence).
    blocks : int
        ``k``: paths into every output (its fan-in, counted in paths).
    bias : bool, default True
    init : str, default "kaiming_uniform"
        A rule of :class:`dagnet.DAGNetwork` (``nn.Linear``'s on the fan-in
        ``k``; ``"deterministic"`` and ``"deterministic_positive"`` use no
        random number), applied to the paths in block order.
    scramble_seed : int or None
        None: the plain Sobol' sequence; otherwise the seed of a scrambled one.
    seed : int, optional
        Seed of the initial values; ``None`` draws one (stored as ``self.seed``).
    dtype, device : optional
        Of the parameters, as for ``nn.Linear``.

    Attributes
    ----------
    weight : Parameter, shape (blocks, out_features)
        ``weight[b, t]``: the weight of output ``t`` in block ``b``.
    bias : Parameter of shape (out_features,) or None
    perm : buffer of int64, shape (blocks, out_features)
        ``perm[b, t]``: the input output ``t`` reads in block ``b``.

    Shape
    -----
    Input ``(*, in_features)``, output ``(*, out_features)``.

    Raises
    ------
    ValueError
        If a size is not a positive int, ``out_features`` not a power of two,
        or ``init`` unknown.

    Examples
    --------
    >>> layer = PathLinear(16, 8, blocks=2, seed=0)
    >>> layer(torch.ones(3, 16)).shape, tuple(layer.weight.shape)
    (torch.Size([3, 8]), (2, 8))
    >>> sorted(layer.perm[0].tolist()) == sorted(set(layer.perm[0].tolist()))  # distinct inputs
    True
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        blocks: int,
        bias: bool = True,
        init: str = "kaiming_uniform",
        scramble_seed: int | None = None,
        seed: int | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        n_in = check_int(in_features, "in_features", "PathLinear", low=1)
        n_out = check_int(out_features, "out_features", "PathLinear", low=1)
        k = check_int(blocks, "blocks", "PathLinear", low=1)
        if n_out & (n_out - 1):
            raise ValueError(
                f"The 'out_features' parameter of PathLinear must be a power of two (the Sobol' "
                f"blocks then visit every output once). Got {n_out!r} instead."
            )
        from ..topology.paths import sobol_paths

        wiring = sobol_paths([n_in, n_out], k * n_out, scramble_seed=scramble_seed, as_wiring=True)
        perm = _blocks_of(wiring, n_in, n_out)
        self._setup(n_in, perm, bias, init, seed, dtype, device)

    @classmethod
    def from_wiring(
        cls,
        wiring: Wiring,
        bias: bool = True,
        init: str = "kaiming_uniform",
        seed: int | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> PathLinear:
        """Return the layer of a two-layer path wiring (e.g. ``sobol_paths([n_in, n_out], P, as_wiring=True)``).

        The wiring's nodes are labelled ``(layer, index)`` and its edges carry
        ``edge_attrs["paths"]``, as :func:`dagnet.topology.path_network`
        makes them. Paths ``b * n_out .. (b + 1) * n_out - 1`` form block ``b``.

        Raises
        ------
        ValueError
            If the wiring has other than two layers, lacks the ``paths``
            attribute, its number of paths is not a multiple of ``n_out``, or
            a block does not visit every output exactly once (names the block).

        Examples
        --------
        >>> from dagnet.topology import sobol_paths
        >>> layer = PathLinear.from_wiring(sobol_paths([4, 4], 8, as_wiring=True), seed=0)
        >>> layer.perm.tolist()
        [[0, 3, 2, 1], [2, 1, 0, 3]]
        """
        if not isinstance(wiring, Wiring) or "paths" not in wiring.edge_attrs:
            raise ValueError(
                "PathLinear.from_wiring needs a Wiring with the edge attribute 'paths' (e.g. "
                f"sobol_paths(..., as_wiring=True)). Got {type(wiring).__name__} without it."
            )
        labels = wiring.node_labels()
        layers = np.array([label[0] if isinstance(label, tuple) and len(label) == 2 else -1 for label in labels])
        if layers.size == 0 or set(layers.tolist()) != {0, 1} or np.any(np.diff(layers) < 0):
            raise ValueError(
                f"PathLinear.from_wiring needs the nodes of two layers labelled (0, i), then (1, j). "
                f"Got layers {sorted(set(layers.tolist()))}."
            )
        n_in = int(np.sum(layers == 0))
        layer = cls.__new__(cls)
        layer._setup(n_in, _blocks_of(wiring, n_in, wiring.num_nodes - n_in), bias, init, seed, dtype, device)
        return layer

    def _setup(self, n_in: int, perm: np.ndarray, bias: bool, init: str, seed, dtype, device) -> None:
        nn.Module.__init__(self)
        k, n_out = perm.shape
        self.in_features, self.out_features = n_in, n_out
        self.seed = resolve_seed(seed)
        target = np.tile(np.arange(n_out), k)  # paths in block order
        weight, bias0 = initial_values(init, perm.reshape(-1), target, n_out, torch_generator(self.seed))
        factory = dict(dtype=dtype if dtype is not None else torch.get_default_dtype(), device=device)
        self.weight = nn.Parameter(weight.reshape(k, n_out).to(**factory))
        self.bias = nn.Parameter(bias0.to(**factory)) if bias else None
        self.register_buffer("perm", torch.from_numpy(perm).to(device))

    @property
    def blocks(self) -> int:
        """Number of blocks ``k`` (paths into every output)."""
        return int(self.perm.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"PathLinear expects inputs of shape (*, {self.in_features}). Got {tuple(x.shape)}.")
        y = _BlockGather.apply(x, self.weight, self.perm)
        return y if self.bias is None else y + self.bias

    def to_dense(self) -> torch.Tensor:
        """Return the weight as a dense ``(out_features, in_features)`` tensor (paths on one edge summed).

        Examples
        --------
        >>> layer = PathLinear(8, 8, blocks=2, seed=0)
        >>> x = torch.randn(5, 8)
        >>> torch.allclose(layer(x), x @ layer.to_dense().T + layer.bias)
        True
        """
        dense = torch.zeros(self.out_features, self.in_features, dtype=self.weight.dtype, device=self.weight.device)
        rows = torch.arange(self.out_features, device=self.perm.device).expand_as(self.perm)
        return dense.index_put_((rows.reshape(-1), self.perm.reshape(-1)), self.weight.detach().reshape(-1), True)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"blocks={self.blocks}, bias={self.bias is not None}"
        )


class _BlockGather(torch.autograd.Function):
    """``y = sum_b weight[b] * x[..., perm[b]]``, a block at a time, on rows of the transposed batch.

    Each block gathers whole contiguous rows of ``x.T`` (one per output) and
    adds them, weighted, into ``y.T``; the backward pass adds each block's
    share of the gradient back onto the rows it read (``index_add_``) and
    reduces the products for the block's weights. Nothing larger than the
    batch times ``out_features`` is allocated per block.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
        xt = x.reshape(-1, x.shape[-1]).T.contiguous()  # (n_in, rows)
        yt = torch.zeros(weight.shape[1], xt.shape[1], dtype=torch.result_type(x, weight), device=x.device)
        for b in range(weight.shape[0]):
            yt.addcmul_(xt.index_select(0, perm[b]), weight[b].unsqueeze(1))
        ctx.save_for_backward(xt, weight, perm)
        return yt.T.reshape(*x.shape[:-1], weight.shape[1])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        xt, weight, perm = ctx.saved_tensors
        gt = grad.reshape(-1, grad.shape[-1]).T.contiguous()  # (n_out, rows)
        grad_x = torch.zeros_like(xt) if ctx.needs_input_grad[0] else None
        grad_w = torch.empty_like(weight) if ctx.needs_input_grad[1] else None
        for b in range(weight.shape[0]):
            if grad_w is not None:
                grad_w[b] = (xt.index_select(0, perm[b]) * gt).sum(1)
            if grad_x is not None:
                grad_x.index_add_(0, perm[b], gt * weight[b].unsqueeze(1))
        if grad_x is not None:
            grad_x = grad_x.T.reshape(*grad.shape[:-1], xt.shape[0])
        return grad_x, grad_w, None


def _blocks_of(wiring: Wiring, n_in: int, n_out: int) -> np.ndarray:
    """Return ``perm`` (blocks, n_out): the input of each output in each block of ``n_out`` consecutive paths."""
    paths = [np.asarray(p, dtype=np.int64) for p in wiring.edge_attrs["paths"]]
    mult = np.array([p.size for p in paths], dtype=np.int64)
    ids = np.concatenate(paths + [np.zeros(0, np.int64)])
    num_paths = ids.size
    if num_paths == 0 or num_paths % n_out or not np.array_equal(np.sort(ids), np.arange(num_paths)):
        raise ValueError(
            f"A PathLinear needs paths 0 .. P - 1, P a positive multiple of out_features={n_out}, "
            f"each on one edge. Got {num_paths} path ids."
        )
    edge = np.repeat(np.arange(wiring.num_edges), mult)
    source, target = np.empty(num_paths, np.int64), np.empty(num_paths, np.int64)
    source[ids], target[ids] = wiring.source[edge], wiring.target[edge] - n_in
    target = target.reshape(-1, n_out)
    for b, row in enumerate(target):
        if not np.array_equal(np.sort(row), np.arange(n_out)):
            raise ValueError(
                f"Paths {b * n_out} .. {(b + 1) * n_out - 1} do not visit each of the {n_out} outputs once, "
                "so they are not a block of a PathLinear (Sobol' paths need power-of-two sizes)."
            )
    perm = np.empty_like(target)
    np.put_along_axis(perm, target, source.reshape(-1, n_out), axis=1)
    return perm
