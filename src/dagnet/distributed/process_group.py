"""Joining and leaving the process group that ``torchrun`` describes in the environment."""

from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist

from .._checks import check_float

__all__ = ["is_distributed", "rank_and_world_size", "join_from_env", "backend_for"]

#: What torchrun sets for every process it starts.
ENVIRONMENT = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def is_distributed() -> bool:
    """Whether this process belongs to an initialised ``torch.distributed`` process group.

    Examples
    --------
    >>> is_distributed()
    False
    """
    return dist.is_available() and dist.is_initialized()


def rank_and_world_size(group=None) -> tuple[int, int]:
    """Return ``(rank, world size)`` of this process in ``group`` (the default group), ``(0, 1)`` outside any.

    Examples
    --------
    >>> rank_and_world_size()
    (0, 1)
    """
    if not is_distributed():
        return 0, 1
    return dist.get_rank(group), dist.get_world_size(group)


def backend_for(device: str | torch.device) -> str:
    """The collective back end for tensors on ``device``: ``"nccl"`` on CUDA, ``"gloo"`` elsewhere.

    Examples
    --------
    >>> backend_for("cpu"), backend_for("cuda:1")
    ('gloo', 'nccl')
    """
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def join_from_env(device: str | torch.device = "cpu", timeout_s: float = 1800.0) -> bool:
    """Join the process group ``torchrun`` describes in the environment; return whether this call joined it.

    With ``RANK`` and ``WORLD_SIZE`` set (as ``torchrun`` sets them, with
    ``MASTER_ADDR`` and ``MASTER_PORT``), initialise the default process
    group with the back end for ``device`` (:func:`backend_for`; on CUDA the
    process takes device ``LOCAL_RANK``). Nothing happens (False) without
    them, or when a group is already initialised. Leave with
    ``torch.distributed.destroy_process_group()``.

    Raises
    ------
    ValueError
        If ``RANK`` and ``WORLD_SIZE`` are set but not ``MASTER_ADDR`` or
        ``MASTER_PORT``, or ``timeout_s`` is not a number > 0.

    Examples
    --------
    >>> join_from_env()  # not started by torchrun
    False
    """
    if is_distributed():
        return False
    if not all(name in os.environ for name in ENVIRONMENT[:2]):  # not started by a launcher
        return False
    missing = [name for name in ENVIRONMENT if name not in os.environ]
    if missing:
        raise ValueError(
            f"The environment sets RANK and WORLD_SIZE but not {' and '.join(missing)}: start the processes "
            "with torchrun (python -m torch.distributed.run), which sets them all, or unset RANK and WORLD_SIZE."
        )
    timeout_s = check_float(timeout_s, "timeout_s", "join_from_env", 0, low_open=True)
    backend = backend_for(device)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return True
