"""Training runs described by a TOML file: ``dagnet train CONFIG.toml``.

A configuration names the data, the model, the optimizer and the evolution
rules; :func:`run_config` builds them and calls :func:`~dagnet.train.fit`.
Every key is checked: an unknown or misspelt one is an error that names it.

Example (the keys not shown take the defaults of :data:`DEFAULTS`)::

    seed = 0
    epochs = 100
    batch_size = 128
    out_dir = "runs/madelon-set"

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
"""

from __future__ import annotations

import copy
import functools
import inspect
import os
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

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
    "data": {"name": "digits", "path": None},
    "model": {
        "kind": "set_mlp",
        "hidden": [256, 256],
        "epsilon": None,
        "density": None,
        "activation": "relu",
        "dropout": 0.0,
        # kind = "dag": a random DAG between the data's inputs and outputs, or a graph file
        "graph": None,            # path of an edge list (.txt/.csv/.edgelist) or GraphML file
        "neurons": 300,           # hidden neurons of the random DAG
        "p": 0.04,                # edge probability among them
        "fan_in": 8,
        "fan_out": 24,
    },
    "optimizer": {"name": "adam", "lr": 1e-3, "momentum": 0.0, "weight_decay": 0.0},
    "evolve": [],
}

_OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
_DATA = ("digits", "madelon", "coil20", "mnist")
_KINDS = ("set_mlp", "dense_mlp", "isotropic_mlp", "dag")


def _merge(defaults: dict, given: dict, where: str) -> dict:
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        if key not in defaults:
            raise ValueError(f"Unknown key {where}{key!r} in the configuration; known: {', '.join(defaults)}.")
        if isinstance(defaults[key], dict):
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
        For TOML syntax errors and unknown keys (the message names them).

    Examples
    --------
    >>> cfg = load_config({"epochs": 3, "model": {"hidden": [32]}})
    >>> cfg["epochs"], cfg["model"]["hidden"], cfg["data"]["name"]
    (3, [32], 'digits')
    """
    if isinstance(source, dict):
        given = source
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"No configuration file at {path}.")
        try:
            given = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path}: {err}") from None
    cfg = _merge(DEFAULTS, given, "")
    if not isinstance(cfg["evolve"], list) or not all(isinstance(r, dict) for r in cfg["evolve"]):
        raise ValueError("'evolve' must be a list of tables ([[evolve]] rule = \"SET\" ...).")
    if cfg["data"]["name"] not in _DATA:
        raise ValueError(f"data.name must be one of {_DATA}, got {cfg['data']['name']!r}.")
    if cfg["model"]["kind"] not in _KINDS:
        raise ValueError(f"model.kind must be one of {_KINDS}, got {cfg['model']['kind']!r}.")
    if cfg["optimizer"]["name"] not in _OPTIMIZERS:
        raise ValueError(f"optimizer.name must be one of {tuple(_OPTIMIZERS)}, got {cfg['optimizer']['name']!r}.")
    return cfg


def load_data(cfg: dict):
    """Return the configuration's :class:`~dagnet.data.Dataset`."""
    from .. import data

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
    from ..demo import random_io_dag
    from ..nn import DAGNetwork, IsotropicMLP, sparse_mlp

    m, seed = cfg["model"], cfg["seed"]
    kind = m["kind"]
    if kind == "isotropic_mlp":  # widths adapt under [[evolve]] rule = "Neuroadaptation"
        return IsotropicMLP([num_features, *m["hidden"], num_classes], seed=seed)
    if kind in ("set_mlp", "dense_mlp"):
        sizes = [num_features, *m["hidden"], num_classes]
        density = 1.0 if kind == "dense_mlp" else m["density"]
        epsilon = None if density is not None else m["epsilon"]
        return sparse_mlp(sizes, density=density, epsilon=epsilon, activation=m["activation"],
                          dropout=m["dropout"], seed=seed)
    if m["graph"] is not None:
        from ..topology import read_edgelist, read_graphml

        path = Path(m["graph"])
        graph = read_graphml(path) if path.suffix.lower() == ".graphml" else read_edgelist(path)
        net = DAGNetwork(graph, activation=m["activation"], seed=seed)
        if (net.in_features, net.out_features) != (num_features, num_classes):
            raise ValueError(f"The graph in {path} has {net.in_features} inputs and {net.out_features} outputs; "
                             f"the data has {num_features} features and {num_classes} classes.")
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
    from .. import evolve
    from .loop import every_epochs, every_steps

    rules = []
    for i, table in enumerate(cfg["evolve"]):
        table = dict(table)
        name = table.pop("rule", None)
        cls = getattr(evolve, str(name), None)
        if not (isinstance(cls, type) and issubclass(cls, evolve.EvolutionRule)) or cls is evolve.EvolutionRule:
            known = sorted(k for k in evolve.__all__ if isinstance(getattr(evolve, k), type)
                           and issubclass(getattr(evolve, k), evolve.EvolutionRule) and k != "EvolutionRule")
            raise ValueError(f"evolve[{i}].rule must be one of {known}, got {name!r}.")
        steps, epochs = table.pop("every_steps", None), table.pop("every_epochs", None)
        start = table.pop("start", epochs) if epochs is not None else None
        if "seed" in inspect.signature(cls).parameters:
            table.setdefault("seed", cfg["seed"])
        try:
            rule = cls(**table)
        except TypeError as err:
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
    from .loop import fit

    data = load_data(cfg)
    model = build_model(cfg, data.X_train.shape[1], data.num_classes)
    o = cfg["optimizer"]
    kwargs = {"lr": o["lr"], "weight_decay": o["weight_decay"]}
    if o["name"] == "sgd":
        kwargs["momentum"] = o["momentum"]
    optimizer = functools.partial(_OPTIMIZERS[o["name"]], **kwargs)
    return model, data, fit(model, data, loss=cfg["loss"], optimizer=optimizer, epochs=cfg["epochs"],
                            batch_size=cfg["batch_size"], rules=build_rules(cfg), seed=cfg["seed"],
                            out_dir=cfg["out_dir"], checkpoint_every=cfg["checkpoint_every"],
                            resume=resume, progress=progress)
