"""RigL: drop the smallest magnitudes, grow where the dense gradient is largest."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np
import torch
from torch import nn

from .._checks import Interval, check_choice, check_float, check_int, invalid
from ._base import EvolutionRule, edge_keys, spaces_of, sparse_modules
from .schedules import every_steps
from .set import smallest, smallest_on_device

__all__ = ["RigL", "top_gradient_pairs", "score_blocks"]

# Largest block of candidate scores formed at once (numbers).
_CHUNK = 1 << 22


def top_gradient_pairs(
    H: torch.Tensor,
    G: torch.Tensor,
    limit: np.ndarray,
    source_ok: np.ndarray,
    existing: np.ndarray,
    count: int,
    chunk: int = _CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``count`` allowed absent pairs ``(u, v)`` with the largest ``|<G[v], H[u]>|``.

    ``<G[v], H[u]>`` summed over the batch is the gradient of the loss with
    respect to a (zero) weight on the edge ``u -> v``. Scores are formed for
    blocks of targets of at most ``chunk`` numbers, never as one
    positions x positions matrix; allowed pairs are ``u < limit[v]`` with
    ``source_ok[u]``, absent ones are not in ``existing`` (sorted keys
    ``u * positions + v``). Ties go to the lower key.

    The blocks are computed on the device of ``H`` and ``G``. On the CPU
    NumPy ranks them; on any other device they are ranked there too (a
    stable sort per block, merged with the best so far), and only the
    ``count`` chosen keys cross to the host, never a block of scores. Both
    choose the same pairs from the same scores.

    Examples
    --------
    >>> H = torch.tensor([[1.0], [2.0], [0.0]]); G = torch.tensor([[0.0], [0.0], [1.0]])
    >>> top_gradient_pairs(H, G, np.array([0, 0, 2]), np.array([True, True, False]),
    ...                    np.array([], dtype=np.int64), 1)
    (array([1]), array([2]))
    """
    count = int(count)
    if count <= 0 or not (limit > 0).any():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    blocks = score_blocks(H, G, limit, source_ok, existing, chunk)
    rank = _best_on_host if H.device.type == "cpu" else _best_on_device
    return np.divmod(rank(blocks, count, limit.size), limit.size)


def score_blocks(
    H: torch.Tensor, G: torch.Tensor, limit: np.ndarray, source_ok: np.ndarray, existing: np.ndarray, chunk: int
) -> Iterator[tuple[np.ndarray, int, torch.Tensor]]:
    """Yield ``(block, width, score)``: the candidate scores of a block of target positions, on ``G``'s device.

    ``score[r, u] = |<G[block[r]], H[u]>|`` for ``u < width``, and -1 where
    ``u -> block[r]`` is not allowed or already exists (see
    :func:`top_gradient_pairs`); at most ``chunk`` numbers per block (one
    target at least). The index arrays of each block cross to the device.

    Examples
    --------
    >>> H = torch.tensor([[1.0], [2.0], [0.0]]); G = torch.tensor([[0.0], [0.0], [1.0]])
    >>> [(b.tolist(), w, s.tolist()) for b, w, s in score_blocks(
    ...     H, G, np.array([0, 0, 2]), np.array([True, True, False]), np.array([], dtype=np.int64), 8)]
    [([2], 2, [[1.0, 2.0]])]
    """
    m = limit.size
    rows = np.flatnonzero(limit > 0)
    device = G.device
    ok = torch.from_numpy(source_ok).to(device)
    ok_prefix = np.cumsum(source_ok) == np.arange(1, m + 1)  # all sources below are allowed
    ex_src, ex_dst = np.divmod(existing, m)
    order = np.argsort(ex_dst, kind="stable")
    ex_src, ex_dst = ex_src[order], ex_dst[order]
    start = 0
    while start < rows.size:
        width = int(limit[rows[start]])
        stop = start + 1
        while stop < rows.size and (stop - start + 1) * max(width, int(limit[rows[stop]])) <= chunk:
            width = max(width, int(limit[rows[stop]]))
            stop += 1
        block = rows[start:stop]
        score = (G[torch.from_numpy(block).to(device)] @ H[:width].T).abs_()
        if limit[block].min() < width or not ok_prefix[width - 1]:
            cols = torch.arange(width, device=device)
            lim = torch.from_numpy(limit[block]).to(device)
            allowed = (cols[None, :] < lim[:, None]) & ok[None, :width]
            score.masked_fill_(~allowed, -1.0)
        a, b = np.searchsorted(ex_dst, [block[0], block[-1] + 1])
        if b > a:  # existing edges into this block
            r = np.searchsorted(block, ex_dst[a:b])
            inside = (r < block.size) & (block[np.minimum(r, block.size - 1)] == ex_dst[a:b]) & (ex_src[a:b] < width)
            at = torch.from_numpy(np.stack([r[inside], ex_src[a:b][inside]])).to(device)
            score[at[0], at[1]] = -1.0
        yield block, width, score
        start = stop


