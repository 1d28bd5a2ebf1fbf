"""The CPU engine's threads: how numba's workers wait, and how a level's nodes are shared out.

A dagnet process holds two OpenMP runtimes: torch's (``torch/lib/libgomp``,
loaded by ``import torch``) and the one numba's ``omp`` threading layer links
(the system's ``libgomp``, loaded when numba first runs a parallel kernel).
Left to its defaults, GNU OpenMP keeps an idle worker spinning for about
300,000 polls (milliseconds) after each parallel region. The engine runs one
region per wide level, with torch ops between passes, so the workers of each
runtime spin while the other's run, and a spinning worker holds a core that a
working thread (or another process) needs. On a machine with as many threads
as free cores that is harmless; with one core taken by another process it
made two threads several times slower than one.

GNU OpenMP reads its wait policy once, when it is loaded. numba's layer is
therefore started here, before its first kernel, with ``GOMP_SPINCOUNT`` set
to :data:`SPIN_COUNT` for that load only (the variable is removed again, so
child processes and torch are untouched). A wait policy the user set
(``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``) is left as it is and applies to
both runtimes. Torch's own runtime is never changed.

The parallel kernels also share a level's nodes out dynamically: the threads
take chunks of nodes from one atomic counter (:func:`claim`) until none is
left, so a thread the OS deschedules holds up at most its current chunk.

Every wide level ends in a barrier that waits for all threads, so a thread
without a core of its own (the others' processes keep them busy) makes each
level wait for the OS to schedule it. A pass therefore runs on at most as many
threads as there are cores that other processes leave free
(:func:`usable_threads`, checked before each pass, never more than asked for).
Which thread computes a node, and how many threads there are, does not change
what it computes: results stay identical for any thread count.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass

import numba
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = [
    "SPIN_COUNT",
    "WAIT_VARIABLES",
    "ThreadConfig",
    "start_numba_threads",
    "openmp_libraries",
    "free_cores",
    "usable_threads",
    "claim",
]

#: Polls an idle numba worker makes before it sleeps (GNU OpenMP's GOMP_SPINCOUNT;
#: its default is 300,000): long enough to bridge the gap between two levels of
#: a pass, short enough not to hold a core through the torch ops between passes.
SPIN_COUNT = 10_000

#: The variables by which a user sets GNU OpenMP's wait policy themselves.
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")

#: Seconds a count of free cores is reused before the system is asked again.
RECHECK_S = 0.01

_lock = threading.Lock()
_last_check = [-1.0, 0]  # when, and how many cores were free


@dataclass(frozen=True)
class ThreadConfig:
    """How numba's threading layer was started.

    Attributes
    ----------
    layer : str
        ``numba.threading_layer()``: ``"omp"``, ``"tbb"`` or ``"workqueue"``.
    spin_count : int or None
        The ``GOMP_SPINCOUNT`` dagnet gave numba's OpenMP runtime; None where it
        set none (a layer started before dagnet's first kernel, a user's own
        wait policy, a layer that is not OpenMP, or an OpenMP runtime that was
        already loaded, which has read its settings before).
    user_policy : dict of str to str
        The wait-policy variables the user had set (kept as they are).
    openmp : tuple of str
        The OpenMP libraries mapped into the process once the layer runs.
    """

    layer: str
    spin_count: int | None
    user_policy: dict
    openmp: tuple


_config: ThreadConfig | None = None


def openmp_libraries() -> tuple[str, ...]:
    """Return the paths of the OpenMP runtimes mapped into this process (Linux; empty elsewhere).

    Examples
    --------
    >>> all("omp" in path for path in openmp_libraries())
    True
    """
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/" in line}
    except OSError:
        return ()
    names = ("libgomp", "libiomp", "libomp")
    return tuple(sorted(p for p in paths if any(os.path.basename(p).startswith(n) for n in names)))


def start_numba_threads() -> ThreadConfig:
    """Start numba's threading layer (once per process) and return how it was started.

    Before the layer loads, ``GOMP_SPINCOUNT`` is set to :data:`SPIN_COUNT`
    unless the user set a wait policy (see the module's description); it is
    removed again right after. Later calls return the first call's result.

    Examples
    --------
    >>> start_numba_threads().layer in ("omp", "tbb", "workqueue")
    True
    """
    global _config
    with _lock:
        if _config is None:
            _config = _start()
        return _config


def _start() -> ThreadConfig:
    from numba.np.ufunc import parallel

    user = {k: os.environ[k] for k in WAIT_VARIABLES if k in os.environ}
    before = openmp_libraries()
    started = parallel._is_initialized  # by a kernel that ran before dagnet's
    ours = not user and not started
    if ours:
        os.environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
    try:
        numba.get_num_threads()  # loads and starts the layer
    finally:
        if ours:
            del os.environ["GOMP_SPINCOUNT"]
    layer = numba.threading_layer()
    after = openmp_libraries()
    # The setting reached a runtime only if the layer loaded one afresh.
    applied = ours and layer == "omp" and bool(set(after) - set(before))
    return ThreadConfig(layer, SPIN_COUNT if applied else None, user, after)


def _running_tasks() -> int:
    """Threads running or ready to run on the whole machine (the fourth field of /proc/loadavg)."""
    fd = os.open("/proc/loadavg", os.O_RDONLY)
    try:
        return int(os.read(fd, 256).split()[3].split(b"/")[0])
    finally:
        os.close(fd)


def _own_running_tasks() -> int:
    """This process's threads that are running or ready to run (state R in /proc/self/task)."""
    count = 0
    with os.scandir("/proc/self/task") as tasks:
        for task in tasks:
            try:
                with open(os.path.join(task.path, "stat"), "rb") as f:
                    stat = f.read()
            except OSError:  # the thread has ended
                continue
            count += stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] == b"R"
    return count


def free_cores(wanted: int = 1) -> int | None:
    """Return the cores that other processes leave free now, or None where the OS does not say (not Linux).

    The machine's cores less the threads of other processes that are running
    or waiting for a core. This process's own threads are read only when the
    total says fewer than ``wanted`` cores may be free (a cheaper check first).

    Examples
    --------
    >>> free_cores() is None or 0 <= free_cores() <= os.cpu_count()
    True
    """
    cores = os.cpu_count() or 1
    try:
        running = _running_tasks()
        if cores - (running - 1) >= wanted:  # even counting every other running thread as foreign
            return cores - (running - 1)
        others = running - _own_running_tasks()
    except (OSError, ValueError, IndexError):
        return None
    return min(cores, max(0, cores - others))


def usable_threads(requested: int) -> int:
    """Return how many of ``requested`` threads a pass should use: at most the free cores, at least one.

    The count of free cores (:func:`free_cores`) is reused for
    :data:`RECHECK_S` seconds, so that small passes do not pay for asking.

    Examples
    --------
    >>> 1 <= usable_threads(2) <= 2
    True
    """
    if requested <= 1:
        return 1
    now = time.monotonic()
    if now - _last_check[0] > RECHECK_S:
        free = free_cores(requested)
        _last_check[:] = [now, sys.maxsize if free is None else free]
    return max(1, min(requested, _last_check[1]))


@intrinsic
def claim(typingctx, counter, step):
    """``counter[0] += step`` atomically; return the value before (int64 counter, a work-sharing cursor)."""

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0], ary, [ir.Constant(ir.IntType(64), 0)])
        return builder.atomic_rmw("add", ptr, args[1], "monotonic")

    if not (isinstance(counter, types.Array) and counter.dtype == types.int64 and isinstance(step, types.Integer)):
        return None
    return types.int64(counter, types.int64), codegen
