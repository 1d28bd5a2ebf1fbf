"""The record of a :class:`~dagnet.nn.DAGNetwork` in a saved file, and networks rebuilt from one.

A network's record holds what its ``state_dict`` does not: node labels,
activations, inputs, outputs and configuration. Its edges are those of the
``state_dict`` (``node_index``, ``in_ptr``, ``in_src``: CSR rows by target,
one source per edge), so :func:`build` reads them from there. Files of format
version 1 and 2 held the edges in the record (``source`` and ``target``, one
of each per edge) and every index buffer in the ``state_dict``;
:func:`load_legacy` reads them.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from ..engine import DTYPES
from ..errors import DeadNodeWarning, FileFormatError
from ..nn.dag_network import _INDEX_BUFFERS, _TOPOLOGY_KEYS, DAGNetwork
from ..wiring import Wiring
from .refs import Refs, activation_ref

__all__ = ["build", "check_record", "load_legacy", "non_finite", "population_record", "record", "with_population"]

_RECORD_FIELDS = ("num_nodes", "labels", "node_activation", "inputs", "outputs", "config", "seed", "dtype")
_LEGACY_FIELDS = (*_RECORD_FIELDS, "source", "target", "state_dict")


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


def _runs(labels: list) -> list | dict:
    """``labels``, or ``{"range": [a, b]}`` when they are the ints ``a .. b - 1`` (as a SparseLinear's are)."""
    ints = len(labels) > 1 and all(type(x) is int for x in labels)
    if ints and labels == list(range(labels[0], labels[0] + len(labels))):
        return {"range": [labels[0], labels[0] + len(labels)]}
    return labels


def _expanded(value: Any, n: int) -> Any:
    """The list of at most ``n`` labels :func:`_runs` gave (anything else as it is, for the checks to refuse)."""
    if isinstance(value, dict) and set(value) == {"range"}:
        bounds = value["range"]
        if isinstance(bounds, list) and len(bounds) == 2 and all(type(b) is int for b in bounds):
            if 0 <= bounds[1] - bounds[0] <= n:
                return list(range(*bounds))
    return value


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


def non_finite(state: Mapping[str, torch.Tensor]) -> str | None:
    """The first key of ``state`` whose floating tensor holds a NaN or an infinity, or None."""
    for key, t in state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return key
    return None


# ---------------------------------------------------------------- saving
def record(net: DAGNetwork, where: str) -> dict:
    """The record of ``net`` (everything but its ``state_dict``), as plain data.

    Raises ValueError for a weight modifier, or a label or activation that
    cannot be stored, TypeError for a dtype the network cannot load in;
    ``where`` names the network in the messages.
    """
    if net.weight_modifier is not None:
        raise ValueError(
            f"{where} has a weight modifier ({type(net.weight_modifier).__name__}, from "
            "dagnet.evolve); save the model's state_dict() instead, or remove it first "
            "(net.weight_modifier = None)."
        )
    if net.weight.dtype not in DTYPES:
        raise TypeError(
            f"Cannot save {where}: it is in {net.weight.dtype}, but a DAGNetwork computes and "
            f"loads in {' or '.join(map(str, DTYPES))}. Convert it first with net.float() or "
            "net.double()."
        )
    labels = [_label(x, "node") for x in net.node_labels]
    mods = list(net.activation_modules)
    specs = net._node_activation
    node_act = None if specs is None else [activation_ref(a, f"node {labels[i]!r}", mods) for i, a in enumerate(specs)]
    combine = (
        None
        if net._node_combine is None
        else [activation_ref(c, f"node {labels[i]!r}", mods) for i, c in enumerate(net._node_combine)]
    )
    config = {k: v.item() if isinstance(v, np.generic) else v for k, v in net.config.items()}
    config["activation"] = activation_ref(config["activation"], "the network", mods)
    config["output_activation"] = activation_ref(config["output_activation"], "the network", mods)
    return {
        "num_nodes": net.num_nodes,
        "labels": _runs(labels),
        "node_activation": node_act,
        "combine": combine,
        "units": [net._unit_owner.tolist(), net._unit_branch.tolist()] if net._combines else None,
        "inputs": _runs([_label(x, "input") for x in net.inputs]),
        "outputs": _runs([_label(x, "output") for x in net.outputs]),
        "config": config,
        "class": type(net).__name__,
        "seed": net.seed,
        "dtype": str(net.weight.dtype).replace("torch.", ""),
    }


def population_record(pop) -> dict:
    """The members' inputs, outputs and seeds of a :class:`~dagnet.nn.Population`."""
    return {
        "member_inputs": [[_label(x, "input") for x in inp] for inp, _ in pop._member_io],
        "member_outputs": [[_label(x, "output") for x in out] for _, out in pop._member_io],
        "seeds": [None if s is None else int(s) for s in pop._member_seeds],
    }


# ---------------------------------------------------------------- loading
def check_record(
    rec: Any, bad: Callable[[str], FileFormatError], fields=_RECORD_FIELDS, max_nodes: int | None = None
) -> None:
    """Raise ``bad(what)`` for the first field of ``rec`` that a saved network cannot have.

    Labels, inputs and outputs stored as runs of ints are expanded in ``rec``,
    for at most ``max_nodes`` nodes (the positions its state_dict holds).
    """
    if not isinstance(rec, dict):
        raise bad("its network record is not a dict")
    missing = [k for k in fields if k not in rec]
    if missing:
        raise bad(f"it has no {', '.join(map(repr, missing))}")
    n = rec["num_nodes"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise bad(f"num_nodes is {n!r}")
    if max_nodes is not None and n > max_nodes:
        raise bad(f"num_nodes is {n}, more than the {max_nodes} positions of its state_dict")
    for name in ("labels", "inputs", "outputs"):
        rec[name] = _expanded(rec[name], n)
    labels = rec["labels"]
    if not isinstance(labels, list) or len(labels) != n or not all(map(_is_label, labels)):
        raise bad(f"labels must be a list of {n} ints, floats, strings or tuples")
    if len(set(labels)) != n:
        raise bad("labels holds a label twice")
    for name in ("node_activation", "combine"):
        value = rec.get(name)
        if value is not None and (not isinstance(value, list) or len(value) != n):
            raise bad(f"{name} must be None or a list of one entry per node ({n})")
    for name in ("inputs", "outputs"):
        value = rec[name]
        if not isinstance(value, list) or not value or not all(map(_is_label, value)):
            raise bad(f"{name} must be a non-empty list of node labels")
    config = rec["config"]
    if (
        not isinstance(config, dict)
        or not set(config) <= _config_keys()
        or not {"activation", "output_activation"} <= set(config)
    ):
        raise bad(f"config {config!r} does not hold the parameters of DAGNetwork")
    for key, value in config.items():
        if key not in ("activation", "output_activation") and not (value is None or _is_label(value)):
            raise bad(f"config[{key!r}] is {value!r}")
    seed = rec["seed"]
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise bad(f"seed is {seed!r}")
    dtype = rec["dtype"]
    if (
        not isinstance(dtype, str)
        or not isinstance(getattr(torch, dtype, None), torch.dtype)
        or not getattr(torch, dtype).is_floating_point
    ):
        raise bad(f"dtype is {dtype!r}, not a floating dtype")
    if not isinstance(rec.get("class", "DAGNetwork"), str):
        raise bad("class must be a class name")
    units = rec.get("units")
    if units is not None and not (
        isinstance(units, list)
        and len(units) == 2
        and all(isinstance(u, list) and len(u) == len(units[0]) for u in units)
        and all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i for u in units for i in u)
        and all(i < n for i in units[0])
    ):
        raise bad("units must be two lists (owner node, branch) of one int per dendritic branch")


def _edges(rec: dict, state: Mapping, prefix: str, bad) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(source, target, branch)`` node numbers of the edges the ``state_dict`` topology holds, checked."""
    n = rec["num_nodes"]
    owner, branch = rec.get("units") or ([], [])
    m = n + len(owner)
    saved = {k: state.get(prefix + k) for k in _TOPOLOGY_KEYS}
    for k, t in saved.items():
        if not _is_index_tensor(t):
            raise bad(f"state_dict[{prefix + k!r}] must be a 1-D integer tensor")
    node_index, in_ptr, in_src = (saved[k].long() for k in _TOPOLOGY_KEYS)
    if node_index.numel() != m or not torch.equal(node_index.sort().values, torch.arange(m)):
        raise bad(f"state_dict[{prefix + 'node_index'!r}] must order the network's {m} positions")
    e = in_src.numel()
    if in_ptr.numel() != m + 1 or in_ptr[0] != 0 or bool((in_ptr.diff() < 0).any()) or in_ptr[-1] != e:
        raise bad(
            f"state_dict[{prefix + 'in_ptr'!r}] must rise from 0 to the length of "
            f"state_dict[{prefix + 'in_src'!r}] ({e}) in {m + 1} entries"
        )
    if e and (int(in_src.min()) < 0 or int(in_src.max()) >= m):
        raise bad(f"state_dict[{prefix + 'in_src'!r}] holds positions outside 0..{m - 1}")
    ids = node_index.numpy()
    src = ids[in_src.numpy()]
    dst = ids[np.repeat(np.arange(m), np.diff(in_ptr.numpy()))]
    if (src >= n).any():
        raise bad(f"state_dict[{prefix + 'in_src'!r}] has an edge out of a dendritic branch")
    own = np.concatenate([np.arange(n), np.asarray(owner, dtype=np.int64)])
    of = np.concatenate([np.zeros(n, dtype=np.int64), np.asarray(branch, dtype=np.int64)])
    return src, own[dst], of[dst] if rec.get("units") is not None else None


def build(rec: dict, state: Mapping, prefix: str, refs: Refs, path, where: str) -> DAGNetwork:
    """The network of record ``rec`` with the edges of ``state`` (under ``prefix``); values stay to be loaded.

    ``rec`` has passed :func:`check_record`; raises FileFormatError naming
    ``path`` and ``where`` for anything that does not fit.
    """

    def bad(what: str) -> FileFormatError:
        return FileFormatError(f"{path} is not a valid dagnet network file: {where}{what}.", path)

    src, dst, branch = _edges(rec, state, prefix, bad)
    keys = ", ".join(repr(prefix + k) for k in _TOPOLOGY_KEYS)
    net = _network(rec, src, dst, branch, refs, bad, f" from the edges of its state_dict ({keys})")
    for key in _TOPOLOGY_KEYS:
        if not torch.equal(state[prefix + key].long(), getattr(net, key).long()):
            raise bad(f"its wiring does not compile to the plan of its state_dict ({prefix + key!r})")
    return net


def _network(rec: dict, src, dst, branch, refs: Refs, bad, edges_from: str = "") -> DAGNetwork:
    config = dict(rec["config"])
    config["activation"] = refs(config["activation"], "the network")
    config["output_activation"] = refs(config["output_activation"], "the network")
    node_act, combine, labels = rec["node_activation"], rec.get("combine"), rec["labels"]
    if node_act is not None:
        node_act = [refs(a, f"node {labels[i]!r}") for i, a in enumerate(node_act)]
    if combine is not None:
        combine = [refs(c, f"node {labels[i]!r}", "combine") for i, c in enumerate(combine)]
    try:
        wiring = Wiring(rec["num_nodes"], src, dst, labels=labels, activation=node_act, combine=combine, branch=branch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeadNodeWarning)
            net = DAGNetwork(
                wiring,
                inputs=rec["inputs"],
                outputs=rec["outputs"],
                seed=rec["seed"],
                dtype=getattr(torch, rec["dtype"]),
                **config,
            )
    except Exception as e:
        raise bad(f"its network cannot be built{edges_from} ({type(e).__name__}: {e})") from e
    if net.inputs != rec["inputs"] or net.outputs != rec["outputs"]:
        raise bad("its inputs and outputs do not match its wiring")
    if rec.get("class") == "SparseLinear":  # same state; the class fixes where edges may grow
        from ..nn.sparse_linear import SparseLinear

        net.__class__ = SparseLinear
        net.requested_density = net.density
    return net


def with_population(net: DAGNetwork, meta: Any, path):
    """The :class:`~dagnet.nn.Population` over the loaded union network ``net``, its members checked against ``meta``."""
    from ..nn.population import INPUT, Population

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


def load_legacy(payload: dict, path, refs: Refs) -> DAGNetwork:
    """The network (or population) of a file of format version 1 or 2, checked field by field."""

    def bad(what: str) -> FileFormatError:
        return FileFormatError(f"{path} is not a valid dagnet network file: {what}.", path)

    source, target = payload.get("source"), payload.get("target")
    if "source" in payload and "target" in payload:
        if not _is_index_tensor(source) or not _is_index_tensor(target, source.numel()):
            raise bad("source and target must be 1-D integer tensors of the same length")
    check_record(payload, bad, _LEGACY_FIELDS)
    n = payload["num_nodes"]
    for name, t in (("source", source), ("target", target)):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= n):
            raise bad(f"{name} holds node numbers outside 0..{n - 1}")
    branch = payload.get("branch")
    if branch is not None and (
        not _is_index_tensor(branch, source.numel()) or (branch.numel() and int(branch.min()) < 0)
    ):
        raise bad("branch must be a 1-D tensor of one int >= 0 per edge")
    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) and v.layout == torch.strided for k, v in state.items()
    ):
        raise bad("state_dict must map names to dense tensors")
    key = non_finite(state)
    if key is not None:
        raise bad(f"state_dict[{key!r}] holds NaN or infinite values")
    net = _network(payload, source.numpy(), target.numpy(), None if branch is None else branch.numpy(), refs, bad)
    own = net.state_dict()
    diff = sorted((set(own) ^ set(state)) - set(_INDEX_BUFFERS))  # older files hold every index buffer
    if diff:
        raise bad(f"its state_dict does not fit its network (keys {diff[:5]} differ)")
    for k, value in own.items():
        if state[k].dtype != value.dtype and value.is_floating_point():
            raise bad(f"state_dict[{k!r}] is {state[k].dtype}, the network's is {value.dtype}")
    for k in _TOPOLOGY_KEYS:
        if not torch.equal(state[k].long(), own[k].long()):
            raise bad(f"the wiring of its state_dict ({k!r}) is not the wiring it describes")
    try:
        net.load_state_dict(state)
    except (RuntimeError, ValueError) as e:
        raise bad(str(e).rstrip(".")) from e
    if payload.get("class") == "Population":
        net = with_population(net, payload.get("population"), path)
    return net