def _best_on_host(blocks: Iterable, count: int, m: int) -> np.ndarray:
    """The sorted keys of the ``count`` best scores of ``blocks``, ranked by NumPy (linear time per block)."""
    best_score = torch.zeros(0, dtype=torch.float64)
    best_key = torch.zeros(0, dtype=torch.int64)
    floor = -1.0  # the count-th best score so far: lower scores cannot enter
    for block, width, score in blocks:
        flat = score.reshape(-1).cpu().numpy()
        cand = np.flatnonzero(flat >= floor) if floor > 0 else np.arange(flat.size)
        pick = _largest(flat[cand], min(count, cand.size), lambda i: (cand[i] % width) * m + block[cand[i] // width])  # noqa: B023 (called here)
        idx = cand[pick]
        u = idx % width
        v = block[idx // width]
        best_score = torch.cat([best_score, torch.from_numpy(flat[idx].astype(np.float64))])
        best_key = torch.cat([best_key, torch.from_numpy(u * m + v)])
        if best_score.numel() >= count:
            # Largest scores first; among equal scores, the lower key.
            order = np.lexsort((best_key.numpy(), -best_score.numpy()))[:count]
            best_score, best_key = best_score[order], best_key[order]
            floor = float(best_score[-1])
    return np.sort(best_key.numpy())


def _best_on_device(blocks: Iterable, count: int, m: int) -> np.ndarray:
    """:func:`_best_on_host` computed on the blocks' device: only the chosen keys cross to the host.

    Within a block, the transposed scores run in key order (source-major,
    targets ascending), so a stable descending sort ranks them by score and
    then by key; the best ``count`` join those kept so far, ranked the same
    way. Pairs scored -1 (not allowed) rank last and are dropped at the end.
    """
    best_score = best_key = None
    for block, _, score in blocks:
        device = score.device
        flat = score.mT.reshape(-1)  # entry j: source j // rows, target block[j % rows]
        j = torch.sort(flat, descending=True, stable=True).indices[:count]
        rows = torch.from_numpy(block).to(device)
        key = (j // block.size) * m + rows[j % block.size]
        scores = flat[j]
        if best_score is not None:
            scores, key = torch.cat([best_score, scores]), torch.cat([best_key, key])
            by_key = torch.argsort(key)
            j = by_key[torch.sort(scores[by_key], descending=True, stable=True).indices[:count]]
            scores, key = scores[j], key[j]
        best_score, best_key = scores, key
    return np.sort(best_key[best_score >= 0].cpu().numpy())


def _largest(values: np.ndarray, k: int, key) -> np.ndarray:
    """Indices of the ``k`` largest non-negative values, ties to the lower ``key(index)``, in linear time."""
    if k <= 0 or values.size == 0:
        return np.zeros(0, dtype=np.int64)
    kth = np.partition(values, values.size - k)[values.size - k]
    if kth < 0:  # fewer than k allowed pairs: all of them
        return np.flatnonzero(values >= 0)
    above = np.flatnonzero(values > kth)
    ties = np.flatnonzero(values == kth)
    need = k - above.size
    if ties.size > need:
        ties = ties[np.argsort(key(ties), kind="stable")[:need]]
    return np.concatenate([above, ties])


def _smallest_magnitudes(weight: torch.Tensor, among: np.ndarray, k: int) -> np.ndarray:
    """Positions in ``among`` of the ``k`` weights of smallest ``|w|`` (:func:`smallest`), chosen on the weight's device."""
    if weight.device.type == "cpu":
        return smallest(np.abs(weight.numpy()[among]), k)
    values = weight.abs()[torch.from_numpy(among).to(weight.device)]
    return smallest_on_device(values, k).cpu().numpy()


class RigL(EvolutionRule):
    """Rigging the Lottery (Evci et al. 2020): magnitude drop, gradient growth.

    Each :meth:`step`, in every sparse module: drop the fraction ``f`` of the
    evolvable weights with the smallest ``|w|``, then grow as many absent
    connections (kept acyclic, as in :class:`SET`) with the largest
    magnitude of the dense gradient, computed by :func:`top_gradient_pairs`
    from the activations and pre-activation gradients of the last backward
    pass, in bounded blocks. New weights start at 0 with zero optimizer state.
    ``f`` is ``drop_fraction`` annealed over training steps
    ``t = updates * update_every`` to 0 at ``stop_step`` (cosine:
    ``f = drop_fraction / 2 * (1 + cos(pi t / stop_step))``); after it, steps
    change nothing.

    Call :meth:`attach` before training (``fit`` does) so that the networks
    keep the activity of their last backward pass; with ``fit`` the default
    schedule is every ``update_every`` optimizer steps.

    On a device other than the CPU the magnitudes and the candidate scores
    are ranked there; what crosses to the host per step is, per module, the
    indices of the ``k`` dropped weights and the keys of the ``k`` grown
    pairs (never a weight vector or a block of scores). The new plan, and
    the index arrays of each score block, cross to the device.

    Parameters
    ----------
    drop_fraction : float in [0, 1], default 0.3
    update_every : int >= 1, default 100
        Optimizer steps between updates (ΔT).
    anneal : {"cosine", "constant"}, default "cosine"
    stop_step : int, optional
        Step after which nothing changes (default: never, with no annealing).
    seed : int, numpy Generator or random.Random, optional

    Examples
    --------
    >>> from dagnet.nn import sparse_mlp
    >>> mlp = sparse_mlp([20, 30, 2], epsilon=3, seed=0)
    >>> rule = RigL(update_every=1, seed=0)
    >>> rule.attach(mlp)
    >>> mlp(torch.randn(8, 20)).sum().backward()
    >>> changes = rule.step(mlp)
    >>> changes["0"]["removed"] == changes["0"]["added"]
    True
    """

    def __init__(
        self,
        drop_fraction: float = 0.3,
        update_every: int = 100,
        anneal: str = "cosine",
        stop_step: int | None = None,
        seed: int | None = None,
    ):
        super().__init__(seed)
        self.drop_fraction = check_float(drop_fraction, "drop_fraction", "RigL", 0, 1)
        self.update_every = check_int(update_every, "update_every", "RigL")
        self.anneal = check_choice(anneal, "anneal", "RigL", ("cosine", "constant"))
        if stop_step is not None and stop_step not in Interval(int, 1):
            raise invalid("stop_step", "RigL", f"{Interval(int, 1)} or None", stop_step)
        self.stop_step = None if stop_step is None else int(stop_step)

    def _params(self) -> dict:
        return {
            "drop_fraction": self.drop_fraction,
            "update_every": self.update_every,
            "anneal": self.anneal,
            "stop_step": self.stop_step,
            "seed": self.seed,
        }

    @property
    def schedule(self):
        """``fit``'s default schedule for this rule: every ``update_every`` optimizer steps."""

        return every_steps(self.update_every)

    def attach(self, model: nn.Module) -> None:
        """Make every sparse module of ``model`` keep the activity of its last backward pass."""
        for _, net in sparse_modules(model):
            net.retain_activity = True

    def fraction(self, step: int) -> float:
        """The drop fraction at optimizer step ``step``."""
        if self.stop_step is None:
            return self.drop_fraction
        if step >= self.stop_step:
            return 0.0
        if self.anneal == "constant":
            return self.drop_fraction
        return self.drop_fraction / 2 * (1 + math.cos(math.pi * step / self.stop_step))

    def step(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict:
        """Rewire every sparse module once; return ``{name: {"removed", "added"}}``.

        In a :class:`~dagnet.nn.Population`'s network each member drops its
        own fraction and grows as many between its own nodes.
        """
        self.updates += 1
        frac = self.fraction(self.updates * self.update_every)
        changes = {}
        for name, net in sparse_modules(model):
            activity = net.last_activity()
            if activity is None:
                raise RuntimeError(
                    f"RigL needs the gradients of the last backward pass of module {name!r}: "
                    "call rule.attach(model) before training (fit does) and step after a "
                    "backward pass."
                )
            H, G = activity
            evolvable_mask = net.evolvable_edges()
            src, dst = net.edge_positions()
            weight = net.weight.detach()
            removed, grown_u, grown_v = [], [], []
            for sp in spaces_of(net):  # a Population's members one by one
                evolvable = sp.edges[evolvable_mask[sp.edges]]
                k = int(frac * evolvable.size)
                remove = evolvable[_smallest_magnitudes(weight, evolvable, k)]
                keep = np.ones(net.num_edges, dtype=bool)
                keep[remove] = False
                kept = sp.edges[keep[sp.edges]]
                existing = np.sort(edge_keys(sp.local(src[kept]), sp.local(dst[kept]), sp.size))
                if sp.size == H.shape[0]:
                    h, g = H.detach(), G.detach()
                else:
                    rows = torch.from_numpy(sp.positions).to(H.device)
                    h, g = H.detach().index_select(0, rows), G.detach().index_select(0, rows)
                u, v = top_gradient_pairs(h, g, sp.limit, sp.source_ok, existing, k)
                removed.append(remove)
                grown_u.append(sp.positions[u])
                grown_v.append(sp.positions[v])
            node_index = net.node_index.cpu().numpy()
            changes[name] = net.rewire_(
                remove=np.concatenate(removed),
                add_source=node_index[np.concatenate(grown_u)],
                add_target=node_index[np.concatenate(grown_v)],
                optimizer=optimizer,
            )
        return changes
