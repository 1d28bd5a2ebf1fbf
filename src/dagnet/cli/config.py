"""Training runs described by a TOML file: ``dagnet train CONFIG.toml``.

A configuration names the data, the model, the optimizer and the evolution
rules; :func:`run_config` builds them and calls :func:`~dagnet.train.fit`.
Every key is checked when the file is loaded: an unknown or misspelt key, or
a value of the wrong type or out of range (``lr = "fast"``), is a ValueError
that names the key.

Example (the keys not shown take the defaults of :data:`DEFAULTS`)::

    seed = 0
    epochs = 100
    batch_size = 128
    out_dir = "runs/madelon-set"
    on_nonfinite = "raise"    # or "continue": train on when the loss becomes NaN/inf

    [data]
    name = "madelon"          # digits | madelon | coil20 | mnist; path = "..." for files

    [model]
    kind = "set_mlp"          # set_mlp | dense_mlp | isotropic_mlp | dag
    hidden = [400, 100, 400]
    epsilon = 20              # or density = 0.05 (spread over layers by ERK)
    dropout = 0.3

    [optimizer]
    name = "sgd"
    lr = 0.01
    momentum = 0.9

    [[evolve]]
    rule = "SET"
    zeta = 0.3

A ``[population]`` table replaces ``[model]`` with a population of wirings
over a grid of generator parameters (see :mod:`dagnet.cli.population`).
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import numbers
import os
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import networkx as nx
import torch
from torch import nn

from .. import data, evolve
from ..distributed.process_group import rank_and_world_size
from ..evolve.schedules import every_epochs, every_steps
from ..nn import DAGNetwork, IsotropicMLP, sparse_mlp
from ..nn.init import INITS
from ..topology import random_io_dag, read_edgelist, read_graphml
from ..train.loop import fit
from ..train.optim import SGDW
from .population import build_population, check_population, write_study

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["DEFAULTS", "load_config", "build_model", "build_rules", "run_config"]

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "epochs": 20,
    "batch_size": 64,
    "out_dir": None,
    "loss": "cross_entropy",
    "checkpoint_every": 1,
    "on_nonfinite": "raise",
    "data": {"name": "digits", "path": None},
    "model": {
        "kind": "set_mlp",
        "hidden": [256, 256],
        "epsilon": None,
        "density": None,
        "activation": "relu",
        "init": "kaiming_uniform",  # set_mlp, dense_mlp: or "he_uniform" (dense fan-in, zero biases, as SET's code)
        "dropout": 0.0,
        # kind = "dag": a random DAG between the data's inputs and outputs, or a graph file
        "graph": None,  # path of an edge list (.txt/.csv/.edgelist) or GraphML file
        "neurons": 300,  # hidden neurons of the random DAG
        "p": 0.04,  # edge probability among them
        "fan_in": 8,
        "fan_out": 24,
    },
    "optimizer": {"name": "adam", "lr": 1e-3, "momentum": 0.0, "weight_decay": 0.0},
    "evolve": [],
    "population": None,  # a [population] table (see dagnet.cli.population): a grid of wirings trained as one
}

_OPTIMIZERS = {"sgd": torch.optim.SGD, "sgdw": SGDW, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
_DATA = ("digits", "madelon", "coil20", "mnist")
_KINDS = ("set_mlp", "dense_mlp", "isotropic_mlp", "dag")
_LOSSES = ("cross_entropy",)
_NONFINITE = ("raise", "continue")
_DENSE_WEIGHT = 16  # a float32 weight of a dense layer, with its gradient and two optimizer moments


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, numbers.Integral):
        return "an integer"
    if isinstance(value, numbers.Real):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _int(low: int):
    return f"an integer >= {low}", lambda v: _is_int(v) and v >= low, _is_int


def _number(low: float, high: float = math.inf, low_open: bool = False, high_open: bool = False):
    if high == math.inf:
        what = f"a number {'>' if low_open else '>='} {low:g}"
    else:
        what = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def ok(v):
        if not _is_number(v) or not math.isfinite(v):
            return False
        return (low < v if low_open else low <= v) and (v < high if high_open else v <= high)

    return what, ok, _is_number


def _one_of(choices: tuple):
    return (
        f"one of {', '.join(map(repr, choices))}",
        lambda v: isinstance(v, str) and v in choices,
        lambda v: isinstance(v, str),
    )


def _optional(spec):
    what, ok, typed = spec
    return f"{what} or left out", lambda v: v is None or ok(v), lambda v: v is None or typed(v)


def _is_str(v) -> bool:
    return isinstance(v, str)


_STRING = ("a string", _is_str, _is_str)
_PATH = _optional(("a path (a string)", lambda v: isinstance(v, str) and v != "", _is_str))
_SIZES = (
    "an array of integers >= 1",
    lambda v: isinstance(v, list) and all(_is_int(x) and x >= 1 for x in v),
    lambda v: isinstance(v, list) and all(_is_int(x) for x in v),
)

#: What each key takes: (description, test, test of the type alone). Checked by :func:`load_config`.
_SPEC: dict[str, Any] = {
    "seed": _optional(("an integer in [0, 2**64)", lambda v: _is_int(v) and 0 <= v < 2**64, _is_int)),
    "epochs": _int(1),
    "batch_size": _int(1),
    "out_dir": _PATH,
    "loss": _one_of(_LOSSES),
    "checkpoint_every": _int(1),
    "on_nonfinite": _one_of(_NONFINITE),
    "data": {"name": _one_of(_DATA), "path": _PATH},
    "model": {
        "kind": _one_of(_KINDS),
        "hidden": _SIZES,
        "epsilon": _optional(_number(0, low_open=True)),
        "density": _optional(_number(0, 1, low_open=True)),
        "activation": _STRING,
        "init": _one_of((*INITS, "he_uniform")),
        "dropout": _number(0, 1, high_open=True),
        "graph": _PATH,
        "neurons": _int(1),
        "p": _number(0, 1),
        "fan_in": _int(1),
        "fan_out": _int(1),
    },
    "optimizer": {
        "name": _one_of(tuple(_OPTIMIZERS)),
        "lr": _number(0, low_open=True),
        "momentum": _number(0),
        "weight_decay": _number(0),
    },
}
_SCHEDULE = {"every_steps": _int(1), "every_epochs": _int(1), "start": _int(0)}


def _check(cfg: dict, spec: dict, where: str = "") -> None:
    """Raise a ValueError naming the first key of ``cfg`` whose value ``spec`` does not accept."""
    for key, rule in spec.items():
        if key not in cfg:
            continue
        if isinstance(rule, dict):
            _check(cfg[key], rule, f"{where}{key}.")
            continue
        what, ok, typed = rule
        value = cfg[key]
        if not ok(value):
            kind = "" if typed(value) else f" ({_kind(value)})"
            raise ValueError(f"{where}{key} must be {what}, got {value!r}{kind}.")


def _merge(defaults: dict, given: dict, where: str) -> dict:
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        if key not in defaults:
            raise ValueError(f"Unknown key {where}{key!r} in the configuration; known: {', '.join(defaults)}.")
        if defaults[key] is None and isinstance(value, dict):  # a table checked on its own
            out[key] = value
        elif isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                raise ValueError(f"{where}{key!r} must be a table, got {value!r}.")
            out[key] = _merge(defaults[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


def load_config(source: str | os.PathLike | dict) -> dict:
    """Return a full configuration: a TOML file (or a dict) merged over :data:`DEFAULTS`.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        For TOML syntax errors, unknown keys, values of the wrong type or out
        of range, and ``[[evolve]]`` tables that do not make a rule (the
        message names the key, and the file).

    Examples
    --------
    >>> cfg = load_config({"epochs": 3, "model": {"hidden": [32]}})
    >>> cfg["epochs"], cfg["model"]["hidden"], cfg["data"]["name"]
    (3, [32], 'digits')
    """
    if isinstance(source, dict):
        return _validated(source)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"load_config takes a path or a dict. Got {type(source).__name__} instead.")
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"No configuration file at {path}.")
    try:
        given = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text (UTF-8) file ({err.reason} at byte {err.start}).") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: {err}") from None
    try:
        return _validated(given)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def _validated(given: dict) -> dict:
    cfg = _merge(DEFAULTS, given, "")
    if not isinstance(cfg["evolve"], list) or not all(isinstance(r, dict) for r in cfg["evolve"]):
        raise ValueError("'evolve' must be a list of tables ([[evolve]] rule = \"SET\" ...).")
    _check(cfg, _SPEC)
    for i, table in enumerate(cfg["evolve"]):
        _check(table, _SCHEDULE, f"evolve[{i}].")
        if "every_steps" in table and ("every_epochs" in table or "start" in table):
            raise ValueError(f"evolve[{i}] gives every_steps and every_epochs/start: choose one schedule.")
    given_opt = given.get("optimizer", {})
    if cfg["optimizer"]["name"] not in ("sgd", "sgdw") and given_opt.get("momentum", 0) != 0:
        raise ValueError(
            f"optimizer.momentum applies to name = 'sgd' or 'sgdw' only; {cfg['optimizer']['name']!r} would "
            "ignore it. Leave it out, or use name = 'sgd'."
        )
    if "init" in given.get("model", {}) and cfg["model"]["kind"] not in ("set_mlp", "dense_mlp"):
        raise ValueError(f"model.init applies to kind = 'set_mlp' or 'dense_mlp' only, not {cfg['model']['kind']!r}.")
    build_rules(cfg)  # each [[evolve]] table must make its rule
    if cfg["population"] is not None:
        cfg["population"] = check_population(cfg["population"])
    return cfg


def load_data(cfg: dict):
    """Return the configuration's :class:`~dagnet.data.Dataset`."""
    name, path = cfg["data"]["name"], cfg["data"]["path"]
    if name == "digits":
        return data.load_digits(seed=cfg["seed"])
    if name == "madelon":
        return data.load_madelon(path)
    if name == "coil20":
        return data.load_coil20(path, seed=cfg["seed"])
    if path is None:
        raise ValueError("data.name = 'mnist' needs data.path, the folder of the IDX or npz files.")
    return data.load_mnist(path)


