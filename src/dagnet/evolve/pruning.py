"""Magnitude pruning, one-shot or iterative with rewinding (the lottery ticket procedure)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .._checks import check_choice, check_float
from ..nn.dag_network import DAGNetwork
from ._base import EvolutionRule, member_spaces, sparse_modules
from .set import smallest_on_device

__all__ = ["MagnitudePruning", "IterativeMagnitudePruning", "magnitude_removal"]

SCOPES = ("layer", "global")
REWINDS = ("init", "none")


def magnitude_removal(weight: np.ndarray, amount: float, candidates: np.ndarray | None = None) -> np.ndarray:
    """Return the boolean mask of the ``floor(amount * n)`` candidates with the smallest ``|w|``.

    ``n`` is the number of ``candidates`` (default: all weights); ties go to
    the lower index.

    Parameters
    ----------
    weight : array, shape (E,)
    amount : float in [0, 1]
        Fraction of the candidates to remove.
    candidates : bool array, shape (E,), optional
        The weights that may be removed.

    Returns
    -------
    bool array, shape (E,)

    Examples
    --------
    >>> magnitude_removal(np.array([0.5, -0.1, 0.2, -0.9, 0.3]), 0.4).tolist()
    [False, True, True, False, False]
    >>> magnitude_removal(np.array([0.5, -0.1, 0.2]), 0.5, np.array([True, False, True])).tolist()
    [False, False, True]
    """
    w = np.abs(np.asarray(weight, dtype=np.float64)).ravel()
    cand = np.flatnonzero(
        np.ones(w.size, dtype=bool) if candidates is None else np.asarray(candidates, dtype=bool).ravel()
    )
    k = int(amount * cand.size)
    remove = np.zeros(w.size, dtype=bool)
    remove[cand[np.argsort(w[cand], kind="stable")[:k]]] = True
    return remove


def _check_scope(scope, owner: str) -> str:
    return check_choice(scope, "scope", owner, SCOPES)


def _removal_on_device(weight: torch.Tensor, amount: float, candidates: np.ndarray) -> np.ndarray:
    """:func:`magnitude_removal` of a tensor, ranked on its device; only the chosen indices cross to the host."""
    cand = np.flatnonzero(candidates)
    idx = torch.from_numpy(cand).to(weight.device)
    chosen = idx[smallest_on_device(weight[idx].abs(), int(amount * cand.size))]
    remove = np.zeros(weight.numel(), dtype=bool)
    remove[chosen.cpu().numpy()] = True
    return remove


def _removal_masks(nets: Sequence[DAGNetwork], amount: float, scope: str) -> list[np.ndarray]:
    """The edges of each network to remove: per network, or ranked across all of them.

    Networks on one device other than the CPU are ranked there
    (:func:`_removal_on_device`); otherwise their weights come to the host.
    """
    candidates = [net.evolvable_edges() for net in nets]
    devices = {net.weight.device for net in nets}
    on_device = len(devices) == 1 and devices.pop().type != "cpu"
    if on_device:
        weights, remove_fn = [net.weight.detach().double() for net in nets], _removal_on_device
    else:
        weights, remove_fn = [net.weight.detach().cpu().double().numpy() for net in nets], magnitude_removal
    if scope == "layer":
        return [_per_member(net, w, amount, c, remove_fn) for net, w, c in zip(nets, weights, candidates)]
    concat = torch.cat if on_device else np.concatenate
    remove = remove_fn(concat(weights), amount, np.concatenate(candidates))
    return np.split(remove, np.cumsum([c.size for c in candidates])[:-1])


def _per_member(net: DAGNetwork, weight, amount: float, candidates: np.ndarray, remove_fn) -> np.ndarray:
    """``remove_fn`` within each member of a Population's network (each keeps its share), else over all of it."""
    spaces = member_spaces(net)
    if spaces is None:
        return remove_fn(weight, amount, candidates)
    remove = np.zeros(candidates.size, dtype=bool)
    for sp in spaces:
        mine = weight[torch.from_numpy(sp.edges).to(weight.device)] if torch.is_tensor(weight) else weight[sp.edges]
        remove[sp.edges] = remove_fn(mine, amount, candidates[sp.edges])
    return remove


def _prune(model: nn.Module, amount: float, scope: str, optimizer) -> tuple[list, dict]:
    """Prune ``model``'s sparse modules in place; return them and ``{name: {"removed", "added"}}``."""
    found = sparse_modules(model)
    masks = _removal_masks([net for _, net in found], amount, scope)
    changes = {}
    for (name, net), remove in zip(found, masks):
        if remove.any():
            changes[name] = net.rewire_(remove=remove, optimizer=optimizer)
        else:
            changes[name] = {"removed": 0, "added": 0}
    return found, changes


