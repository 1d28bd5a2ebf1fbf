"""Saving and loading models holding dagnet layers: structure, sparse topologies and values, exactly.

A file written by :func:`save` holds plain data and tensors only, with a
SHA-256 of its content: the model's tree (see :mod:`.tree`: the class of
every module, the constructor arguments of ``torch.nn``'s layers and
dagnet's own, a record of each network's labels and activations) and its
``state_dict``, in which each sparse layer holds its connections as CSR rows
(one ``in_ptr`` entry per node, one source per connection, in the smallest
integer type that holds them) beside its weights; what the engine derives
from them is rebuilt on load. :func:`load` reads it with
``torch.load(weights_only=True)``, verifies the checksum and every field
before anything is built, and never imports a module: it rebuilds ``torch.nn``
containers and layers and dagnet's modules, looks activations up among
dagnet's own (and ``torch.nn``'s) or in the ``custom_objects`` the caller
passes, and loads a model of your own classes into an instance you build
(``into=``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from ..errors import FileFormatError
from ..fileio import read_checked, write_checked
from . import network, tree
from .refs import Refs, custom_objects_by_name

__all__ = ["save", "load"]

_FORMAT = "dagnet.DAGNetwork"  # the name files have had since format version 1, when they held one network
_VERSION = 3  # 3: any module tree, topologies in the state_dict; 2: one network, with a checksum; 1: without


def _stored(t: torch.Tensor) -> torch.Tensor:
    """``t`` on the CPU, as a tensor of its own (torch.save writes a view's whole storage)."""
    t = t.detach().cpu()
    return t if t.untyped_storage().nbytes() == t.numel() * t.element_size() else t.clone()


def save(module: nn.Module, path: str | os.PathLike) -> None:
    """Write a model's structure, sparse topologies and values to ``path``, atomically.

    ``module`` is any ``nn.Module``: a :class:`~dagnet.nn.DAGNetwork`,
    :class:`~dagnet.nn.SparseLinear` or :class:`~dagnet.nn.Population`, a
    :func:`~dagnet.nn.sparse_mlp`, or a model of ``torch.nn`` layers or of
    your own classes holding them. A float32 sparse layer takes about 6 bytes
    per connection (a 2-byte source, 4 bytes beyond 32767 nodes, and its
    weight), so its file is smaller than ``nn.Linear``'s dense one up to about
    half density (two fifths beyond 32767 nodes). Modules that share a
    submodule are saved, and rebuilt, as holding copies of it.
    Activations are stored by name; callables by their ``module:qualname``
    (module activations are rebuilt by calling their class with no arguments,
    then their parameters are loaded). The file holds a SHA-256 of its
    content and gets the user's usual permissions (umask).

    Raises
    ------
    ValueError
        If a network has a weight modifier, a label or activation that
        cannot be stored, or a value is NaN or infinite (the message names it).
    TypeError
        If ``module`` is not an ``nn.Module``, a network is in a dtype it
        cannot compute in (e.g. after ``net.half()``), or a ``state_dict``
        entry is not a tensor.

    Examples
    --------
    >>> import tempfile, os
    >>> from dagnet.nn import sparse_mlp
    >>> mlp = sparse_mlp([64, 32, 10], density=0.2, seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "mlp.pt")
    >>> save(mlp, path)
    >>> x = torch.randn(2, 64)
    >>> torch.equal(load(path)(x), mlp(x))
    True
    """
    if not isinstance(module, nn.Module):
        raise TypeError(
            "dagnet.save expects an nn.Module (a DAGNetwork, a Population, a sparse_mlp or a model "
            f"holding them), got {type(module).__name__}."
        )
    structure = tree.describe(module)
    state = {}
    for key, value in module.state_dict().items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"Cannot save the model: its state_dict entry {key!r} is a {type(value).__name__}, not a tensor."
            )
        state[key] = _stored(value)
    key = network.non_finite(state)
    if key is not None:
        raise ValueError(
            f"Cannot save the model: {key!r} holds NaN or infinite values, which "
            "dagnet.load refuses. Fix or reinitialise them first."
        )
    write_checked(path, {"format": _FORMAT, "version": _VERSION, "module": structure, "state_dict": state})


