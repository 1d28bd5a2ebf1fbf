"""What the engine benchmark runs: its constants, the wiring, the batch, each implementation and its step."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType

import torch
import torch.nn.functional as F

from ..nn import DAGNetwork
from ..seeding import torch_generator
from ..topology.erdos_renyi import erdos_renyi_dag
from ..wiring import Wiring
from .baselines import FourWardNet, SequentialNet
from .fourward_code import FourWardCode

__all__ = ["wiring_for", "make_batch", "build_model", "target_for", "training_step", "warm_up"]

IMPLEMENTATIONS = ("dagnet", "4ward", "4ward-code", "sequential")
NAMES = {"dagnet": "dagnet", "4ward": "4Ward", "4ward-code": "4Ward code", "sequential": "seq"}
GRID_SIZES = (1000, 2000, 4000, 8000)
GRID_DENSITIES = ("10/N", "0.01")
QUICK_SIZES = (100, 200)
QUICK_DENSITIES = ("10/N",)
SEQUENTIAL_MAX_N = 2000
#: Scale runs: (nodes, expected edges); the ER probability is chosen to give that many edges.
SCALE_RUNS = {"standard": (100_000, 1_000_000), "huge": (1_000_000, 10_000_000), "giant": (10_000_000, 100_000_000)}
SCALE_CHOICES = ("standard", "huge", "giant", "all")  # all: standard and huge
#: The scale run done only where its memory estimate fits (or when forced: ``huge=True``).
GATED_RUN = "giant"
#: On CUDA: the back ends measured by default, and the scale runs.
CUDA_BACKENDS = ("triton", "torch")
CUDA_SCALE = ("standard", "huge", "giant")
#: The engine's targets (checked and reported by the harness, never asserted in tests).
TARGET_SPEEDUP = 20.0
TARGET_BUILD_S = 5.0
TARGET_STEP_MS = {"standard": 150.0, "huge": 4000.0}
TARGET_PEAK_MIB = {"standard": 1024.0, "huge": 2560.0}
TARGET_CUDA_SPEEDUP = 10.0  # vs the dense-masked network on the same GPU, every grid point
TARGET_CUDA_STEP_MS = {"huge": 10.0}
LEARNING_RATE = 1e-3
#: Relative tolerance of the output check (float32, deep networks).
CHECK_RTOL = 1e-4
MEMORY_STEPS = 2
DTYPE = torch.float32


def wiring_for(n: int, p: float, seed: int) -> Wiring:
    return erdos_renyi_dag(n, p, seed=seed, as_wiring=True)


def make_batch(wiring: Wiring, batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Input (sources) and target (sinks) of the benchmark, from ``seed``."""
    n_in = int((wiring.in_degree() == 0).sum())
    n_out = int((wiring.out_degree() == 0).sum())
    g = torch_generator(seed)
    x = torch.randn(batch, n_in, generator=g, dtype=DTYPE)
    y = torch.randn(batch, n_out, generator=g, dtype=DTYPE)
    return x, y


def build_model(
    impl: str,
    wiring: Wiring,
    seed: int,
    device: torch.device | None = None,
    backend: str | None = None,
    fourward: ModuleType | None = None,
) -> torch.nn.Module:
    """Build ``impl`` on ``wiring`` (dagnet from the seed; baselines from the wiring's values).

    ``backend`` is DAGNetwork's (None: its default); ``fourward`` is 4Ward's
    ``forward.models`` (from :func:`~dagnet.bench.fourward_code.load_fourward`),
    needed for ``"4ward-code"``.
    """
    if impl == "dagnet":
        return DAGNetwork(wiring, seed=seed, dtype=DTYPE, device=device, backend=backend)
    if impl == "4ward":
        return FourWardNet(wiring, seed=seed, dtype=DTYPE, device=device)
    if impl == "4ward-code" and fourward is not None:
        return FourWardCode(fourward, wiring, seed=seed, device=device)
    if impl == "sequential":
        return SequentialNet(wiring, seed=seed, dtype=DTYPE, device=device)
    raise ValueError(f"Unknown implementation {impl!r}; expected one of {IMPLEMENTATIONS} (4ward-code with fourward).")


def target_for(model: torch.nn.Module, y: torch.Tensor) -> torch.Tensor:
    """Return the columns of ``y`` (one per DAGNetwork output) that ``model`` computes.

    All of them, except for 4Ward's code (:class:`FourWardCode`), whose
    outputs leave out the nodes without edges.
    """
    columns = getattr(model, "output_columns", None)
    return y if columns is None else y[:, columns]


def training_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    """Return a function doing one full training step of ``model``: MSE loss, plain SGD.

    The update is ``p -= lr * p.grad`` per parameter, written out: it is what
    ``torch.optim.SGD`` (no momentum, CPU) does, without importing
    ``torch._dynamo`` (1.5 s per memory child) or its bookkeeping.
    """
    params = [p for p in model.parameters() if p.requires_grad]

    def step() -> None:
        for p in params:
            p.grad = None
        loss = F.mse_loss(model(x), y)
        loss.backward()
        with torch.no_grad():
            for p in params:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-LEARNING_RATE)

    return step


def warm_up(device: torch.device | None = None, backends: Sequence[str | None] = (None,)) -> None:
    """Load the compiled kernels and torch's lazy state, so no timing pays for them.

    One step of a tiny network per back end and baseline on ``device`` (the
    CPU by default; on CUDA this also creates the context and the library
    handles, and the per-node baseline is left out).
    """
    device = torch.device("cpu") if device is None else device
    wiring = wiring_for(24, 0.3, 0)
    x, y = (t.to(device) for t in make_batch(wiring, 4, 0))
    nets = [build_model("dagnet", wiring, 0, device, b) for b in backends]
    ref = nets[0].to_wiring()
    models = [*nets, build_model("4ward", ref, 0, device)]
    if device.type == "cpu":
        models.append(build_model("sequential", ref, 0))
    for model in models:
        training_step(model, x, y)()
