"""What a run of the engine benchmark is: its configuration, the grid, and the rows it measures."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from .._checks import check_bool, check_choice, check_int
from .device import BACKEND_CHOICES, resolve_device
from .workload import CUDA_BACKENDS, CUDA_SCALE, GRID_DENSITIES, GRID_SIZES, SCALE_RUNS, SEQUENTIAL_MAX_N

__all__ = ["BenchConfig", "GridPoint", "GridRow", "ScaleRow", "BenchResult", "make_grid"]


def _density_value(spec: str, n: int) -> float:
    if spec.endswith("/N"):
        return min(1.0, float(spec[:-2]) / n)
    return float(spec)


def _check_density(spec: str) -> str:
    """Return ``spec`` ("10/N" style or a float in (0, 1]) or raise ValueError."""
    text = str(spec).strip()
    try:
        value = float(text[:-2]) if text.endswith("/N") else float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and (text.endswith("/N") or value <= 1)) or not math.isfinite(value):
        raise ValueError(
            f"A density must be a probability in (0, 1] or 'C/N' with C > 0 (mean degree C). Got {spec!r} instead."
        )
    return text


@dataclass
class BenchConfig:
    """What one benchmark run does.

    Parameters
    ----------
    sizes : sequence of int
        Node counts of the grid (empty: no grid).
    densities : sequence of str
        Edge probabilities of the grid: a float in (0, 1] or ``"C/N"``.
    threads : sequence of int, optional
        Thread counts; every row is measured once per count. Default: 1 and 2
        on the CPU, 1 on CUDA.
    repeats : int
        Timed steps per implementation and row (the median is reported).
    warmup : int
        Untimed steps per implementation before timing.
    batch : int
        Batch size.
    seed : int
        Seed of the graphs, the initial values and the batch.
    sequential_max : int, optional
        Largest N for which the per-node baseline runs. Default: 2000 on the
        CPU, 0 (never) on CUDA, where its one launch per node says nothing new.
    memory : bool
        Measure peak memory (one child process per implementation and row).
    memory_jobs : int
        Memory child processes run at once (they do not disturb each other's RSS,
        and never run while timing).
    scale : sequence of str, optional
        Scale runs to do after the grid: names of :data:`SCALE_RUNS`. Default:
        ``("standard",)`` on the CPU; on CUDA ``("standard", "huge", "giant")``,
        the 10^8-edge ``"giant"`` run only if its memory estimate fits.
    device : {"cpu", "cuda"}
        Where the models run; "cuda" needs a GPU (ValueError otherwise).
    backends : sequence of str
        DAGNetwork back ends to measure, one row each (names among
        ``"numba"``, ``"torch"``, ``"triton"``; those that cannot run here are
        skipped with a reason). Empty: DAGNetwork's default on the CPU, and
        ``("triton", "torch")`` on CUDA.
    fourward_code : str, optional
        Path of a checkout of 4Ward's own code (github.com/BoCtrl-C/forward),
        measured as one more baseline (:mod:`dagnet.bench.fourward_code`).
    huge : bool
        Run the 10^8-edge scale run even where its memory estimate does not fit.

    Examples
    --------
    >>> BenchConfig(sizes=[100], densities=["10/N"], threads=[1], repeats=2).repeats
    2
    >>> BenchConfig(repeats=0)
    Traceback (most recent call last):
        ...
    ValueError: The 'repeats' parameter of BenchConfig must be an int >= 1. Got 0 instead.
    """

    sizes: Sequence[int] = GRID_SIZES
    densities: Sequence[str] = GRID_DENSITIES
    threads: Sequence[int] | None = None
    repeats: int = 10
    warmup: int = 2
    batch: int = 128
    seed: int = 0
    sequential_max: int | None = None
    memory: bool = True
    memory_jobs: int = 2
    scale: Sequence[str] | None = None
    device: str = "cpu"
    backends: Sequence[str] = ()
    fourward_code: str | None = None
    huge: bool = False

    def __post_init__(self) -> None:
        cuda = resolve_device(self.device).type == "cuda"
        if self.threads is None:
            self.threads = (1,) if cuda else (1, 2)
        if self.sequential_max is None:
            self.sequential_max = 0 if cuda else SEQUENTIAL_MAX_N
        if self.scale is None:
            self.scale = CUDA_SCALE if cuda else ("standard",)
        self.backends = tuple(check_choice(b, "backends", "BenchConfig", BACKEND_CHOICES) for b in self.backends)
        if not self.backends and cuda:
            self.backends = CUDA_BACKENDS
        if self.fourward_code is not None:
            self.fourward_code = str(self.fourward_code)
        self.huge = check_bool(self.huge, "huge", "BenchConfig")
        self.sizes = tuple(check_int(n, "sizes", "BenchConfig", low=2) for n in self.sizes)
        self.densities = tuple(_check_density(d) for d in self.densities)
        self.threads = tuple(check_int(t, "threads", "BenchConfig") for t in self.threads)
        if not self.threads:
            raise ValueError("The 'threads' parameter must list at least one thread count.")
        self.repeats = check_int(self.repeats, "repeats", "BenchConfig")
        self.warmup = check_int(self.warmup, "warmup", "BenchConfig", low=0)
        self.batch = check_int(self.batch, "batch", "BenchConfig")
        self.seed = check_int(self.seed, "seed", "BenchConfig", low=0)
        self.sequential_max = check_int(self.sequential_max, "sequential_max", "BenchConfig", low=0)
        self.memory_jobs = check_int(self.memory_jobs, "memory_jobs", "BenchConfig")
        self.scale = tuple(self.scale)
        for kind in self.scale:
            if kind not in SCALE_RUNS:
                raise ValueError(
                    f"The 'scale' parameter must list names among {tuple(SCALE_RUNS)}. Got {kind!r} instead."
                )


@dataclass(frozen=True)
class GridPoint:
    """One graph of the grid: ``n`` nodes, edge probability ``p`` (from ``density``)."""

    n: int
    p: float
    density: str

    @property
    def label(self) -> str:
        """``p`` as shown in the table, e.g. ``0.005 (10/N)``."""
        p = f"{self.p:.3g}"
        return f"{p} ({self.density})" if self.density.endswith("/N") else p


def make_grid(sizes: Sequence[int], densities: Sequence[str]) -> list[GridPoint]:
    """Return the grid points, sizes outer, densities inner, without duplicates.

    Two densities giving the same ``p`` for one ``n`` (10/N and 0.01 at
    N = 1000) make one point, labelled by the first.

    Examples
    --------
    >>> [(g.n, g.label) for g in make_grid([1000, 2000], ["10/N", "0.01"])]
    [(1000, '0.01 (10/N)'), (2000, '0.005 (10/N)'), (2000, '0.01')]
    """
    points: list[GridPoint] = []
    seen: set = set()
    for n in sizes:
        for d in densities:
            p = _density_value(_check_density(d), n)
            key = (n, round(p, 12))
            if key not in seen:
                seen.add(key)
                points.append(GridPoint(int(n), p, d))
    return points


# --------------------------------------------------------------------------- results


@dataclass
class GridRow:
    """Measurements of one grid point at one thread count.

    Dicts are keyed by implementation (``"dagnet"``, ``"4ward"``,
    ``"4ward-code"``, ``"sequential"``); an implementation that did not run is
    absent. ``backend`` is dagnet's back end where one was named (else empty);
    on CUDA the peak memory is GPU memory.
    """

    threads: int
    point: GridPoint
    edges: int
    levels: int
    dense_size: int  # entries of 4Ward's dense weight blocks
    load: float  # 1-minute load average before the row
    build_s: dict[str, float] = field(default_factory=dict)
    step_s: dict[str, list[float]] = field(default_factory=dict)
    peak_mib: dict[str, float] = field(default_factory=dict)
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    backend: str = ""

    def step_ms(self, impl: str) -> float | None:
        """Median step time of ``impl`` in milliseconds (None if it did not run)."""
        times = self.step_s.get(impl)
        return None if not times else 1e3 * statistics.median(times)

    def speedup(self, impl: str) -> float | None:
        """Median step time of ``impl`` over dagnet's (None if either did not run)."""
        mine, other = self.step_ms("dagnet"), self.step_ms(impl)
        return None if mine is None or other is None else other / mine


