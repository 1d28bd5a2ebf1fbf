"""Checksums of a model's wiring (and weights), compared across ranks: one all-gather of a few numbers."""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..errors import ReplicaMismatchError
from ..nn.dag_network import DAGNetwork

__all__ = ["wiring_digest", "values_digest", "check_replicas"]

#: The buffers that fix a network's wiring and the order of its weights.
_WIRING = ("node_index", "in_ptr", "in_src")


def _words(h: hashlib.blake2b) -> list[int]:
    """The 16-byte digest as two int64 numbers (what a collective carries)."""
    return np.frombuffer(h.digest(), dtype=np.int64).tolist()


def _host_bytes(t: torch.Tensor) -> bytes:
    return t.detach().cpu().contiguous().numpy().tobytes()


def wiring_digest(model: nn.Module) -> list[tuple[str, list[int]]]:
    """Return ``(name, digest)`` for every :class:`~dagnet.DAGNetwork` in ``model``: a hash of its wiring.

    The digest (two int64 numbers of a BLAKE2b hash) covers the buffers that
    fix the edges and the order of the weights (``node_index``, ``in_ptr``,
    ``in_src``), so two networks have the same digest when their wirings are
    the same, weight for weight.

    Examples
    --------
    >>> from dagnet.nn import sparse_mlp
    >>> a, b = sparse_mlp([8, 6, 2], epsilon=2, seed=0), sparse_mlp([8, 6, 2], epsilon=2, seed=0)
    >>> wiring_digest(a) == wiring_digest(b), [name for name, _ in wiring_digest(a)]
    (True, ['0', '2'])
    """
    out = []
    for name, m in model.named_modules():
        if isinstance(m, DAGNetwork):
            h = hashlib.blake2b(digest_size=16)
            for key in _WIRING:
                h.update(_host_bytes(getattr(m, key)))
            out.append((name or type(m).__name__, _words(h)))
    return out


def values_digest(model: nn.Module) -> list[int]:
    """Return a hash (two int64 numbers) of the bits of every parameter of ``model``, in order.

    Examples
    --------
    >>> values_digest(nn.Linear(2, 2)) == values_digest(nn.Linear(2, 2))  # two random initialisations
    False
    """
    h = hashlib.blake2b(digest_size=16)
    for name, p in model.named_parameters():
        h.update(name.encode())
        h.update(_host_bytes(p))
    return _words(h)


def _ranks(ranks: list[int]) -> str:
    return ("rank " if len(ranks) == 1 else "ranks ") + ", ".join(map(str, ranks))


def check_replicas(model: nn.Module, when: str, values: bool = False, group=None) -> None:
    """Raise :class:`~dagnet.errors.ReplicaMismatchError` unless every rank of ``group`` holds the same wiring.

    Every rank hashes its model (:func:`wiring_digest`; with ``values``, the
    parameters' bits too, :func:`values_digest`) and the hashes are
    all-gathered (a few numbers per rank). The error, raised on every rank
    alike, names the ranks that differ from rank 0, the first module where
    they do, and ``when`` (e.g. ``"after rule 'SET'"``).

    Examples
    --------
    In each process of a group, after rewiring::

        check_replicas(model, "after my rule")
    """
    named = wiring_digest(model)
    rows = [words for _, words in named] + ([values_digest(model)] if values else [])
    if not rows:
        return
    rank, world = dist.get_rank(group), dist.get_world_size(group)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend(group) == "nccl" else "cpu"
    mine = torch.tensor(rows, dtype=torch.int64, device=device)
    sizes = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(world)]
    dist.all_gather(sizes, torch.tensor([mine.shape[0]], dtype=torch.int64, device=device), group=group)
    counts = [int(s) for s in sizes]
    differ = [r for r in range(world) if counts[r] != counts[0]]
    if differ:
        held = ", ".join(f"rank {r}: {counts[r] - values}" for r in range(world))
        raise ReplicaMismatchError(
            f"The ranks' models differ {when}: {_ranks(differ)} hold(s) another number of sparse modules than "
            f"rank 0 ({held}). Build the same model, with the same seed, on every rank.",
            differ,
        )
    gathered = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(gathered, mine, group=group)
    table = torch.stack(gathered).cpu()  # (ranks, rows, 2)
    for i in range(table.shape[1]):
        differ = [r for r in range(world) if not torch.equal(table[r, i], table[0, i])]
        if not differ:
            continue
        if i < len(named):
            name = named[i][0]
            raise ReplicaMismatchError(
                f"The ranks disagree about the wiring {when}: {_ranks(differ)} hold(s) another wiring of module "
                f"{name!r} than rank 0 (this is rank {rank}). Every rank must take the same rule steps with the "
                "same seeds on the same weights and gradients (all-reduced): a rule seeded per rank, or fed "
                "this rank's own batch, makes them part.",
                differ,
                name,
            )
        raise ReplicaMismatchError(
            f"The ranks hold different weights {when}: {_ranks(differ)} differ(s) from rank 0 (this is rank "
            f"{rank}). Build the model with the same seed on every rank, or load the same checkpoint.",
            differ,
        )
