"""What the engine benchmark runs: its constants, the wiring, the batch, each implementation and its step."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..nn import DAGNetwork
from ..seeding import torch_generator
from ..topology.erdos_renyi import erdos_renyi_dag
from ..wiring import Wiring
from .baselines import FourWardNet, SequentialNet

__all__ = ["wiring_for", "make_batch", "build_model", "training_step", "warm_up"]

IMPLEMENTATIONS = ("dagnet", "4ward", "sequential")
NAMES = {"dagnet": "dagnet", "4ward": "4Ward", "sequential": "seq"}
GRID_SIZES = (1000, 2000, 4000, 8000)
GRID_DENSITIES = ("10/N", "0.01")
QUICK_SIZES = (100, 200)
QUICK_DENSITIES = ("10/N",)
SEQUENTIAL_MAX_N = 2000
#: Scale runs: (nodes, expected edges); the ER probability is chosen to give that many edges.
SCALE_RUNS = {"standard": (100_000, 1_000_000), "huge": (1_000_000, 10_000_000)}
SCALE_CHOICES = ("standard", "huge", "all")
#: The engine's targets (checked and reported by the harness, never asserted in tests).
TARGET_SPEEDUP = 20.0
TARGET_BUILD_S = 5.0
TARGET_STEP_MS = {"standard": 150.0, "huge": 4000.0}
TARGET_PEAK_MIB = {"standard": 1024.0, "huge": 2560.0}
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


def build_model(impl: str, wiring: Wiring, seed: int) -> torch.nn.Module:
    """Build ``impl`` on ``wiring`` (dagnet from the seed; baselines from the wiring's values)."""
    if impl == "dagnet":
        return DAGNetwork(wiring, seed=seed, dtype=DTYPE)
    if impl == "4ward":
        return FourWardNet(wiring, seed=seed, dtype=DTYPE)
    if impl == "sequential":
        return SequentialNet(wiring, seed=seed, dtype=DTYPE)
    raise ValueError(f"Unknown implementation {impl!r}; expected one of {IMPLEMENTATIONS}.")


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


def warm_up() -> None:
    """Load the compiled kernels and torch's lazy state, so no timing pays for them."""
    wiring = wiring_for(24, 0.3, 0)
    x, y = make_batch(wiring, 4, 0)
    net = build_model("dagnet", wiring, 0)
    ref = net.to_wiring()
    for model in (net, build_model("4ward", ref, 0), build_model("sequential", ref, 0)):
        training_step(model, x, y)()