class MagnitudePruning(EvolutionRule):
    """Remove the connections with the smallest magnitudes, a fraction of the survivors per step.

    Each :meth:`step` removes ``floor(amount * n)`` of the ``n`` remaining
    evolvable edges with the smallest ``|w|`` (see :func:`magnitude_removal`),
    per module (``scope="layer"``) or ranked across every sparse module of
    the model (``scope="global"``). The edges are truly removed by
    :meth:`~dagnet.DAGNetwork.rewire_` (no mask is kept) and take their
    optimizer state with them. Nothing grows back: ``k`` steps leave about
    ``(1 - amount) ** k`` of the edges.

    When every sparse module is on one device other than the CPU the
    magnitudes are ranked there; what crosses to the host per step is the
    indices of the removed edges, from which the new plans are compiled (on
    mixed devices the weights come to the host and are ranked there).

    Parameters
    ----------
    amount : float in [0, 1], default 0.2
        Fraction of the remaining edges removed per step.
    scope : {"layer", "global"}, default "layer"
        Rank magnitudes per module (per member in a
        :class:`~dagnet.nn.Population`'s network), or across all sparse modules.

    Examples
    --------
    >>> from dagnet.nn import sparse_mlp
    >>> mlp = sparse_mlp([20, 30, 2], epsilon=3, seed=0)
    >>> edges = mlp[0].num_edges
    >>> changes = MagnitudePruning(amount=0.5).step(mlp)
    >>> changes["0"]["removed"] == edges // 2, mlp[0].num_edges == edges - edges // 2
    (True, True)
    """

    def __init__(self, amount: float = 0.2, scope: str = "layer"):
        super().__init__(0)  # deterministic: the generator is never drawn from
        self.amount = check_float(amount, "amount", "MagnitudePruning", 0, 1)
        self.scope = _check_scope(scope, "MagnitudePruning")

    def _params(self) -> dict:
        return {"amount": self.amount, "scope": self.scope}

    def step(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict:
        """Prune every sparse module of ``model`` once; return ``{name: {"removed", "added"}}``."""
        _, changes = _prune(model, self.amount, self.scope, optimizer)
        self.updates += 1
        return changes


class IterativeMagnitudePruning(EvolutionRule):
    """Iterative magnitude pruning with rewinding: the lottery ticket procedure (Frankle & Carbin 2019).

    :meth:`attach` records the values of every weight and bias of the model
    (``fit`` calls it before training). Each :meth:`step` then removes the
    fraction ``amount`` of the surviving evolvable edges with the smallest
    ``|w|`` (as :class:`MagnitudePruning`) and, with ``rewind="init"``, sets
    every surviving weight and every bias back to its recorded value and
    resets their optimizer state to what a fresh optimizer has (the entries
    are dropped; torch optimizers recreate them at their next step with zero
    moments and a step count of 0). Training the rewound network again and
    repeating gives the winning ticket after ``k`` rounds at a density of
    about ``(1 - amount) ** k``.

    With ``fit``, give the rule a schedule that trains several epochs per
    round, e.g. ``rules=[(rule, lambda epoch: epoch % 10 == 0)]``; the
    record is saved in checkpoints, so a resumed run rewinds to the same
    values. The record is kept on the CPU: :meth:`record` copies the
    weights and biases there, and each rewinding step sends the recorded
    values of the survivors back to their device (the pruning itself
    crosses as :class:`MagnitudePruning`'s does).

    Weights are recorded by their edge's endpoints (source and target node,
    and the branch of a multi-branch target), biases by their node, so the
    record follows the network through any
    rewiring. A surviving edge that did not exist when the values were
    recorded (grown later by another rule) keeps its current value.

    Parameters
    ----------
    amount : float in [0, 1], default 0.2
        Fraction of the surviving edges removed per round (the paper's p%).
    scope : {"layer", "global"}, default "layer"
        Rank magnitudes per module (per member in a
        :class:`~dagnet.nn.Population`'s network), or across all sparse modules.
    rewind : {"init", "none"}, default "init"
        ``"none"`` prunes only (no record needed).

    Notes
    -----
    Rewinding to the values of an early training iteration rather than to
    the initialisation (Frankle et al. 2020, "late rewinding") is
    :meth:`record` called at that iteration.

    Examples
    --------
    >>> from dagnet.nn import sparse_mlp
    >>> mlp = sparse_mlp([20, 30, 2], epsilon=3, seed=0)
    >>> rule = IterativeMagnitudePruning(amount=0.2)
    >>> rule.attach(mlp)
    >>> w0 = dict(zip(zip(*mlp[0].edge_endpoints()), mlp[0].weight.tolist()))
    >>> with torch.no_grad():
    ...     _ = mlp[0].weight.mul_(3)  # stands for training
    >>> changes = rule.step(mlp)
    >>> all(w0[e] == w for e, w in zip(zip(*mlp[0].edge_endpoints()), mlp[0].weight.tolist()))
    True
    """

    def __init__(self, amount: float = 0.2, scope: str = "layer", rewind: str = "init"):
        super().__init__(0)  # deterministic: the generator is never drawn from
        self.amount = check_float(amount, "amount", "IterativeMagnitudePruning", 0, 1)
        self.scope = _check_scope(scope, "IterativeMagnitudePruning")
        self.rewind = check_choice(rewind, "rewind", "IterativeMagnitudePruning", REWINDS)
        self.initial: dict[str, dict] | None = None

    def _params(self) -> dict:
        return {"amount": self.amount, "scope": self.scope, "rewind": self.rewind}

    def attach(self, model: nn.Module) -> None:
        """Record the current values of ``model`` unless values are already recorded.

        ``fit`` calls it before training; a resumed run then replaces the
        record with the one saved in the checkpoint.
        """
        if self.initial is None:
            self.record(model)

    def record(self, model: nn.Module) -> None:
        """Record the current weights and biases of every sparse module of ``model`` (the rewind point)."""
        self.initial = {name: _snapshot(net) for name, net in sparse_modules(model)}

    def step(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict:
        """Prune once, then rewind the survivors; return ``{name: {"removed", "added", "rewound"}}``."""
        rewind = self.rewind == "init"
        if rewind:
            if self.initial is None:
                raise RuntimeError(
                    "IterativeMagnitudePruning(rewind='init') has no values to rewind to: call "
                    "rule.attach(model) before training (fit does)."
                )
            names = [name for name, _ in sparse_modules(model)]
            unknown = [name for name in names if name not in self.initial]
            if unknown:
                raise RuntimeError(
                    f"IterativeMagnitudePruning recorded the modules {sorted(self.initial)}, not "
                    f"{unknown}: call rule.record(model) for this model."
                )
        found, changes = _prune(model, self.amount, self.scope, optimizer)
        for name, net in found:
            changes[name]["rewound"] = _rewind(net, self.initial[name], optimizer) if rewind else 0
        self.updates += 1
        return changes

    def state_dict(self) -> dict:
        """Return the rule's state: its counters and the recorded values (tensors and plain data)."""
        return {**super().state_dict(), "initial": self.initial}

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from :meth:`state_dict`."""
        super().load_state_dict(state)
        self.initial = state["initial"]


def _snapshot(net: DAGNetwork) -> dict:
    """The values of ``net``: weights keyed by (source, target node or branch unit), biases by that id."""
    keys = _edge_key(net)
    order = np.argsort(keys, kind="stable")
    out = {
        "num_nodes": net.num_nodes,
        "edge_keys": torch.from_numpy(keys[order]),
        "weight": net.weight.detach().cpu()[torch.from_numpy(order)].clone(),
        "bias_keys": None,
        "bias": None,
    }
    if net.bias is not None:
        ids = net.node_index[net.in_features :].cpu()  # node (or branch unit) of each bias entry
        order_b = torch.argsort(ids)
        out["bias_keys"] = ids[order_b].clone()
        out["bias"] = net.bias.detach().cpu()[order_b].clone()
    return out


def _edge_key(net: DAGNetwork) -> np.ndarray:
    """One key per weight: its source and the id it feeds (a branch unit of a multi-branch node has its own)."""
    src, dst_ext = net._edge_ids()
    return src.astype(np.int64) * (net.num_nodes + net._unit_owner.size) + dst_ext


def _lookup(saved_keys: torch.Tensor, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``keys`` found among the sorted ``saved_keys``, and where."""
    saved = saved_keys.numpy()
    if saved.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    at = np.minimum(np.searchsorted(saved, keys), saved.size - 1)
    found = np.flatnonzero(saved[at] == keys)
    return found, at[found]


@torch.no_grad()
def _rewind(net: DAGNetwork, snap: dict, optimizer) -> int:
    """Set ``net``'s weights and biases to ``snap``'s values; reset their optimizer state. Return #weights set."""
    if snap["num_nodes"] != net.num_nodes:
        raise RuntimeError(
            f"The recorded values are of a network with {snap['num_nodes']} nodes; this one has {net.num_nodes}."
        )
    pos, at = _lookup(snap["edge_keys"], _edge_key(net))
    w = net.weight
    w[torch.from_numpy(pos).to(w.device)] = snap["weight"][torch.from_numpy(at)].to(w.device, w.dtype)
    if net.bias is not None and snap["bias"] is not None:
        b = net.bias
        bpos, bat = _lookup(snap["bias_keys"], net.node_index[net.in_features :].cpu().numpy())
        b[torch.from_numpy(bpos).to(b.device)] = snap["bias"][torch.from_numpy(bat)].to(b.device, b.dtype)
    if optimizer is not None:
        for p in (net.weight, net.bias):
            if p is not None:
                optimizer.state.pop(p, None)
    return int(pos.size)
