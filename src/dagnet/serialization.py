"""Saving and loading networks: weights and topology, exactly.

A file written by :func:`save` holds plain data and tensors only, with a
SHA-256 of its content. :func:`load` reads it with
``torch.load(weights_only=True)``, verifies the checksum and every field
before anything is built, and never imports a module: activations are looked
up among dagnet's own (and ``torch.nn``'s activation classes) or in the
``custom_objects`` the caller passes.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from .activations.combine import resolve_combine
from .activations.registry import resolve_activation
from .engine import DTYPES
from .errors import DeadNodeWarning, FileFormatError
from .fileio import read_checked, write_checked
from .nn.dag_network import DAGNetwork
from .wiring import Wiring

__all__ = ["save", "load"]

_FORMAT = "dagnet.DAGNetwork"
_VERSION = 2  # 2: with a checksum of the content; 1 (no checksum) is still read
_FIELDS = (
    "num_nodes",
    "source",
    "target",
    "labels",
    "node_activation",
    "inputs",
    "outputs",
    "config",
    "seed",
    "dtype",
    "state_dict",
)


def _label(x: Any, where: str) -> Any:
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, tuple):
        return tuple(_label(y, where) for y in x)
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise ValueError(
        f"Cannot save {where} label {x!r} of type {type(x).__name__}; labels must be "
        "ints, floats, strings or tuples of them (relabel the graph first)."
    )


def _name(obj: Any) -> str | None:
    """``'module:qualname'`` of a class or function, or None if it has no importable name."""
    target = type(obj) if isinstance(obj, nn.Module) else obj
    module, qualname = getattr(target, "__module__", None), getattr(target, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    return f"{module}:{qualname}"


def _ref(obj: Any, where: str, modules: list) -> Any:
    """A name for an activation: its registered name, or 'module:qualname'."""
    if obj is None or isinstance(obj, str):
        return obj
    name = _name(obj)
    if name is None:
        raise ValueError(
            f"Cannot save the activation {obj!r} of {where}: it has no importable name "
            "(a lambda or a local function). Define it at module level."
        )
    if isinstance(obj, nn.Module):  # index None: a module no node uses (e.g. on an input)
        index = next((i for i, m in enumerate(modules) if m is obj), None)
        return {"module": name, "index": index}
    return {"callable": name}


def _known_objects() -> dict[str, Any]:
    """The activations a file may name without the caller passing them: dagnet's own and torch.nn's."""
    from .activations import functional, modules
    from .activations.registry import _FUNCTIONS

    objects = [
        *_FUNCTIONS.values(),
        *(getattr(functional, n) for n in functional.__all__),
        *(getattr(modules, n) for n in modules.__all__),
        *(getattr(nn.modules.activation, n) for n in nn.modules.activation.__all__),
    ]
    return {name: obj for obj in objects if (name := _name(obj)) is not None}


def _custom(custom_objects: Mapping[str, Any] | Iterable[Any] | None) -> dict[str, Any]:
    if custom_objects is None:
        return {}
    if isinstance(custom_objects, Mapping):
        items = dict(custom_objects)
    else:
        items = {}
        for obj in custom_objects:
            name = _name(obj)
            if name is None:
                raise ValueError(
                    f"custom_objects: {obj!r} has no importable name; pass a dict {{'module:qualname': obj}} instead."
                )
            items[name] = obj
    for name, obj in items.items():
        if not isinstance(name, str) or name.count(":") != 1:
            raise ValueError(
                f"custom_objects: the key {name!r} must be a 'module:qualname' string, "
                "as in the error message that asked for it."
            )
        if not callable(obj):
            raise TypeError(f"custom_objects[{name!r}] must be a class or a function, got {obj!r}.")
    return items


class _Refs:
    """Turns the references of a file into activations, without importing anything."""

    def __init__(self, path, custom: dict[str, Any]):
        self.path, self.custom, self.known = path, custom, _known_objects()
        self.modules: dict = {}  # saved module index -> the one instance shared by its nodes

    def bad(self, what: str) -> FileFormatError:
        return FileFormatError(f"{self.path} is not a valid dagnet network file: {what}.", self.path)

    def __call__(self, ref: Any, where: str, kind: str = "activation") -> Any:
        if ref is None:
            return None
        if isinstance(ref, str):
            try:
                (resolve_activation if kind == "activation" else resolve_combine)(ref)
            except ValueError as e:
                raise FileFormatError(
                    f"{self.path}: the {kind} of {where} cannot be used: {e} If it is "
                    "a name you register with dagnet.activations.register_activation, "
                    "register it before loading.",
                    self.path,
                ) from None
            return ref
        is_module = isinstance(ref, dict) and set(ref) == {"module", "index"}
        if not (is_module or (isinstance(ref, dict) and set(ref) == {"callable"})):
            raise self.bad(f"the {kind} of {where} is {ref!r}, neither a name nor a reference")
        name = ref["module"] if is_module else ref["callable"]
        if not isinstance(name, str) or name.count(":") != 1:
            raise self.bad(f"the {kind} of {where} refers to {name!r}, not to a 'module:qualname'")
        obj = self.custom.get(name, self.known.get(name))
        if obj is None:
            kw = "{" + repr(name) + ": " + name.split(":")[1].split(".")[-1] + "}"
            raise FileFormatError(
                f"{self.path}: the {kind} of {where} is {name!r}, which is not one of dagnet's own. Loading "
                f"imports and calls nothing else; if you trust this file, pass the object yourself: "
                f"dagnet.load(path, custom_objects={kw}).",
                self.path,
            )
        if not is_module:
            return obj
        index = ref["index"]
        if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
            raise self.bad(f"the {kind} of {where} must be an nn.Module class, but {name!r} is {obj!r}")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise self.bad(f"the {kind} of {where} has the module index {index!r}")
        if index is not None and index in self.modules:  # one instance per saved module, shared as before
            return self.modules[index]
        try:
            module = obj()
        except Exception as e:
            raise FileFormatError(
                f"{self.path}: the {kind} {name!r} of {where} cannot be built with no "
                f"arguments ({type(e).__name__}: {e}).",
                self.path,
            ) from e
        if index is not None:
            self.modules[index] = module
        return module


def _is_label(x: Any) -> bool:
    if isinstance(x, tuple):
        return all(_is_label(y) for y in x)
    return x is None or isinstance(x, (bool, int, float, str))


def _is_index_tensor(t: Any, length: int | None = None) -> bool:
    return (
        isinstance(t, torch.Tensor)
        and t.layout == torch.strided
        and t.dim() == 1
        and not t.is_floating_point()
        and not t.is_complex()
        and t.dtype != torch.bool
        and (length is None or t.numel() == length)
    )


def _config_keys() -> set[str]:
    fixed = {"self", "graph", "inputs", "outputs", "seed", "dtype", "device"}
    return set(inspect.signature(DAGNetwork.__init__).parameters) - fixed


def _non_finite(state: Mapping[str, torch.Tensor]) -> str | None:
    for key, t in state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return key
    return None


def _check_payload(payload: dict, path) -> None:
    """Raise FileFormatError naming the first field of ``payload`` that a saved network cannot have."""

    def bad(what: str) -> FileFormatError:
        return FileFormatError(f"{path} is not a valid dagnet network file: {what}.", path)

    missing = [k for k in _FIELDS if k not in payload]
    if missing:
        raise bad(f"it has no {', '.join(map(repr, missing))}")
    n = payload["num_nodes"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise bad(f"num_nodes is {n!r}")
    source, target = payload["source"], payload["target"]
    if not _is_index_tensor(source) or not _is_index_tensor(target, source.numel()):
        raise bad("source and target must be 1-D integer tensors of the same length")
    for name, t in (("source", source), ("target", target)):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= n):
            raise bad(f"{name} holds node numbers outside 0..{n - 1}")
    branch = payload.get("branch")
    if branch is not None and (
        not _is_index_tensor(branch, source.numel()) or (branch.numel() and int(branch.min()) < 0)
    ):
        raise bad("branch must be a 1-D tensor of one int >= 0 per edge")
    labels = payload["labels"]
    if not isinstance(labels, list) or len(labels) != n or not all(map(_is_label, labels)):
        raise bad(f"labels must be a list of {n} ints, floats, strings or tuples")
    if len(set(labels)) != n:
        raise bad("labels holds a label twice")
    for name in ("node_activation", "combine"):
        value = payload.get(name)
        if value is not None and (not isinstance(value, list) or len(value) != n):
            raise bad(f"{name} must be None or a list of one entry per node ({n})")
    for name in ("inputs", "outputs"):
        value = payload[name]
        if not isinstance(value, list) or not value or not all(map(_is_label, value)):
            raise bad(f"{name} must be a non-empty list of node labels")
    config = payload["config"]
    if (
        not isinstance(config, dict)
        or not set(config) <= _config_keys()
        or not {"activation", "output_activation"} <= set(config)
    ):
        raise bad(f"config {config!r} does not hold the parameters of DAGNetwork")
    for key, value in config.items():
        if key not in ("activation", "output_activation") and not (value is None or _is_label(value)):
            raise bad(f"config[{key!r}] is {value!r}")
    seed = payload["seed"]
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise bad(f"seed is {seed!r}")
    dtype = payload["dtype"]
    if (
        not isinstance(dtype, str)
        or not isinstance(getattr(torch, dtype, None), torch.dtype)
        or not getattr(torch, dtype).is_floating_point
    ):
        raise bad(f"dtype is {dtype!r}, not a floating dtype")
    if not isinstance(payload.get("class", "DAGNetwork"), str):
        raise bad("class must be a class name")
    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) and v.layout == torch.strided for k, v in state.items()
    ):
        raise bad("state_dict must map names to dense tensors")
    key = _non_finite(state)
    if key is not None:
        raise bad(f"state_dict[{key!r}] holds NaN or infinite values")


def save(net: DAGNetwork, path: str | os.PathLike) -> None:
    """Write a network's (or a :class:`~dagnet.nn.Population`'s) topology, configuration and values to ``path``, atomically.

    Activations are stored by name; callables by their ``module:qualname``
    (module activations are rebuilt by calling their class with no arguments,
    then their parameters are loaded). The file holds a SHA-256 of its content
    and gets the user's usual permissions (umask).

    Raises
    ------
    ValueError
        If the network has a weight modifier, a label or activation that
        cannot be stored, or a NaN or infinite value (the message names it).
    TypeError
        If ``net`` is not a DAGNetwork, or is in a dtype it cannot compute
        in (e.g. after ``net.half()``).

    Examples
    --------
    >>> import networkx as nx, tempfile, os
    >>> net = DAGNetwork(nx.DiGraph([("a", "b")]), seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "net.pt")
    >>> save(net, path); load(path).weight.tolist() == net.weight.tolist()
    True
    """
    from .nn.population import Population

    population = None
    if isinstance(net, Population):
        population = {
            "member_inputs": [[_label(x, "input") for x in inp] for inp, _ in net._member_io],
            "member_outputs": [[_label(x, "output") for x in out] for _, out in net._member_io],
            "seeds": [None if s is None else int(s) for s in net._member_seeds],
        }
        net = net.network
    if not isinstance(net, DAGNetwork):
        raise TypeError(f"dagnet.save expects a DAGNetwork or a Population, got {type(net).__name__}.")
    if net.weight_modifier is not None:
        raise ValueError(
            f"The network has a weight modifier ({type(net.weight_modifier).__name__}, from "
            "dagnet.evolve); save the model's state_dict() instead, or remove it first "
            "(net.weight_modifier = None)."
        )
    if net.weight.dtype not in DTYPES:
        raise TypeError(
            f"Cannot save the network: it is in {net.weight.dtype}, but a DAGNetwork computes and "
            f"loads in {' or '.join(map(str, DTYPES))}. Convert it first with net.float() or "
            "net.double()."
        )
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    key = _non_finite(state)
    if key is not None:
        raise ValueError(
            f"Cannot save the network: {key!r} holds NaN or infinite values, which "
            "dagnet.load refuses. Fix or reinitialise them first."
        )
    wiring = net.to_wiring()
    labels = [_label(x, "node") for x in wiring.labels]
    specs = net._node_activation
    mods = list(net.activation_modules)
    node_act = None if specs is None else [_ref(a, f"node {labels[i]!r}", mods) for i, a in enumerate(specs)]
    combine = (
        None
        if net._node_combine is None
        else [_ref(c, f"node {labels[i]!r}", mods) for i, c in enumerate(net._node_combine)]
    )
    config = {k: v.item() if isinstance(v, np.generic) else v for k, v in net.config.items()}
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
        "class": "Population" if population is not None else type(net).__name__,
        "population": population,
        "seed": net.seed,
        "dtype": str(net.weight.dtype).replace("torch.", ""),
        "state_dict": state,
    }
    write_checked(path, payload)


def _population(net: DAGNetwork, meta: Any, path):
    """The :class:`~dagnet.nn.Population` over the loaded union network ``net``, its members checked against ``meta``."""
    from .nn.population import INPUT, Population

    def bad(why: str) -> FileFormatError:
        return FileFormatError(f"{path} is not a valid dagnet population file: {why}.", path)

    if not isinstance(meta, dict) or set(meta) != {"member_inputs", "member_outputs", "seeds"}:
        raise bad("its population record is missing or malformed")
    inputs, outputs, seeds = meta["member_inputs"], meta["member_outputs"], meta["seeds"]
    size = len(seeds) if isinstance(seeds, list) else -1
    if size < 1 or not all(isinstance(x, list) and len(x) == size for x in (inputs, outputs)):
        raise bad("its members' inputs, outputs and seeds do not agree in number")
    if any(not (s is None or (isinstance(s, int) and not isinstance(s, bool))) for s in seeds):
        raise bad("a member's seed is not an integer")
    for lab in net.node_labels:
        ok = isinstance(lab, tuple) and len(lab) == 2
        if not ok or not (lab[0] == INPUT or (isinstance(lab[0], int) and 0 <= lab[0] < size)):
            raise bad(f"the node {lab!r} belongs to no member")
    if any(len(i) != net.in_features or len(o) * size != net.out_features for i, o in zip(inputs, outputs)):
        raise bad("its members' inputs and outputs do not fit its network")
    return Population.from_network(net, list(zip(inputs, outputs)), seeds)


def load(
    path: str | os.PathLike,
    map_location: str | torch.device | None = None,
    custom_objects: Mapping[str, Any] | Iterable[Any] | None = None,
) -> DAGNetwork:
    """Return the network saved at ``path`` by :func:`save`, identical to the one saved.

    Nothing in the file is run or imported: it is read with
    ``torch.load(weights_only=True)``, its checksum and every field are
    checked before the network is built, and activations are looked up, never
    imported: names registered in :mod:`dagnet.activations`, dagnet's own
    activation functions and modules, ``torch.nn``'s activation classes, and
    ``custom_objects``. Files of format version 1 (written before checksums)
    load with the same checks, but without a checksum to verify.

    Parameters
    ----------
    path : path-like
    map_location : str or torch.device, optional
        Where to move the network after loading (default: the CPU).
    custom_objects : dict or iterable, optional
        Your own activation callables and module classes that the file refers
        to, as ``{"module:qualname": obj}`` (the names the error message
        shows) or as a list of the objects. Pass only what you trust: module
        classes are called with no arguments.

    Returns
    -------
    DAGNetwork or Population
        Same class (``DAGNetwork``, ``SparseLinear`` or ``Population``), wiring, levels,
        activations and values as the saved one.

    Raises
    ------
    dagnet.errors.FileFormatError
        If the file is empty, truncated, corrupt (it does not match its
        checksum), not a dagnet network, inconsistent, or refers to an
        activation that is neither dagnet's own nor in ``custom_objects``.
        Also a ``ValueError``; the message names the path and the culprit.
    ValueError
        If ``map_location`` is not a device this machine has.
    TypeError
        If ``path`` is not a path.
    OSError
        If the file cannot be opened.

    Examples
    --------
    >>> import networkx as nx, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "net.pt")
    >>> save(DAGNetwork(nx.DiGraph([(0, 1)]), seed=1), path)
    >>> load(path).num_edges
    1

    An activation of your own is passed back explicitly:

    >>> from dagnet.activations.functional import ada
    >>> def halved(z):
    ...     return ada(z) / 2
    >>> halved.__module__, halved.__qualname__ = "mypkg.acts", "halved"  # as if defined in mypkg/acts.py
    >>> save(DAGNetwork(nx.DiGraph([(0, 1)]), activation=halved, output_activation=halved, seed=1), path)
    >>> load(path)
    Traceback (most recent call last):
    ...
    dagnet.errors.FileFormatError: ... custom_objects={'mypkg.acts:halved': halved}).
    >>> load(path, custom_objects={"mypkg.acts:halved": halved}).num_edges
    1
    """
    payload = read_checked(path, _FORMAT, _VERSION, "a file written by dagnet.save")
    _check_payload(payload, path)
    refs = _Refs(path, _custom(custom_objects))
    config = dict(payload["config"])
    config["activation"] = refs(config["activation"], "the network")
    config["output_activation"] = refs(config["output_activation"], "the network")
    node_act, combine = payload["node_activation"], payload.get("combine")
    labels = payload["labels"]
    if node_act is not None:
        node_act = [refs(a, f"node {labels[i]!r}") for i, a in enumerate(node_act)]
    if combine is not None:
        combine = [refs(c, f"node {labels[i]!r}", "combine") for i, c in enumerate(combine)]
    state = payload["state_dict"]
    try:
        wiring = Wiring(
            payload["num_nodes"],
            payload["source"].numpy(),
            payload["target"].numpy(),
            labels=labels,
            activation=node_act,
            combine=combine,
            branch=None if payload.get("branch") is None else payload["branch"].numpy(),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeadNodeWarning)
            net = DAGNetwork(
                wiring,
                inputs=payload["inputs"],
                outputs=payload["outputs"],
                seed=payload["seed"],
                dtype=getattr(torch, payload["dtype"]),
                **config,
            )
    except Exception as e:
        raise FileFormatError(
            f"{path} is not a valid dagnet network file: its network cannot be built ({type(e).__name__}: {e}).", path
        ) from e
    own = net.state_dict()
    if set(own) != set(state):
        diff = sorted(set(own) ^ set(state))
        raise FileFormatError(
            f"{path} is not a valid dagnet network file: its state_dict does not fit its "
            f"network (keys {diff[:5]} differ).",
            path,
        )
    for key, value in own.items():
        if state[key].dtype != value.dtype and value.is_floating_point():
            raise FileFormatError(
                f"{path} is not a valid dagnet network file: state_dict[{key!r}] is "
                f"{state[key].dtype}, the network's is {value.dtype}.",
                path,
            )
    for key in ("node_index", "in_ptr", "in_src"):
        if not torch.equal(state[key].long(), own[key].long()):
            raise FileFormatError(
                f"{path} is not a valid dagnet network file: the wiring of its state_dict "
                f"({key!r}) is not the wiring it describes.",
                path,
            )
    if payload.get("class") == "SparseLinear":  # same state; the class fixes where edges may grow
        from .nn.sparse_linear import SparseLinear

        net.__class__ = SparseLinear
        net.requested_density = net.density
    try:
        net.load_state_dict(state)
    except (RuntimeError, ValueError) as e:
        raise FileFormatError(f"{path} is not a valid dagnet network file: {e}", path) from e
    if net.inputs != payload["inputs"] or net.outputs != payload["outputs"]:
        raise FileFormatError(
            f"{path} is not a valid dagnet network file: its inputs and outputs do not match its wiring.", path
        )
    if payload.get("class") == "Population":
        net = _population(net, payload.get("population"), path)
    if map_location is not None:
        try:
            device = torch.device(map_location)
            net.to(device)
        except (RuntimeError, AssertionError, TypeError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ValueError(
                f"The 'map_location' parameter of dagnet.load must name a device this machine has; "
                f"{map_location!r} is not usable here ({first}). The network in {path} loaded on the CPU: "
                "pass map_location=None or 'cpu', or a device that torch.cuda.device_count() covers."
            ) from None
    return net
