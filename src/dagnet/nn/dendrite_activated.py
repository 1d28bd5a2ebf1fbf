"""`DendriteActivatedLinear`: a dense layer whose nonlinearity sits on each connection."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..activations.registry import resolve_activation
from ..seeding import torch_generator
from ._common import as_batch, check_bool, check_int, check_weights, child_seeds, uniform_

__all__ = ["DendriteActivatedLinear"]


def _block(x: torch.Tensor, weight: torch.Tensor, offset: torch.Tensor, fn: Callable) -> torch.Tensor:
    z = fn(x[:, None, :] + offset)  # (B, J, in): one activation per connection
    return torch.einsum("bji,ji->bj", z, weight)  # (B, J)


class DendriteActivatedLinear(nn.Module):
    r"""Dense layer with dendrite-activated connections: :math:`y_j = \sum_i w_{ji}\, f(x_i + c_{ji}) + b_j`.

    The nonlinearity moves from the neuron to each incoming connection, and
    every connection has its own offset :math:`c_{ji}` (Metta et al. 2023; the
    exact form is open in the paper, this is its natural reading). With all
    offsets 0 (the initial state) the layer equals ``Linear(f(x))``.

    Parameters
    ----------
    in_features, out_features : int
        Sizes, ``>= 1``.
    activation : str or callable, default "relu"
        Element-wise activation ``f``: a name known to
        :func:`dagnet.activations.resolve_activation` (``"relu"``, ``"ada"``,
        ...) or a callable. An ``nn.Module`` is registered as a submodule, so
        its parameters train.
    bias : bool, default True
        Whether to learn ``b``.
    max_chunk_elements : int, default 2**22
        Bound on the size of the ``(batch, chunk, in_features)`` intermediate:
        the outputs are computed in chunks of
        ``max(1, max_chunk_elements // (batch * in_features))`` neurons.
    seed : int, numpy Generator or random.Random, optional
        Seed of the initialisation; ``None`` draws one (stored as ``self.seed``).
    device, dtype : optional
        Of the parameters, as for ``nn.Linear``.

    Attributes
    ----------
    weight : Parameter, shape (out_features, in_features)
        U(-1/sqrt(in_features), 1/sqrt(in_features)), as ``nn.Linear``.
    offset : Parameter, shape (out_features, in_features)
        The per-connection offsets ``c``; zeros at initialisation.
    bias : Parameter, shape (out_features,) or None
        Same distribution as ``weight``.

    Shape
    -----
    Input ``(*, in_features)``, output ``(*, out_features)``.

    Notes
    -----
    Every connection evaluates ``f`` on its own argument, so a full forward
    pass handles ``batch * in_features * out_features`` values. They are never
    all held at once: the output neurons are processed in chunks, and when
    there is more than one chunk and gradients are needed, each chunk is
    checkpointed (recomputed in the backward pass), so training too keeps
    only one chunk's intermediate alive, at the price of a second evaluation
    of ``f``. Peak extra memory is about ``max_chunk_elements`` values (at
    least ``batch * in_features``).

    Examples
    --------
    >>> layer = DendriteActivatedLinear(4, 3, seed=0)
    >>> layer
    DendriteActivatedLinear(in_features=4, out_features=3, activation='relu', bias=True)
    >>> x = torch.randn(2, 4, generator=torch.Generator().manual_seed(0))
    >>> torch.allclose(layer(x), torch.relu(x) @ layer.weight.T + layer.bias)  # offsets start at 0
    True
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: str | Callable = "relu",
        bias: bool = True,
        max_chunk_elements: int = 2**22,
        seed: int | None = None,
        device=None,
        dtype=None,
    ):
        super().__init__()
        name = type(self).__name__
        self.in_features = check_int(in_features, "in_features", name)
        self.out_features = check_int(out_features, "out_features", name)
        self.max_chunk_elements = check_int(max_chunk_elements, "max_chunk_elements", name)
        check_weights(
            f"{name}({self.in_features}, {self.out_features})",
            2 * self.in_features * self.out_features,
            "Choose fewer in_features or out_features.",
        )
        check_bool(bias, "bias", name)
        _, _, fn = resolve_activation(activation)
        self.activation = activation  # an nn.Module is registered as a submodule here
        self._function = None if isinstance(activation, nn.Module) else fn
        self.seed, (init_seed,) = child_seeds(seed, 1)
        self._init_generator = torch_generator(init_seed)
        factory = dict(device=device, dtype=dtype)
        self.weight = nn.Parameter(torch.empty(self.out_features, self.in_features, **factory))
        self.offset = nn.Parameter(torch.empty(self.out_features, self.in_features, **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_features, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw new weights and biases (``nn.Linear``'s rule) from the seeded generator; zero the offsets."""
        bound = 1.0 / math.sqrt(self.in_features)
        uniform_(self.weight, bound, self._init_generator)
        with torch.no_grad():
            self.offset.zero_()
        if self.bias is not None:
            uniform_(self.bias, bound, self._init_generator)

    def chunk_size(self, batch: int) -> int:
        """Number of output neurons computed at once for a batch of ``batch`` samples.

        Examples
        --------
        >>> DendriteActivatedLinear(100, 50, max_chunk_elements=10_000).chunk_size(20)
        5
        """
        per_neuron = max(1, batch * self.in_features)
        return min(self.out_features, max(1, self.max_chunk_elements // per_neuron))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_batch(x, self.in_features, "in_features", type(self).__name__, like=next(self.parameters(), None))
        fn = self.activation if self._function is None else self._function
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        step = self.chunk_size(x2.shape[0])
        many = step < self.out_features and torch.is_grad_enabled()
        parts = []
        for start in range(0, self.out_features, step):
            w = self.weight[start : start + step]
            c = self.offset[start : start + step]
            if many:
                parts.append(checkpoint(_block, x2, w, c, fn, use_reentrant=False, preserve_rng_state=False))
            else:
                parts.append(_block(x2, w, c, fn))
        y = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        act = self.activation
        name = repr(act) if isinstance(act, str) else getattr(act, "__name__", type(act).__name__)
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"activation={name}, bias={self.bias is not None}"
        )