def build_model(cfg: dict, num_features: int, num_classes: int) -> nn.Module:
    """Return the configuration's model for data of the given shape.

    Examples
    --------
    >>> m = build_model(load_config({"model": {"hidden": [16], "epsilon": 2}}), 8, 3)
    >>> m(torch.zeros(1, 8)).shape
    torch.Size([1, 3])
    """
    m, seed = cfg["model"], cfg["seed"]
    kind = m["kind"]
    if kind == "isotropic_mlp":  # widths adapt under [[evolve]] rule = "Neuroadaptation"
        from ..topology._budget import check_size

        sizes = [num_features, *m["hidden"], num_classes]
        check_size(
            f"IsotropicMLP({sizes})",
            sum(a * b for a, b in zip(sizes, sizes[1:])),
            _DENSE_WEIGHT,
            sum(sizes),
            _DENSE_WEIGHT,
            "Choose smaller hidden layers (model.hidden).",
        )
        return IsotropicMLP(sizes, seed=seed)
    if kind in ("set_mlp", "dense_mlp"):
        sizes = [num_features, *m["hidden"], num_classes]
        density = 1.0 if kind == "dense_mlp" else m["density"]
        epsilon = None if density is not None else m["epsilon"]
        return sparse_mlp(
            sizes,
            density=density,
            epsilon=epsilon,
            activation=m["activation"],
            dropout=m["dropout"],
            init=m["init"],
            seed=seed,
        )
    if m["graph"] is not None:
        path = Path(m["graph"])
        if path.suffix.lower() == ".graphml":
            try:
                graph = read_graphml(path)
            except (ElementTree.ParseError, nx.NetworkXError) as err:
                raise ValueError(f"model.graph: {path} is not a GraphML file dagnet can read ({err}).") from None
        else:
            graph = read_edgelist(path)
        net = DAGNetwork(graph, activation=m["activation"], seed=seed)
        if (net.in_features, net.out_features) != (num_features, num_classes):
            raise ValueError(
                f"The graph in {path} has {net.in_features} inputs and {net.out_features} outputs; "
                f"the data has {num_features} features and {num_classes} classes."
            )
        return net
    wiring = random_io_dag(num_features, m["neurons"], num_classes, m["p"], m["fan_in"], m["fan_out"], seed=seed)
    return DAGNetwork(wiring, activation=m["activation"], seed=seed)


