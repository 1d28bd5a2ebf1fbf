"""`SparseLinear`: a truly sparse drop-in for ``torch.nn.Linear``."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from .._checks import check_choice, check_int
from ..errors import DeadNodeWarning
from ..seeding import numpy_rng, resolve_seed, torch_generator
from ..topology._budget import NETWORK_EDGE, NETWORK_NODE, WIRING_EDGE, check_size
from ..topology._sampling import bernoulli_positions
from ..topology.layered import set_probability
from ..wiring import Wiring
from .dag_network import DAGNetwork
from .init import INITS

__all__ = ["SparseLinear"]


class SparseLinear(DAGNetwork):
    r"""A linear layer ``y = x W^T + b`` whose ``W`` stores only its existing connections.

    The layer is a one-level :class:`DAGNetwork` (inputs ``0 .. in_features - 1``,
    outputs ``in_features ..``), so it runs on the same sparse engine and every
    evolution rule of :mod:`dagnet.evolve` rewires it. Connections are drawn as in
    SET: each of the ``in_features * out_features`` pairs independently with
    probability ``density``, or with SET's
    ``p = epsilon * (in_features + out_features) / (in_features * out_features)``
    (capped at 1), in time linear in the number of connections.

    Parameters
    ----------
    in_features, out_features : int
        As for ``nn.Linear``.
    density : float in (0, 1], optional
        Probability of each connection.
    epsilon : float > 0, optional
        SET's density parameter; used when ``density`` is not given (default 20).
    bias : bool, default True
    init : str, default "kaiming_uniform"
        As for :class:`DAGNetwork` (``nn.Linear``'s rule on each output's true fan-in),
        or ``"he_uniform"``: weights uniform in ``±sqrt(6 / in_features)``, He's
        bound on the dense fan-in, and zero biases (the SET code's initialisation,
        and the values :class:`~dagnet.evolve.SET` gives the connections it grows).
    seed : int, numpy Generator or random.Random, optional
        Seed of the connections and the initial values.
    backend, dtype, device : optional
        As for :class:`DAGNetwork`.

    Attributes
    ----------
    weight : Parameter, shape (num_edges,)
        One value per connection, ordered by output then input.

    Raises
    ------
    ValueError
        If an argument is invalid, or the ``in_features * out_features * p``
        expected connections would not fit in this machine's memory (checked
        before anything is allocated; the message gives the edges and bytes).

    Examples
    --------
    >>> layer = SparseLinear(100, 10, density=0.1, seed=0)
    >>> layer(torch.zeros(4, 100)).shape, layer.num_edges < 1000
    (torch.Size([4, 10]), True)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        density: float | None = None,
        epsilon: float | None = None,
        bias: bool = True,
        init: str = "kaiming_uniform",
        seed: int | None = None,
        backend: str | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        n_in = check_int(in_features, "in_features", "SparseLinear")
        n_out = check_int(out_features, "out_features", "SparseLinear")
        check_choice(init, "init", "SparseLinear", (*INITS, "he_uniform"))
        p = connection_probability(n_in, n_out, density, epsilon)
        check_layer_sizes(f"SparseLinear({n_in}, {n_out}, {_given(density, epsilon)})", [(n_in, n_out, p)])
        seed = resolve_seed(seed)
        k = bernoulli_positions(n_in * n_out, p, numpy_rng(seed))  # sorted by output, then input
        wiring = Wiring(n_in + n_out, k % n_in, n_in + k // n_in)
        with warnings.catch_warnings():  # unconnected inputs are normal in a sparse layer
            warnings.simplefilter("ignore", DeadNodeWarning)
            super().__init__(
                wiring,
                inputs=range(n_in),
                outputs=range(n_in, n_in + n_out),
                activation="identity",
                output_activation="identity",
                init="zeros" if init == "he_uniform" else init,
                bias=bias,
                seed=seed,
                backend=backend,
                dtype=dtype,
                device=device,
            )
        self.requested_density = p
        if init == "he_uniform":
            unit = torch.rand(self.num_edges, generator=torch_generator(self.seed), dtype=torch.float64) * 2 - 1
            with torch.no_grad():
                self.weight.copy_(unit * math.sqrt(6.0 / n_in))

    @property
    def density(self) -> float:
        """Fraction of the ``in_features * out_features`` connections that exist."""
        return self.num_edges / (self.in_features * self.out_features)

    def growth_space(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(limit, source_ok)``: edges may grow from any input to any output only."""
        m, n_in = int(self.node_index.numel()), self.in_features
        limit = np.full(m, n_in, dtype=np.int64)
        limit[:n_in] = 0
        source_ok = np.zeros(m, dtype=bool)
        source_ok[:n_in] = True
        return limit, source_ok

    def connections(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(rows, cols)``: output and input index of each weight, as in a dense ``W``."""
        src, dst = self.edge_endpoints()
        return dst - self.in_features, src

    def to_dense(self) -> torch.Tensor:
        """Return the weight as a dense ``(out_features, in_features)`` tensor (zeros where absent).

        Examples
        --------
        >>> layer = SparseLinear(3, 2, density=1.0, seed=0)
        >>> x = torch.randn(5, 3)
        >>> torch.allclose(layer(x), x @ layer.to_dense().T + layer.bias)
        True
        """
        rows, cols = self.connections()
        dense = torch.zeros(self.out_features, self.in_features, dtype=self.weight.dtype, device=self.weight.device)
        dense[torch.from_numpy(rows), torch.from_numpy(cols)] = self.weight.detach()
        return dense

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"edges={self.num_edges}, density={self.density:.4g}, bias={self.bias is not None}"
        )


def connection_probability(n_in: int, n_out: int, density: float | None, epsilon: float | None) -> float:
    """Return the connection probability of an ``n_in x n_out`` sparse layer.

    ``density`` if given, else SET's ``epsilon * (n_in + n_out) / (n_in * n_out)``
    capped at 1 (``epsilon`` defaults to 20).

    Examples
    --------
    >>> connection_probability(1000, 1000, None, 20)
    0.04
    """
    if density is not None and epsilon is not None:
        raise ValueError("Give 'density' or 'epsilon', not both.")
    if density is not None:
        if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0 < density <= 1:
            raise ValueError(f"The 'density' parameter must be a float in (0, 1]. Got {density!r} instead.")
        return float(density)
    epsilon = 20 if epsilon is None else epsilon
    if (
        isinstance(epsilon, bool)
        or not isinstance(epsilon, (int, float))
        or not epsilon > 0
        or not np.isfinite(epsilon)
    ):
        raise ValueError(f"The 'epsilon' parameter must be a positive float. Got {epsilon!r} instead.")
    return set_probability(n_in, n_out, float(epsilon))


def _given(density: float | None, epsilon: float | None) -> str:
    return f"density={density!r}" if density is not None else f"epsilon={20 if epsilon is None else epsilon!r}"


def check_layer_sizes(call: str, layers) -> float:
    """Refuse sparse layers whose expected connections would not fit in this machine's memory.

    ``layers`` holds ``(n_in, n_out, p)`` per layer; returns the estimated
    bytes. The message of the ``ValueError`` starts with ``call``.

    Examples
    --------
    >>> check_layer_sizes("SparseLinear(10, 10, density=0.5)", [(10, 10, 0.5)]) > 0
    True
    """
    edges = sum(n_in * n_out * p for n_in, n_out, p in layers)
    nodes = sum(n_in + n_out for n_in, n_out, _ in layers)
    return check_size(
        call,
        edges,
        WIRING_EDGE + NETWORK_EDGE,
        nodes,
        NETWORK_NODE,
        "Choose smaller layers or a lower density (or epsilon).",
    )
