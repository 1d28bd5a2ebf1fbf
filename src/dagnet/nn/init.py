"""Initial values of a network's weights and biases, on each node's true fan-in."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import NonFiniteValueError
from ..plan import Plan
from ..wiring import Wiring
from ._common import beyond

__all__ = ["INITS", "initial_values", "network_values", "deterministic_values"]

INITS = (
    "kaiming_uniform",
    "kaiming_normal",
    "xavier_uniform",
    "xavier_normal",
    "zeros",
    "deterministic",
    "deterministic_positive",
)

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0  # 1 / golden ratio: the most evenly spread Weyl sequence
_POSITIVE_POWER = 16  # concentration of the fixed-sign weights (see deterministic_values)


def initial_values(
    init: str, source: np.ndarray, target: np.ndarray, num_nodes: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return float64 ``(weight, bias)`` in wiring order (one bias per node).

    ``kaiming_uniform`` is ``torch.nn.Linear``'s rule on each node's true fan-in:
    weights and bias uniform in ``±1/sqrt(fan_in)``. ``kaiming_normal`` draws
    weights from N(0, 2/fan_in); the ``xavier`` rules use the fan-in of the
    target and the fan-out of the source of each edge. Biases are drawn as for
    ``kaiming_uniform`` except with ``zeros``, which sets everything to 0.
    A node with no incoming edge gets bias 0, as ``nn.Linear`` does.
    ``deterministic`` and ``deterministic_positive`` draw nothing (the
    generator is not used): see :func:`deterministic_values`.

    Examples
    --------
    >>> w, b = initial_values("zeros", np.array([0]), np.array([1]), 2, torch.Generator())
    >>> w.tolist(), b.tolist()
    ([0.0], [0.0, 0.0])
    """
    if init not in INITS:
        raise ValueError(f"The 'init' parameter must be one of {INITS}. Got {init!r} instead.")
    fan_in = np.bincount(target, minlength=num_nodes).astype(np.float64)
    fan_out = np.bincount(source, minlength=num_nodes).astype(np.float64)
    e = source.size
    if init == "zeros":
        return torch.zeros(e, dtype=torch.float64), torch.zeros(num_nodes, dtype=torch.float64)
    if init.startswith("deterministic"):
        weight = deterministic_values(target, num_nodes, positive=init == "deterministic_positive")
        return torch.from_numpy(weight), torch.zeros(num_nodes, dtype=torch.float64)
    fin = torch.from_numpy(fan_in[target])
    if init == "kaiming_uniform":
        weight = (torch.rand(e, generator=generator, dtype=torch.float64) * 2 - 1) / fin.sqrt()
    elif init == "kaiming_normal":
        weight = torch.randn(e, generator=generator, dtype=torch.float64) * (2.0 / fin).sqrt()
    else:
        both = fin + torch.from_numpy(fan_out[source])
        if init == "xavier_uniform":
            weight = (torch.rand(e, generator=generator, dtype=torch.float64) * 2 - 1) * (6.0 / both).sqrt()
        else:
            weight = torch.randn(e, generator=generator, dtype=torch.float64) * (2.0 / both).sqrt()
    bound = torch.from_numpy(np.where(fan_in > 0, 1.0 / np.sqrt(np.maximum(fan_in, 1.0)), 0.0))
    bias = (torch.rand(num_nodes, generator=generator, dtype=torch.float64) * 2 - 1) * bound
    return weight, bias


def deterministic_values(target: np.ndarray, num_nodes: int, positive: bool = False) -> np.ndarray:
    r"""Return float64 weights in wiring order computed from edge positions alone, with no random number.

    Edge ``e`` (its position in the wiring) takes the ``e``-th point of the
    golden-ratio Weyl sequence, :math:`u_e = \{1/2 + (e + 1)/\varphi\}`, a
    low-discrepancy sequence: the consecutive in-edges of every node get
    values spread evenly over [0, 1), whatever their number.

    * ``positive=False``: :math:`w_e = (2 u_e - 1) / \sqrt{k_v}` on the fan-in
      :math:`k_v` of the edge's target: ``kaiming_uniform``'s range and
      variance, with each node's weights summing to about 0.
    * ``positive=True``: every weight positive, :math:`w_e \propto (u_e / \max
      u)^{16}` over the in-edges of each node, scaled so that each node's
      squared weights sum to 1/3 (``kaiming_uniform``'s expected sum). Each
      node starts from about one strong input and faint others.

    Why not one constant: a node's pre-activation under positive weights is a
    positive sum of its inputs, and positive sums of positively correlated
    inputs (images; any ReLU layer) are dominated by their common part. With
    the constant ``1/sqrt(k)``, the hidden pre-activations of a Sobol'
    64-512-512-10 network on digits are pairwise correlated 1.00 in the
    second hidden layer and in the outputs, and all active on every sample,
    with a mean that grows layer by layer (about 1 in the second hidden
    layer, 20 in the outputs); and equal weights into the outputs send the
    hidden layers no gradient at all, since the softmax gradients over the
    classes sum to 0. Centring the pre-activations through the biases does
    not help (the correlation remains); spreading the weights does. Signed
    weights cancel the common part; positive weights can avoid it only by
    concentrating each node on few inputs, which the high power of evenly
    spread ``u_e`` does (a node's largest weight is near the top of the
    sequence, the next ones decay fast). ``bench/path_networks.py`` measures
    both against random initialisation.

    Examples
    --------
    >>> w = deterministic_values(np.array([2, 2, 2, 3]), 4)
    >>> w.round(3).tolist()
    [-0.441, 0.273, -0.168, 0.944]
    >>> bool((deterministic_values(np.array([2, 2, 2, 3]), 4, positive=True) > 0).all())
    True
    """
    target = np.asarray(target, dtype=np.int64)
    u = np.mod(0.5 + (np.arange(target.size, dtype=np.float64) + 1.0) * _GOLDEN, 1.0)
    fan_in = np.bincount(target, minlength=num_nodes).astype(np.float64)
    if not positive:
        return (2.0 * u - 1.0) / np.sqrt(fan_in[target])
    top = np.zeros(num_nodes)
    np.maximum.at(top, target, u)
    raw = (u / top[target]) ** _POSITIVE_POWER  # each node's largest is 1
    squares = np.bincount(target, weights=raw * raw, minlength=num_nodes)
    return raw / np.sqrt(3.0 * squares[target])


