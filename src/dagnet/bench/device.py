"""Where the engine benchmark runs: the device, its clock, its memory, and the back ends it can use.

On the CPU nothing here changes how the benchmark measures (its peak memory
comes from fresh processes, :mod:`dagnet.bench.memory`). On CUDA:

* steps are timed between two ``torch.cuda.synchronize()`` calls
  (:func:`synchronizer`), so a block of steps counts only once the GPU has
  finished it;
* peak memory is ``torch.cuda.max_memory_allocated`` above what was
  allocated before the model was built (:class:`CudaPeak`), in the process
  itself;
* a model that would not fit in the free GPU memory is skipped with a
  reason (:func:`gpu_shortfall`), its size estimated before anything is
  allocated.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from .._checks import check_choice

__all__ = [
    "DEVICES",
    "BACKEND_CHOICES",
    "resolve_device",
    "synchronizer",
    "describe_device",
    "CudaPeak",
    "dagnet_gpu_bytes",
    "fourward_gpu_bytes",
    "gpu_shortfall",
    "backend_unavailable",
]

DEVICES = ("cpu", "cuda")
#: Back ends the benchmark can be asked for; which exist is read from dagnet.engine.backends.BACKENDS.
BACKEND_CHOICES = ("numba", "torch", "triton")

# Rough GPU costs of a training step, float32, kept on the high side (a point is skipped, not crashed).
_EDGE_BYTES = 64  # weight, gradient, the index tensors and their per-level int64 copies
_NODE_SAMPLE_BYTES = 16  # per node and batch column: activations, their gradients, the level temporaries
_WORKSPACE_BYTES = 1 << 30  # sparse-product buffers and the weight gradient's bounded gather
_DENSE_COPIES = 5  # 4Ward's W, M, M * W, and the gradients of W and M * W
_MIB = 2**20
_GIB = 2**30


def resolve_device(name: str, owner: str = "BenchConfig") -> torch.device:
    """Return the torch device for ``name`` ("cpu" or "cuda"), or raise if it is not here.

    Raises
    ------
    ValueError
        For another name, or for "cuda" where torch sees no CUDA device (the
        message says what torch reports and what to do).

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    check_choice(name, "device", owner, DEVICES)
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(
            f"--device cuda needs a CUDA GPU, and torch sees none here (torch {torch.__version__}, built for "
            f"CUDA {torch.version.cuda}; torch.cuda.is_available() is False). Run it on a machine with a GPU, "
            "or use --device cpu."
        )
    return torch.device("cuda", torch.cuda.current_device())


def synchronizer(device: torch.device) -> Callable[[], None] | None:
    """Return a function that waits for ``device`` to finish its queued work, or None on the CPU.

    Examples
    --------
    >>> synchronizer(torch.device("cpu")) is None
    True
    """
    if device.type != "cuda":
        return None
    return lambda: torch.cuda.synchronize(device)


def describe_device(device: torch.device) -> str:
    """Return the GPU's name, memory and software versions, for the report (empty on the CPU).

    Examples
    --------
    >>> describe_device(torch.device("cpu"))
    ''
    """
    if device.type != "cuda":
        return ""
    props = torch.cuda.get_device_properties(device)
    try:
        import triton

        triton_version = f", triton {triton.__version__}"
    except Exception:  # noqa: BLE001 - absent or broken: the report says so
        triton_version = ", triton not importable"
    return (
        f"{torch.cuda.get_device_name(device)} ({props.total_memory / _GIB:.1f} GiB, compute capability "
        f"{props.major}.{props.minor}, {props.multi_processor_count} multiprocessors), CUDA "
        f"{torch.version.cuda}{triton_version}"
    )