@dataclass
class ScaleRow:
    """Measurements of one scale run (dagnet alone) at one thread count and back end.

    ``plan_s`` is None where the plan was not timed on its own (on CUDA: it is
    the same CPU work as on the CPU); on CUDA the peaks are GPU memory.
    """

    kind: str
    threads: int
    n: int
    edges: int
    levels: int
    generate_s: float
    plan_s: float | None  # validation + layering + plan (compile_plan)
    build_s: float  # the whole DAGNetwork constructor (includes the plan)
    step_s: list[float]
    load: float
    fourward_dense: int  # entries 4Ward's dense blocks would need (not built)
    peak_build_mib: float | None = None
    peak_step_mib: float | None = None
    backend: str = ""

    def step_ms(self) -> float:
        """Median step time in milliseconds."""
        return 1e3 * statistics.median(self.step_s)

    @property
    def peak_mib(self) -> float | None:
        """Overall peak (building or training), MiB above the base."""
        vals = [v for v in (self.peak_build_mib, self.peak_step_mib) if v is not None]
        return max(vals) if vals else None


@dataclass
class BenchResult:
    """Everything one run measured, with the conditions it ran under.

    ``notes`` says what was skipped and why; ``device_name`` describes the GPU
    (empty on the CPU).
    """

    config: BenchConfig
    command: str
    grid: list[GridRow]
    scale: list[ScaleRow]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    memory_method: str
    started: str
    seconds: float
    notes: list[str] = field(default_factory=list)
    device_name: str = ""
