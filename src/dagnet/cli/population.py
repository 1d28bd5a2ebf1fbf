"""The ``[population]`` section of a training configuration: a grid of wirings trained as one population.

Example::

    [population]
    generator = "small_world"     # erdos_renyi (p) | small_world (k, p) | scale_free (m)
    neurons = 64                  # hidden neurons of each member
    fan_in = 8                    # inputs of each hidden neuron without a hidden predecessor
    fan_out = 16                  # hidden neurons each output reads
    activations = ["relu", "tanh"]
    repeats = 3                   # members per grid point and activation (seeds seed + i)

    [population.grid]             # every combination of these generator parameters
    k = [2, 4, 8]
    p = [0.0, 0.25, 0.5, 1.0]

Member ``i`` gets ``seed + i`` for its wiring and its initial values. The run
writes ``population.csv`` (one line per member: parameters, activation,
repeat, graph statistics, final and best test accuracy) and
``population.png`` (:func:`dagnet.analysis.plot_study`) in ``out_dir``.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import numbers
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..analysis.populations import STATISTICS, graph_statistics, plot_study
from ..fileio import atomic_write
from ..nn.population import Population
from ..topology import erdos_renyi_dag, scale_free_dag, small_world_dag, with_io

__all__ = ["POPULATION_DEFAULTS", "GENERATORS", "check_population", "build_population", "write_study"]

POPULATION_DEFAULTS: dict[str, Any] = {
    "generator": "erdos_renyi",
    "neurons": 64,
    "fan_in": 8,
    "fan_out": 16,
    "activations": ["relu"],
    "repeats": 1,
    "grid": {},
}

#: Generator name -> (function of (n, *params, seed, as_wiring), its parameters).
GENERATORS = {
    "erdos_renyi": (erdos_renyi_dag, ("p",)),
    "small_world": (small_world_dag, ("k", "p")),
    "scale_free": (scale_free_dag, ("m",)),
}


def _int_at_least(v, low: int) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= low


def check_population(given: Any) -> dict:
    """Return the ``[population]`` table merged over :data:`POPULATION_DEFAULTS`, or raise a ValueError naming the key.

    Examples
    --------
    >>> check_population({"grid": {"p": [0.1, 0.2]}, "repeats": 2})["repeats"]
    2
    """
    if not isinstance(given, dict):
        raise ValueError(f"population must be a table, got {given!r}.")
    unknown = sorted(set(given) - set(POPULATION_DEFAULTS))
    if unknown:
        raise ValueError(
            f"Unknown key 'population.{unknown[0]}' in the configuration; known: {', '.join(POPULATION_DEFAULTS)}."
        )
    cfg = {**POPULATION_DEFAULTS, **given}
    if cfg["generator"] not in GENERATORS:
        raise ValueError(
            f"population.generator must be one of {', '.join(map(repr, GENERATORS))}, got {cfg['generator']!r}."
        )
    for key in ("neurons", "fan_in", "fan_out", "repeats"):
        if not _int_at_least(cfg[key], 1):
            raise ValueError(f"population.{key} must be an integer >= 1, got {cfg[key]!r}.")
    acts = cfg["activations"]
    if not isinstance(acts, list) or not acts or not all(isinstance(a, str) for a in acts):
        raise ValueError(f"population.activations must be a non-empty array of names, got {acts!r}.")
    grid = cfg["grid"]
    if not isinstance(grid, dict):
        raise ValueError(f"population.grid must be a table of arrays, got {grid!r}.")
    params = GENERATORS[cfg["generator"]][1]
    for key, values in grid.items():
        if key not in params:
            raise ValueError(
                f"population.grid.{key} is not a parameter of {cfg['generator']!r}, which takes {', '.join(params)}."
            )
        ok = (
            isinstance(values, list)
            and values
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in values)
        )
        if not ok:
            raise ValueError(f"population.grid.{key} must be a non-empty array of numbers, got {values!r}.")
    missing = [p for p in params if p not in grid]
    if missing:
        raise ValueError(f"population.grid needs {', '.join(missing)} for the generator {cfg['generator']!r}.")
    return cfg


def build_population(cfg: dict, num_features: int, num_classes: int, seed: int) -> tuple[Population, list[dict]]:
    """Return the population a checked ``[population]`` table describes, and one row per member.

    A row holds the member's grid parameters, ``activation``, ``repeat`` and
    the :func:`~dagnet.analysis.graph_statistics` of its hidden graph.

    Examples
    --------
    >>> cfg = check_population({"neurons": 8, "grid": {"p": [0.2, 0.5]}, "repeats": 2})
    >>> pop, rows = build_population(cfg, 4, 3, seed=0)
    >>> len(pop), sorted(rows[0])[:3]
    (4, ['activation', 'clustering', 'density'])
    """
    generate, params = GENERATORS[cfg["generator"]]
    grid = [dict(zip(params, values)) for values in itertools.product(*(cfg["grid"][p] for p in params))]
    wirings, rows = [], []
    points = itertools.product(grid, cfg["activations"], range(cfg["repeats"]))
    for i, (point, activation, repeat) in enumerate(points):
        args = {k: int(v) if k in ("k", "m") else float(v) for k, v in point.items()}
        try:
            hidden = generate(cfg["neurons"], **args, seed=seed + i, as_wiring=True)
        except ValueError as err:
            raise ValueError(f"population.grid: {cfg['generator']} with {args}: {err}") from None
        w = with_io(hidden, num_features, num_classes, cfg["fan_in"], cfg["fan_out"], seed=seed + i)
        n_h = hidden.num_nodes
        wirings.append(replace(w, activation=[None] * num_features + [activation] * n_h + [None] * num_classes))
        rows.append({"member": i, **point, "activation": activation, "repeat": repeat, **graph_statistics(hidden)})
    io_labels = dict(inputs=[("in", j) for j in range(num_features)], outputs=[("out", j) for j in range(num_classes)])
    return Population(wirings, seed=seed, **io_labels), rows


def write_study(out_dir: str | Path, rows: list[dict], metrics: list[dict], swept: list[str]) -> tuple[Path, Path]:
    """Write ``population.csv`` and ``population.png`` from the members' rows and fit's metrics; return their paths.

    Each member's row gains ``test_accuracy`` and ``test_loss`` (after the
    last epoch) and ``best_test_accuracy`` (over the epochs).
    """
    out = Path(out_dir)
    table = []
    for i, row in enumerate(rows):
        acc = [m["members.test_accuracy"][i] for m in metrics if m.get("members.test_accuracy") is not None]
        last = metrics[-1]
        table.append(
            {
                **row,
                "test_accuracy": acc[-1] if acc else None,
                "best_test_accuracy": max(acc) if acc else None,
                "test_loss": last["members.test_loss"][i],
            }
        )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(table[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    csv_path = atomic_write(out / "population.csv", lambda tmp: Path(tmp).write_text(buf.getvalue()))
    value = "best_test_accuracy" if table[0]["best_test_accuracy"] is not None else "test_loss"
    fig = plot_study(table, [s for s in swept if s not in STATISTICS], value=value)
    png_path = atomic_write(out / "population.png", lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    return csv_path, png_path