def build_rules(cfg: dict) -> list:
    """Return ``fit``'s rules: ``(rule, schedule)`` pairs from the ``[[evolve]]`` tables.

    Each table names a rule of :mod:`dagnet.evolve` (``rule = "SET"``) and its
    arguments; ``every_steps = n``, or ``every_epochs = n`` (after epochs
    ``start, start + n, ...``; ``start`` defaults to ``n``), overrides the
    rule's default schedule. A rule that takes a seed gets the run's unless
    the table gives one.

    Examples
    --------
    >>> build_rules(load_config({"evolve": [{"rule": "SET", "zeta": 0.2}]}))
    [SET(zeta=0.2, init='he_uniform', init_scale=0.1, seed=0)]
    """
    rules = []
    for i, table in enumerate(cfg["evolve"]):
        table = dict(table)
        name = table.pop("rule", None)
        cls = getattr(evolve, str(name), None)
        if not (isinstance(cls, type) and issubclass(cls, evolve.EvolutionRule)) or cls is evolve.EvolutionRule:
            known = sorted(
                k
                for k in evolve.__all__
                if isinstance(getattr(evolve, k), type)
                and issubclass(getattr(evolve, k), evolve.EvolutionRule)
                and k != "EvolutionRule"
            )
            raise ValueError(f"evolve[{i}].rule must be one of {known}, got {name!r}.")
        steps, epochs = table.pop("every_steps", None), table.pop("every_epochs", None)
        start = table.pop("start", epochs) if epochs is not None else None
        if "seed" in inspect.signature(cls).parameters:
            table.setdefault("seed", cfg["seed"])
        try:
            rule = cls(**table)
        except (TypeError, ValueError) as err:
            raise ValueError(f"evolve[{i}] ({name}): {err}") from None
        if steps is not None:
            rules.append((rule, every_steps(int(steps))))
        elif epochs is not None:
            rules.append((rule, every_epochs(int(epochs), int(start))))
        else:
            rules.append(rule)
    return rules