def network_values(
    wiring: Wiring, plan: Plan, init: str, bias: bool, generator: torch.Generator, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the initial ``(weight, bias)`` of a network, float64, in the plan's order.

    Drawn by ``init`` (:func:`initial_values`, each dendritic branch on its own
    fan-in), then overridden by the wiring's given ``weight``, ``bias`` and
    ``branch_bias`` values; a multi-branch node's own bias is 0 (unused).

    Raises
    ------
    ValueError
        For a given bias with ``bias=False``, a ``branch_bias`` of the wrong
        length, or a bias on a node that combines branches.
    NonFiniteValueError
        For a given value beyond the largest number of ``dtype`` (it would become inf).

    Examples
    --------
    >>> from dagnet.plan import compile_plan
    >>> w = Wiring(3, [0, 1], [2, 2], weight=np.array([0.5, np.nan]))
    >>> plan, _ = compile_plan(w)
    >>> weight, bias = network_values(w, plan, "zeros", True, torch.Generator(), torch.float32)
    >>> weight.tolist(), bias.tolist()
    ([0.5, 0.0], [0.0])
    """
    target = plan.edge_target if plan.edge_target is not None else wiring.target
    weight0, bias0 = initial_values(init, wiring.source, target, plan.num_nodes, generator)
    if wiring.weight is not None:
        given = torch.from_numpy(wiring.weight)
        weight0 = torch.where(torch.isnan(given), weight0, given)
    n = wiring.num_nodes
    if wiring.bias is not None:
        given = torch.from_numpy(wiring.bias)
        if not bias and not torch.isnan(given).all():
            v = int(np.flatnonzero(~np.isnan(wiring.bias))[0])
            raise ValueError(f"Node {wiring.label(v)!r} has a 'bias' attribute, but bias=False.")
        bias0[:n] = torch.where(torch.isnan(given), bias0[:n], given)
    if wiring.branch_bias is not None:
        for v, values in enumerate(wiring.branch_bias):
            if values is None:
                continue
            units = np.arange(*np.searchsorted(plan.unit_owner, [v, v + 1]))  # owner-sorted
            if len(values) != units.size:
                raise ValueError(
                    f"Node {wiring.label(v)!r} has {units.size} branches but {len(values)} values in 'branch_bias'."
                )
            if not bias:
                raise ValueError(f"Node {wiring.label(v)!r} has a 'branch_bias', but bias=False.")
            bias0[n + units] = torch.as_tensor(values, dtype=torch.float64)
    for start, end, *_ in plan.combines:  # a multi-branch node's own bias is not used
        own = plan.node_index[start:end]
        if wiring.bias is not None and not np.isnan(wiring.bias[own]).all():
            v = int(own[~np.isnan(wiring.bias[own])][0])
            raise ValueError(
                f"Node {wiring.label(v)!r} combines branches and has no bias of its "
                "own: give 'branch_bias', one value per branch."
            )
        bias0[own] = 0.0
    edge_index = torch.from_numpy(plan.edge_index)
    hidden = torch.from_numpy(plan.node_index[plan.num_inputs :])
    weight0, bias0 = weight0[edge_index], bias0[hidden]
    k = _first(beyond(weight0, dtype))
    if k is not None:
        u, v = wiring.source[plan.edge_index[k]], wiring.target[plan.edge_index[k]]
        raise NonFiniteValueError(
            f"The initial weight of edge {wiring.label(u)!r} -> {wiring.label(v)!r} "
            f"is {weight0[k].item():g}, beyond the largest {dtype} "
            f"({torch.finfo(dtype).max:g}); scale it down or use dtype=torch.float64."
        )
    k = _first(beyond(bias0, dtype)) if bias else None
    if k is not None:
        node = int(plan.node_index[plan.num_inputs + k])
        what = (
            f"node {wiring.label(node)!r}"
            if node < n
            else f"branch {plan.unit_branch[node - n]} of node {wiring.label(plan.unit_owner[node - n])!r}"
        )
        raise NonFiniteValueError(
            f"The initial bias of {what} is {bias0[k].item():g}, beyond the largest "
            f"{dtype} ({torch.finfo(dtype).max:g}); scale it down or use "
            "dtype=torch.float64."
        )
    return weight0, bias0


def _first(mask: torch.Tensor) -> int | None:
    return int(mask.nonzero()[0, 0]) if bool(mask.any()) else None
