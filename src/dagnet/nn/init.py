"""Initial values of a network's weights and biases, on each node's true fan-in."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["INITS", "initial_values"]

INITS = ("kaiming_uniform", "kaiming_normal", "xavier_uniform", "xavier_normal", "zeros")


def initial_values(init: str, source: np.ndarray, target: np.ndarray, num_nodes: int,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Return float64 ``(weight, bias)`` in wiring order (one bias per node).

    ``kaiming_uniform`` is ``torch.nn.Linear``'s rule on each node's true fan-in:
    weights and bias uniform in ``±1/sqrt(fan_in)``. ``kaiming_normal`` draws
    weights from N(0, 2/fan_in); the ``xavier`` rules use the fan-in of the
    target and the fan-out of the source of each edge. Biases are drawn as for
    ``kaiming_uniform`` except with ``zeros``, which sets everything to 0.
    A node with no incoming edge gets bias 0, as ``nn.Linear`` does.

    Examples
    --------
    >>> w, b = initial_values("zeros", np.array([0]), np.array([1]), 2, torch.Generator())
    >>> w.tolist(), b.tolist()
    ([0.0], [0.0, 0.0])
    """
    if init not in INITS:
        raise ValueError(f"The 'init' parameter must be one of {INITS}. Got {init!r} instead.")
    fan_in = np.bincount(target, minlength=num_nodes).astype(np.float64)
    fan_out = np.bincount(source, minlength=num_nodes).astype(np.float64)
    e = source.size
    if init == "zeros":
        return torch.zeros(e, dtype=torch.float64), torch.zeros(num_nodes, dtype=torch.float64)
    fin = torch.from_numpy(fan_in[target])
    if init == "kaiming_uniform":
        weight = (torch.rand(e, generator=generator, dtype=torch.float64) * 2 - 1) / fin.sqrt()
    elif init == "kaiming_normal":
        weight = torch.randn(e, generator=generator, dtype=torch.float64) * (2.0 / fin).sqrt()
    else:
        both = fin + torch.from_numpy(fan_out[source])
        if init == "xavier_uniform":
            weight = (torch.rand(e, generator=generator, dtype=torch.float64) * 2 - 1) * (6.0 / both).sqrt()
        else:
            weight = torch.randn(e, generator=generator, dtype=torch.float64) * (2.0 / both).sqrt()
    bound = torch.from_numpy(np.where(fan_in > 0, 1.0 / np.sqrt(np.maximum(fan_in, 1.0)), 0.0))
    bias = (torch.rand(num_nodes, generator=generator, dtype=torch.float64) * 2 - 1) * bound
    return weight, bias

