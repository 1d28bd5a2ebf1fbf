"""Which kernel runs which nodes: the engine's schedule, from a plan's level sizes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Segment", "build_schedule", "without_ranges", "split_at", "PARALLEL_MIN_WORK", "CHUNKS_PER_THREAD"]

# A level is split across threads only when it has at least this many edges +
# nodes: below that, starting the threads costs more than it saves
# (measured with `dagnet bench engine`, batch 128).
PARALLEL_MIN_WORK = 2048

# A parallel level is cut into about this many chunks per thread, which the
# threads take in turn: a thread that the OS deschedules (a busy machine)
# holds up at most one chunk while the others take the rest.
CHUNKS_PER_THREAD = 8


@dataclass(frozen=True)
class Segment:
    """Positions ``lo..hi-1``, run by one kernel call.

    ``parallel`` segments are one level split across threads, ``chunk`` nodes
    at a time (0 for serial segments); serial ones may span many levels.
    ``custom`` segments are one level holding nodes with a torch-code
    activation, applied between kernel calls.
    """

    lo: int
    hi: int
    parallel: bool
    custom: bool
    chunk: int = 0


def build_schedule(
    level_ptr: np.ndarray, work: np.ndarray, custom_levels: set[int], threads: int, first_level: int = 1
) -> list[Segment]:
    """Return the segments covering levels ``first_level..`` in order.

    ``work[l]`` is the edge count the pass handles on level ``l`` (in-edges for
    the forward pass, out-edges for the backward pass).

    Examples
    --------
    >>> [(s.lo, s.hi) for s in build_schedule(np.array([0, 2, 3, 4]), np.array([0, 2, 1]), set(), 1)]
    [(2, 4)]
    >>> build_schedule(np.array([0, 10, 5010]), np.array([0, 9000]), set(), 2)
    [Segment(lo=10, hi=5010, parallel=True, custom=False, chunk=313)]
    """
    segments: list[Segment] = []
    run_lo = None
    num_levels = level_ptr.size - 1
    for l in range(first_level, num_levels):
        a, b = int(level_ptr[l]), int(level_ptr[l + 1])
        if a == b:
            continue
        custom = l in custom_levels
        parallel = threads > 1 and int(work[l]) + (b - a) >= PARALLEL_MIN_WORK
        if not custom and not parallel:
            if run_lo is None:
                run_lo = a
            continue
        if run_lo is not None:
            segments.append(Segment(run_lo, a, False, False))
            run_lo = None
        chunk = -(-(b - a) // (threads * CHUNKS_PER_THREAD)) if parallel else 0
        segments.append(Segment(a, b, parallel, custom, chunk))
    if run_lo is not None:
        segments.append(Segment(run_lo, int(level_ptr[-1]), False, False))
    return segments


def without_ranges(segments: list[Segment], ranges: list[tuple[int, int]]) -> list[Segment]:
    """Return ``segments`` with the positions of ``ranges`` (sorted, disjoint ``(lo, hi)``) cut out.

    What another kernel computes (a dense block) is left out; a segment cut
    in pieces keeps its kind, and a custom one stays custom on its last piece
    only (its torch-code rows are applied once, after the level's kernels).

    Examples
    --------
    >>> [(s.lo, s.hi, s.custom) for s in without_ranges([Segment(0, 10, False, True)], [(2, 4), (8, 10)])]
    [(0, 2, False), (4, 8, True)]
    """
    out: list[Segment] = []
    for seg in segments:
        pieces, lo = [], seg.lo
        for a, b in ranges:
            if b <= lo or a >= seg.hi:
                continue
            if a > lo:
                pieces.append((lo, a))
            lo = max(lo, b)
        if lo < seg.hi:
            pieces.append((lo, seg.hi))
        if not pieces:
            if seg.custom:  # nothing left for the kernel, but the level's torch code still runs
                out.append(Segment(seg.lo, seg.lo, seg.parallel, True, seg.chunk))
            continue
        for k, (a, b) in enumerate(pieces):
            out.append(Segment(a, b, seg.parallel, seg.custom and k == len(pieces) - 1, seg.chunk))
    return out


def split_at(segments: list[Segment], cuts: list[int]) -> list[Segment]:
    """Return ``segments`` with every serial one that spans a position of ``cuts`` cut there.

    Something runs between the kernel calls at those positions (a dense
    block's GEMM at the start of its level).

    Examples
    --------
    >>> [(s.lo, s.hi) for s in split_at([Segment(0, 10, False, False)], [4, 10])]
    [(0, 4), (4, 10)]
    """
    out: list[Segment] = []
    for seg in segments:
        lo = seg.lo
        for c in cuts:
            if lo < c < seg.hi:
                out.append(Segment(lo, c, seg.parallel, False, seg.chunk))
                lo = c
        out.append(Segment(lo, seg.hi, seg.parallel, seg.custom, seg.chunk))
    return out