def run_config(cfg: dict, resume: bool = False, progress: bool = True):
    """Build everything a configuration names and train; return :class:`~dagnet.train.FitResult`."""
    data = load_data(cfg)
    members = None
    if cfg["population"] is not None:
        model, members = build_population(cfg["population"], data.X_train.shape[1], data.num_classes, cfg["seed"])
    else:
        model = build_model(cfg, data.X_train.shape[1], data.num_classes)
    o = cfg["optimizer"]
    kwargs = {"lr": o["lr"], "weight_decay": o["weight_decay"]}
    if o["name"] in ("sgd", "sgdw"):
        kwargs["momentum"] = o["momentum"]
    optimizer = functools.partial(_OPTIMIZERS[o["name"]], **kwargs)
    result = fit(
        model,
        data,
        loss=cfg["loss"],
        optimizer=optimizer,
        epochs=cfg["epochs"],
        batch_size=cfg["batch_size"],
        rules=build_rules(cfg),
        seed=cfg["seed"],
        out_dir=cfg["out_dir"],
        checkpoint_every=cfg["checkpoint_every"],
        resume=resume,
        progress=progress,
        on_nonfinite=cfg["on_nonfinite"],
    )
    if members is not None and result.out_dir is not None and rank_and_world_size()[0] == 0:  # rank 0 writes
        write_study(result.out_dir, members, result.metrics, list(cfg["population"]["grid"]))
    return model, data, result
