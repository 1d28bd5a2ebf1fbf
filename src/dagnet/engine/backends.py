"""The back ends, by name, and the one function that builds a runtime for a plan."""

from __future__ import annotations

import numpy as np
import torch

from .numba_runtime import NumbaRuntime
from .runtime import CombineGroup, Group, Runtime
from .torch_runtime import TorchRuntime

__all__ = ["BACKENDS", "DTYPES", "make_runtime"]

RUNTIMES: dict[str, type[Runtime]] = {"numba": NumbaRuntime, "torch": TorchRuntime}
BACKENDS = tuple(RUNTIMES)
DTYPES = (torch.float32, torch.float64)  # what both back ends compute in


def make_runtime(
    index: dict,
    level_ptr: np.ndarray,
    num_inputs: int,
    groups: list[Group],
    backend: str,
    combines: list[CombineGroup] = (),
) -> Runtime:
    """Return the :class:`Runtime` of back end ``backend`` for a plan's index tensors and groups.

    Examples
    --------
    >>> from dagnet.plan import compile_plan
    >>> from dagnet.wiring import Wiring
    >>> plan, _ = compile_plan(Wiring(2, [0], [1]))
    >>> make_runtime({}, plan.level_ptr, 1, [], "torch").backend
    'torch'
    """
    if backend not in RUNTIMES:
        raise ValueError(f"The 'backend' parameter must be one of {BACKENDS}. Got {backend!r} instead.")
    return RUNTIMES[backend](index, level_ptr, num_inputs, groups, combines)