class CudaPeak:
    """Peak GPU memory above what was allocated when this meter was made.

    Synchronises, records ``torch.cuda.memory_allocated`` as the base and
    resets the peak counter; :meth:`mib` and :meth:`held_mib` then read the
    peak and the current allocation above that base.

    Examples
    --------
    >>> meter = CudaPeak(torch.device("cuda"))  # doctest: +SKIP
    >>> x = torch.empty(2**20, device="cuda")  # doctest: +SKIP
    >>> meter.mib()  # doctest: +SKIP
    4.0
    """

    def __init__(self, device: torch.device):
        self.device = device
        torch.cuda.synchronize(device)
        self.base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)

    def mib(self) -> float:
        """Peak MiB above the base since the meter was made."""
        torch.cuda.synchronize(self.device)
        return (torch.cuda.max_memory_allocated(self.device) - self.base) / _MIB

    def held_mib(self) -> float:
        """MiB allocated now above the base (what a built model keeps)."""
        return (torch.cuda.memory_allocated(self.device) - self.base) / _MIB


def dagnet_gpu_bytes(edges: float, nodes: float, batch: int) -> float:
    """Return the estimated GPU bytes of training a DAGNetwork of that size (float32, high side).

    Examples
    --------
    >>> round(dagnet_gpu_bytes(10**8, 10**7, 128) / 2**30)  # GiB: the 10^8-edge scale run
    26
    """
    return edges * _EDGE_BYTES + nodes * batch * _NODE_SAMPLE_BYTES + _WORKSPACE_BYTES


def fourward_gpu_bytes(dense_entries: float, nodes: float, batch: int) -> float:
    """Return the estimated GPU bytes of training a 4Ward network with that many dense entries.

    Its weights, masks, their product and two gradients are dense (float32);
    its activations are a (batch, nodes) buffer and one gathered block per layer.

    Examples
    --------
    >>> fourward_gpu_bytes(10**9, 8000, 128) > 2e10
    True
    """
    return 4.0 * (_DENSE_COPIES * dense_entries + 4 * batch * nodes) + _WORKSPACE_BYTES


def gpu_shortfall(need_bytes: float, device: torch.device, what: str) -> str | None:
    """Return why ``what`` would not fit in ``device``'s free memory, or None if it fits (or on the CPU).

    Examples
    --------
    >>> gpu_shortfall(1e30, torch.device("cpu"), "a model") is None
    True
    """
    if device.type != "cuda":
        return None
    free, total = torch.cuda.mem_get_info(device)
    if need_bytes <= free:
        return None
    return (
        f"{what} needs about {need_bytes / _GIB:.1f} GiB of GPU memory by estimate; "
        f"{free / _GIB:.1f} GiB of {total / _GIB:.1f} GiB are free"
    )


def backend_unavailable(name: str, device: torch.device) -> str | None:
    """Return why back end ``name`` cannot run on ``device`` here, or None if it can.

    A back end must be registered in :data:`dagnet.engine.backends.BACKENDS`;
    ``"triton"`` needs the triton package (and, on the CPU, its interpreter:
    ``TRITON_INTERPRET=1``); ``"numba"`` runs on the CPU only.

    Examples
    --------
    >>> backend_unavailable("torch", torch.device("cpu")) is None
    True
    >>> backend_unavailable("numba", torch.device("cuda"))
    'the numba back end runs on the CPU only'
    """
    from ..engine.backends import BACKENDS

    check_choice(name, "backend", "backend_unavailable", BACKEND_CHOICES)
    if name not in BACKENDS:
        return f"this dagnet has no {name!r} back end (dagnet.engine.backends.BACKENDS is {BACKENDS})"
    if name == "numba" and device.type != "cpu":
        return "the numba back end runs on the CPU only"
    if name == "triton":
        try:
            import triton  # noqa: F401
        except Exception as err:  # noqa: BLE001 - any failure to import means no triton here
            return f"triton does not import ({type(err).__name__}: {err})"
        if device.type == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
            return "the triton back end runs on CUDA (on the CPU only under TRITON_INTERPRET=1)"
    return None
