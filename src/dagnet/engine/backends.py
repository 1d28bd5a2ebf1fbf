"""The back ends, by name, and the one function that builds a runtime for a plan."""

from __future__ import annotations

import functools
import os

import numpy as np
import torch

from .numba_runtime import NumbaRuntime
from .runtime import CombineGroup, Group, Runtime
from .torch_runtime import TorchRuntime
from .triton_runtime import TritonRuntime

__all__ = ["BACKENDS", "DTYPES", "make_runtime", "default_backend", "resolve_backend"]

RUNTIMES: dict[str, type[Runtime]] = {"numba": NumbaRuntime, "torch": TorchRuntime, "triton": TritonRuntime}
BACKENDS = tuple(RUNTIMES)
DTYPES = (torch.float32, torch.float64)  # what every back end computes in (triton: float16, bfloat16 under autocast)


@functools.cache
def _triton_imports() -> bool:
    try:
        import triton  # noqa: F401
    except Exception:  # not installed, or broken: the torch back end runs instead
        return False
    return True


def _interpreting() -> bool:
    """Whether Triton runs kernels in its interpreter: ``TRITON_INTERPRET=1``, set before triton was imported.

    Triton decides when it is imported, for its own library functions too.
    """
    import triton.language as tl
    from triton.runtime import JITFunction

    try:
        from triton import knobs

        interpret = bool(knobs.runtime.interpret)
    except ImportError:  # triton before 3.4
        interpret = os.environ.get("TRITON_INTERPRET", "0") == "1"
    return interpret and not isinstance(tl.standard.zeros, JITFunction)


def default_backend(device: torch.device) -> str:
    """Return the back end a network on ``device`` runs on when none is named.

    ``"numba"`` on the CPU, ``"triton"`` on CUDA when triton imports, ``"torch"`` otherwise.

    Examples
    --------
    >>> default_backend(torch.device("cpu"))
    'numba'
    """
    if device.type == "cpu":
        return "numba"
    return "triton" if device.type == "cuda" and _triton_imports() else "torch"


def resolve_backend(backend: str | None, device: torch.device) -> str:
    """Return the back end to run on ``device``: ``backend``, or the default when it is None.

    Raises ``ValueError`` for a back end that cannot run there: ``"numba"``
    off the CPU, ``"triton"`` on the CPU outside Triton's interpreter.

    Examples
    --------
    >>> resolve_backend(None, torch.device("cpu")), resolve_backend("torch", torch.device("cpu"))
    ('numba', 'torch')
    """
    if backend is None:
        return default_backend(device)
    if backend not in RUNTIMES:
        raise ValueError(f"The 'backend' parameter must be one of {BACKENDS} or None. Got {backend!r} instead.")
    if backend == "numba" and device.type != "cpu":
        raise ValueError(f"backend='numba' runs on CPU only; use backend='torch' or 'triton' on {device}.")
    if backend == "triton":
        if not _triton_imports():
            raise ValueError("backend='triton' needs the triton package, which does not import here.")
        if device.type == "cpu" and not _interpreting():
            raise ValueError(
                "backend='triton' runs on CUDA devices; on the CPU only under Triton's interpreter (for testing), "
                "with TRITON_INTERPRET=1 in the environment before triton is first imported. "
                "Use backend='numba' on the CPU."
            )
    return backend


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
