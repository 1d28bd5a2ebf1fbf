"""Saving and loading networks: weights and topology, exactly."""

from __future__ import annotations

import importlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import DeadNodeWarning
from .nn.dag_network import DAGNetwork
from .wiring import Wiring

__all__ = ["save", "load"]

_FORMAT = "dagnet.DAGNetwork"
_VERSION = 1


def _label(x: Any, where: str) -> Any:
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, tuple):
        return tuple(_label(y, where) for y in x)
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise ValueError(f"Cannot save {where} label {x!r} of type {type(x).__name__}; labels must be "
                     "ints, floats, strings or tuples of them (relabel the graph first).")


def _ref(obj: Any, where: str, modules: list) -> Any:
    """A name for an activation: its registered name, or 'module:qualname'."""
    if obj is None or isinstance(obj, str):
        return obj
    target = type(obj) if isinstance(obj, torch.nn.Module) else obj
    module, qualname = getattr(target, "__module__", None), getattr(target, "__qualname__", "")
    if module is None or "<" in qualname:
        raise ValueError(f"Cannot save the activation {obj!r} of {where}: it has no importable name "
                         "(a lambda or a local function). Define it at module level.")
    if isinstance(obj, torch.nn.Module):  # index None: a module no node uses (e.g. on an input)
        index = next((i for i, m in enumerate(modules) if m is obj), None)
        return {"module": f"{module}:{qualname}", "index": index}
    return {"callable": f"{module}:{qualname}"}


def _unref(ref: Any, modules: dict) -> Any:
    if ref is None or isinstance(ref, str):
        return ref
    path = ref.get("module") or ref["callable"]
    module, qualname = path.split(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if "module" not in ref:
        return obj
    if ref["index"] is None:
        return obj()
    if ref["index"] not in modules:  # one instance per saved module, shared as before
        modules[ref["index"]] = obj()
    return modules[ref["index"]]


def save(net: DAGNetwork, path: str | os.PathLike) -> None:
    """Write a network's topology, configuration and values to ``path``, atomically.

    Activations are stored by name; callables by their importable
    ``module:qualname`` (module activations are rebuilt by calling their class
    with no arguments, then their parameters are loaded).

    Examples
    --------
    >>> import networkx as nx, tempfile, os
    >>> net = DAGNetwork(nx.DiGraph([("a", "b")]), seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "net.pt")
    >>> save(net, path); load(path).weight.tolist() == net.weight.tolist()
    True
    """
    if not isinstance(net, DAGNetwork):
        raise TypeError(f"dagnet.save expects a DAGNetwork, got {type(net).__name__}.")
    if net.weight_modifier is not None:
        raise ValueError(f"The network has a weight modifier ({type(net.weight_modifier).__name__}, from "
                         "dagnet.evolve); save the model's state_dict() instead, or remove it first "
                         "(net.weight_modifier = None).")
    wiring = net.to_wiring()
    labels = [_label(x, "node") for x in wiring.labels]
    specs = net._node_activation
    mods = list(net.activation_modules)
    node_act = None if specs is None else [
        _ref(a, f"node {labels[i]!r}", mods) for i, a in enumerate(specs)
    ]
    combine = None if net._node_combine is None else [
        _ref(c, f"node {labels[i]!r}", mods) for i, c in enumerate(net._node_combine)
    ]
    config = dict(net.config)
    config["activation"] = _ref(config["activation"], "the network", mods)
    config["output_activation"] = _ref(config["output_activation"], "the network", mods)
    payload = {
        "format": _FORMAT,
        "version": _VERSION,
        "num_nodes": wiring.num_nodes,
        "source": torch.from_numpy(wiring.source),
        "target": torch.from_numpy(wiring.target),
        "labels": labels,
        "node_activation": node_act,
        "combine": combine,
        "branch": None if wiring.branch is None else torch.from_numpy(wiring.branch),
        "inputs": [_label(x, "input") for x in net.inputs],
        "outputs": [_label(x, "output") for x in net.outputs],
        "config": config,
        "class": type(net).__name__,
        "seed": net.seed,
        "dtype": str(net.weight.dtype).replace("torch.", ""),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
    }
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path: str | os.PathLike, map_location: str | torch.device | None = None) -> DAGNetwork:
    """Return the network saved at ``path`` by :func:`save`, identical to the one saved.

    The file is read with ``torch.load(weights_only=True)``: no arbitrary code
    runs, only the named activations are imported.

    Examples
    --------
    >>> import networkx as nx, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "net.pt")
    >>> save(DAGNetwork(nx.DiGraph([(0, 1)]), seed=1), path)
    >>> load(path).num_edges
    1
    """
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a file written by dagnet.save.")
    if payload["version"] > _VERSION:
        raise ValueError(f"{path} was written by a newer dagnet (format version {payload['version']}).")
    config = dict(payload["config"])
    modules: dict = {}
    config["activation"] = _unref(config["activation"], modules)
    config["output_activation"] = _unref(config["output_activation"], modules)
    node_act = payload["node_activation"]
    wiring = Wiring(
        payload["num_nodes"], payload["source"].numpy(), payload["target"].numpy(),
        labels=payload["labels"],
        activation=None if node_act is None else [_unref(a, modules) for a in node_act],
        combine=None if payload.get("combine") is None else [_unref(c, modules) for c in payload["combine"]],
        branch=None if payload.get("branch") is None else payload["branch"].numpy(),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadNodeWarning)
        net = DAGNetwork(wiring, inputs=payload["inputs"], outputs=payload["outputs"],
                         seed=payload["seed"], dtype=getattr(torch, payload["dtype"]), **config)
    if payload.get("class") == "SparseLinear":  # same state; the class fixes where edges may grow
        from .nn.sparse_linear import SparseLinear

        net.__class__ = SparseLinear
        net.requested_density = net.density
    net.load_state_dict(payload["state_dict"])
    if map_location is not None:
        net.to(map_location)
    return net
