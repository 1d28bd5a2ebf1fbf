"""The structure of a module tree as plain data, and module trees rebuilt from it.

:func:`describe` gives one node per module: its ``module:qualname``, its
training flag, its children, and what rebuilds it: the constructor arguments
of the standard ``torch.nn`` layers and of dagnet's own (:data:`BUILDABLE`),
a network record for a :class:`~dagnet.nn.DAGNetwork` (see
:mod:`.network`). :func:`build` rebuilds such a tree without importing or
calling anything else; a module of another class (one of your own) is
rebuilt by you, and :func:`check_fit` compares your module with the saved
tree before the values are loaded into it.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from ..activations import modules as dagnet_activations
from ..errors import FileFormatError
from ..nn.dag_network import DAGNetwork
from ..nn.dropout import Dropout
from ..nn.population import Population
from ..nn.sparse_linear import SparseLinear
from . import network
from .refs import Refs, qualified_name

__all__ = ["BUILDABLE", "build", "check_fit", "describe", "set_training", "where"]

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_LAYERS = (
    nn.Identity,
    nn.Linear,
    nn.Bilinear,
    nn.Flatten,
    nn.Unflatten,
    nn.Embedding,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    *(getattr(nn.modules.activation, n) for n in nn.modules.activation.__all__ if n != "MultiheadAttention"),
    Dropout,
    *(getattr(dagnet_activations, n) for n in dagnet_activations.__all__),
)
_NETWORKS = (DAGNetwork, SparseLinear, Population)

#: The classes :func:`dagnet.load` rebuilds by itself, by ``module:qualname``.
BUILDABLE: dict[str, type] = {qualified_name(c): c for c in (*_CONTAINERS, *_LAYERS, *_NETWORKS)}


def where(path: str) -> str:
    """How messages name the module at ``path`` (``""``: the root)."""
    return f"the module {path!r}" if path else "the model"


def _class_name(module: nn.Module) -> str:
    """``'module:qualname'`` of the class of ``module`` (a local class keeps its ``<locals>`` name)."""
    return qualified_name(module) or f"{type(module).__module__}:{type(module).__qualname__}"


def _is_plain(x: Any) -> bool:
    if isinstance(x, (tuple, list)):
        return all(_is_plain(y) for y in x)
    return x is None or isinstance(x, (bool, int, float, str))


def _arguments(module: nn.Module) -> dict | None:
    """The constructor arguments that rebuild ``module`` (values from its state_dict aside), or None if unknown.

    Each parameter of ``__init__`` is read from the attribute of that name:
    ``bias`` as whether there is one, a one-element tensor as its value,
    other tensors not at all (the state_dict holds them), ``dtype`` from the
    module's own parameters and buffers, ``device`` never.
    """
    args: dict[str, Any] = {}
    for p in list(inspect.signature(type(module).__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == "device":
            continue
        if p.name == "dtype":
            own = [t for t in (*module.parameters(recurse=False), *module.buffers(recurse=False))]
            floating = [t.dtype for t in own if t.is_floating_point()]
            args["dtype"] = str(floating[0]).replace("torch.", "") if floating else None
            continue
        if not hasattr(module, p.name):
            if p.default is p.empty:
                return None
            continue
        value = getattr(module, p.name)
        if p.name == "bias" and (value is None or isinstance(value, torch.Tensor)):
            value = value is not None
        elif isinstance(value, torch.Tensor):
            if value.numel() != 1:
                continue
            value = value.item()
        if not _is_plain(value):
            return None
        args[p.name] = value
    return args


def describe(module: nn.Module, path: str = "") -> dict:
    """The tree of ``module`` as plain data (see the module's docstring).

    Raises ValueError or TypeError, naming the module, for a network that
    cannot be saved (see :func:`.network.record`).
    """
    name = _class_name(module)
    node: dict[str, Any] = {"class": name, "training": module.training}
    cls = BUILDABLE.get(name)
    if cls is Population:
        node["population"] = network.population_record(module)
    elif cls in (DAGNetwork, SparseLinear) or isinstance(module, DAGNetwork):
        node["network"] = network.record(module, where(path))
        return node  # its activation modules are rebuilt with it
    elif cls is not None and cls not in _CONTAINERS:
        node["args"] = _arguments(module)
    node["children"] = {k: describe(child, f"{path}.{k}" if path else k) for k, child in module.named_children()}
    return node


def _check(node: Any, path: str, bad) -> None:
    if not isinstance(node, dict) or not isinstance(node.get("class"), str):
        raise bad(f"{where(path)} has no class")
    if not isinstance(node.get("training"), bool):
        raise bad(f"{where(path)} has no training flag")
    children = node.get("children", {})
    if not isinstance(children, dict) or not all(isinstance(k, str) and k and "." not in k for k in children):
        raise bad(f"{where(path)} has malformed children")
    args = node.get("args")
    if args is not None and not (
        isinstance(args, dict) and all(isinstance(k, str) and _is_plain(v) for k, v in args.items())
    ):
        raise bad(f"the arguments of {where(path)} are not plain data")


def build(node: Any, state: dict, path, refs: Refs, at: str = "") -> nn.Module:
    """The module of ``node`` (values still to be loaded from ``state``), its children built first.

    Raises FileFormatError naming ``path`` and the module for anything
    malformed, or for a class it does not build (a module of your own).
    """

    def bad(what: str) -> FileFormatError:
        return FileFormatError(f"{path} is not a valid dagnet file: {what}.", path)

    _check(node, at, bad)
    name = node["class"]
    cls = BUILDABLE.get(name)
    if cls is None:
        raise FileFormatError(
            f"{path} holds {where(at)} of class {name!r}, which dagnet.load does not build (it builds "
            "torch.nn's layers and containers and dagnet's modules only). Build the model yourself and "
            "load the file into it: dagnet.load(path, into=model).",
            path,
        )
    prefix = f"{at}." if at else ""
    children = {k: build(child, state, path, refs, prefix + k) for k, child in node.get("children", {}).items()}
    if cls in (DAGNetwork, SparseLinear):
        rec = node.get("network")
        label = f"{where(at)}: " if at else ""
        positions = state.get(prefix + "node_index")
        size = positions.numel() if isinstance(positions, torch.Tensor) else 0
        network.check_record(rec, lambda what: bad(label + what), max_nodes=size)
        module = network.build(rec, state, prefix, refs.fresh(), path, label)
    elif cls is Population:
        net = children.get("network")
        if not isinstance(net, DAGNetwork) or set(children) != {"network"}:
            raise bad(f"{where(at)}, a Population, must have one child 'network', a DAGNetwork")
        module = network.with_population(net, node.get("population"), path)
    elif cls is nn.Sequential:
        module = nn.Sequential(OrderedDict(children))
    elif cls is nn.ModuleList:
        if list(children) != [str(i) for i in range(len(children))]:
            raise bad(f"the children of {where(at)}, a ModuleList, must be named 0, 1, ...")
        module = nn.ModuleList(children.values())
    elif cls is nn.ModuleDict:
        module = nn.ModuleDict(children)
    else:
        module = _layer(cls, node, children, state, path, at, bad)
    module.training = node["training"]
    return module


def _layer(cls: type, node: dict, children: dict, state: dict, path, at: str, bad) -> nn.Module:
    """The layer of ``node``, built first on the meta device where it can be: its tensors must be the file's
    (so a crafted file cannot make it allocate more than the file holds)."""
    args = node.get("args")
    if not isinstance(args, dict):
        raise FileFormatError(
            f"{path} holds {where(at)}, a {cls.__name__}, without its constructor arguments (an attribute "
            "of it was not plain data). Build the model yourself and load the file into it: "
            "dagnet.load(path, into=model).",
            path,
        )
    args = dict(args)
    if args.get("dtype") is not None:
        dtype = getattr(torch, args["dtype"], None) if isinstance(args["dtype"], str) else None
        if not isinstance(dtype, torch.dtype):
            raise bad(f"the dtype of {where(at)} is {args['dtype']!r}")
        args["dtype"] = dtype
    try:
        if "device" in inspect.signature(cls.__init__).parameters:
            prefix = f"{at}." if at else ""
            for name, t in cls(**args, device="meta").state_dict().items():
                saved = state.get(prefix + name)
                if not isinstance(saved, torch.Tensor) or saved.shape != t.shape:
                    raise bad(f"state_dict[{prefix + name!r}] is not the {tuple(t.shape)} tensor {where(at)} has")
        module = cls(**args)
    except FileFormatError:
        raise
    except Exception as e:
        raise FileFormatError(
            f"{path}: {where(at)} cannot be built as {cls.__name__}(**{node['args']!r}) ({type(e).__name__}: {e}).",
            path,
        ) from e
    if children:
        raise bad(f"{where(at)}, a {cls.__name__}, has children; a {cls.__name__} has none")
    return module


def check_fit(node: dict, module: nn.Module, path, at: str = "") -> None:
    """Raise ValueError, naming the module, where ``module`` is not the saved tree ``node``.

    Classes must be the same, and so must the children's names (a network's
    own children aside: its wiring comes from the file).
    """

    def bad(what: str) -> FileFormatError:
        return FileFormatError(f"{path} is not a valid dagnet file: {what}.", path)

    _check(node, at, bad)
    name = _class_name(module)
    if name != node["class"]:
        raise ValueError(
            f"Cannot load {path} into the model: {where(at)} is a {name}, but the file holds a {node['class']} there."
        )
    if "network" in node:
        return
    saved, own = node.get("children", {}), dict(module.named_children())
    for k in sorted(saved.keys() ^ own.keys()):
        lacks, sub = "the model" if k in saved else "the file", f"{at}.{k}" if at else k
        raise ValueError(f"Cannot load {path} into the model: {lacks} has no module {sub!r}.")
    for k, child in own.items():
        check_fit(saved[k], child, path, f"{at}.{k}" if at else k)


def set_training(node: dict, module: nn.Module) -> None:
    """Give ``module`` (which :func:`check_fit` accepted) the training flags of the saved tree ``node``."""
    if "network" in node:
        module.train(node["training"])
        return
    module.training = node["training"]
    for k, child in module.named_children():
        set_training(node["children"][k], child)