def load(
    path: str | os.PathLike,
    map_location: str | torch.device | None = None,
    custom_objects: Mapping[str, Any] | Iterable[Any] | None = None,
    into: nn.Module | None = None,
) -> nn.Module:
    """Return the model saved at ``path`` by :func:`save`, identical to the one saved.

    Nothing in the file is run or imported: it is read with
    ``torch.load(weights_only=True)``, its checksum and every field are
    checked before the model is built, and classes and activations are looked
    up, never imported: ``torch.nn``'s containers, layers and activations,
    dagnet's modules and activation functions, names registered in
    :mod:`dagnet.activations`, and ``custom_objects``. A model holding
    modules of your own classes is loaded into an instance you build
    (``into=``): the file's sparse topologies replace those of its networks
    (a layer's connections are resized to the saved ones), then the values
    are loaded. Files written before models (format versions 1 and 2: one
    network) load with the same checks, version 1 without a checksum.

    Parameters
    ----------
    path : path-like
    map_location : str or torch.device, optional
        Where to move the model after loading (default: the CPU).
    custom_objects : dict or iterable, optional
        Your own activation callables and module classes that the file's
        networks refer to, as ``{"module:qualname": obj}`` (the names the
        error message shows) or as a list of the objects. Pass only what you
        trust: module classes are called with no arguments.
    into : nn.Module, optional
        A model of the saved structure (same classes and submodule names) to
        load into, in place, and return.

    Returns
    -------
    nn.Module
        Same classes (``DAGNetwork``, ``SparseLinear``, ``Population``,
        ``nn.Sequential``, ...), wirings, levels, activations, training flags
        and values as the saved model; ``into`` if given.

    Raises
    ------
    dagnet.errors.FileFormatError
        If the file is empty, truncated, corrupt (it does not match its
        checksum), not written by :func:`save`, inconsistent, holds a module
        of a class dagnet does not build (without ``into``), or refers to an
        activation that is neither dagnet's own nor in ``custom_objects``.
        Also a ``ValueError``; the message names the path and the culprit.
    ValueError
        If ``into`` does not have the saved structure (the message names the
        module), or ``map_location`` is not a device this machine has.
    TypeError
        If ``path`` is not a path, or ``into`` not an ``nn.Module``.
    OSError
        If the file cannot be opened.

    Examples
    --------
    >>> import networkx as nx, tempfile, os
    >>> from dagnet import DAGNetwork, SparseLinear
    >>> path = os.path.join(tempfile.mkdtemp(), "net.pt")
    >>> save(DAGNetwork(nx.DiGraph([(0, 1)]), seed=1), path)
    >>> load(path).num_edges
    1

    A model of your own class is built by you, then loaded into:

    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.conv, self.head = nn.Conv2d(1, 2, 3), SparseLinear(32, 10, density=0.3)
    ...     def forward(self, x):
    ...         return self.head(self.conv(x).flatten(1))
    >>> net = Net()
    >>> save(net, path)
    >>> load(path)
    Traceback (most recent call last):
    ...
    dagnet.errors.FileFormatError: ... dagnet.load(path, into=model).
    >>> other = load(path, into=Net())  # another draw of connections: resized to the saved ones
    >>> x = torch.randn(4, 1, 6, 6)
    >>> other.head.num_edges == net.head.num_edges and torch.equal(other(x), net(x))
    True

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
    if into is not None and not isinstance(into, nn.Module):
        raise TypeError(f"The 'into' parameter of dagnet.load must be an nn.Module. Got {type(into).__name__} instead.")
    payload = read_checked(path, _FORMAT, _VERSION, "a file written by dagnet.save")
    refs = Refs(path, custom_objects_by_name(custom_objects))
    if payload["version"] < 3:
        module = network.load_legacy(payload, path, refs)
        if into is not None:
            module = _load_into(into, tree.describe(module), module.state_dict(), path)
    else:
        structure, state = payload.get("module"), payload.get("state_dict")
        _check_state(state, path)
        if into is None:
            module = tree.build(structure, state, path, refs)
            _load_built(module, state, path)
        else:
            module = _load_into(into, structure, state, path)
    if map_location is not None:
        try:
            device = torch.device(map_location)
            module.to(device)
        except (RuntimeError, AssertionError, TypeError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ValueError(
                f"The 'map_location' parameter of dagnet.load must name a device this machine has; "
                f"{map_location!r} is not usable here ({first}). The model in {path} loaded on the CPU: "
                "pass map_location=None or 'cpu', or a device that torch.cuda.device_count() covers."
            ) from None
    return module


def _check_state(state: Any, path) -> None:
    def bad(what: str) -> FileFormatError:
        return FileFormatError(f"{path} is not a valid dagnet file: {what}.", path)

    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) and v.layout == torch.strided for k, v in state.items()
    ):
        raise bad("state_dict must map names to dense tensors")
    key = network.non_finite(state)
    if key is not None:
        raise bad(f"state_dict[{key!r}] holds NaN or infinite values")


def _load_built(module: nn.Module, state: dict, path) -> None:
    """Load ``state`` into the model just built from the file: same keys and floating dtypes, or nothing."""

    def bad(what: str) -> FileFormatError:
        return FileFormatError(f"{path} is not a valid dagnet file: {what}.", path)

    own = module.state_dict()
    diff = sorted(set(own) ^ set(state))
    if diff:
        raise bad(f"its state_dict does not fit its model (keys {diff[:5]} differ)")
    for key, value in own.items():
        if state[key].dtype != value.dtype and value.is_floating_point():
            raise bad(f"state_dict[{key!r}] is {state[key].dtype}, the model's is {value.dtype}")
    try:
        module.load_state_dict(state)
    except (RuntimeError, ValueError) as e:
        raise bad(str(e).rstrip(".")) from e


def _load_into(model: nn.Module, structure: Any, state: dict, path) -> nn.Module:
    if not isinstance(structure, dict) or "class" not in structure:
        raise FileFormatError(f"{path} is not a valid dagnet file: it holds no model structure.", path)
    tree.check_fit(structure, model, path)
    diff = sorted(set(model.state_dict()) ^ set(state))
    if diff:
        raise ValueError(f"Cannot load {path} into the model: their state_dicts differ in the keys {diff[:5]}.")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"Cannot load {path} into the model: {e}") from e
    tree.set_training(structure, model)
    return model
