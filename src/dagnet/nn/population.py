"""`Population`: many different networks trained as one, over the disjoint union of their graphs."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace

import networkx as nx
import numpy as np
import torch
from torch import nn

from .._checks import invalid
from ..errors import DeadNodeWarning
from ..roles import resolve_roles
from ..seeding import resolve_seed, torch_generator
from ..wiring import Wiring
from .dag_network import DAGNetwork
from .init import initial_values

__all__ = ["Population", "member_losses"]

#: Label of shared input column ``j`` in the union network.
INPUT = "input"


def member_key(label: tuple) -> int:
    """The member of a population network's node label ``(i, label)``; -1 for a shared input ``("input", j)``."""
    return -1 if label[0] == INPUT else label[0]


_LOSSES = {"cross_entropy": nn.functional.cross_entropy, "mse": nn.functional.mse_loss}


def member_losses(
    output: torch.Tensor, target: torch.Tensor, loss_fn: str | Callable = "cross_entropy"
) -> torch.Tensor:
    """Return each member's own mean loss, shape ``(members,)``.

    ``output`` is a population's output ``(batch, members, out_features)``;
    ``target`` is what one member would be given, ``(batch,)`` class labels or
    ``(batch, out_features)`` values, shared by all members, or one per
    member, ``(batch, members, ...)``. ``loss_fn`` is ``"cross_entropy"``,
    ``"mse"`` or a callable ``(output, target, reduction="none")`` like
    torch's losses. The sum of the result trains every member exactly as its
    own mean loss would train it alone (members share no parameter), for any
    element-wise optimizer (SGD, momentum, Adam, weight decay), not for
    anything that mixes parameters such as clipping the global gradient norm.

    Examples
    --------
    >>> out = torch.zeros(4, 3, 2)           # 4 samples, 3 members, 2 classes
    >>> [round(v, 4) for v in member_losses(out, torch.tensor([0, 1, 0, 1])).tolist()]  # log 2 each
    [0.6931, 0.6931, 0.6931]
    """
    fn = _LOSSES.get(loss_fn) if isinstance(loss_fn, str) else loss_fn
    if fn is None or not callable(fn):
        raise invalid("loss_fn", "member_losses", f"one of {sorted(_LOSSES)} or a callable", loss_fn)
    if output.dim() != 3:
        raise ValueError(
            f"member_losses expects an output of shape (batch, members, out_features), got {tuple(output.shape)}."
        )
    b, m, k = output.shape
    if target.dim() < 2 or target.shape[1] != m or target.shape[0] != b:
        target = target.unsqueeze(1).expand(b, m, *target.shape[1:])
    per = fn(output.reshape(b * m, k), target.reshape(b * m, *target.shape[2:]), reduction="none")
    return per.reshape(b, m, -1).mean(dim=(0, 2))


class Population(nn.Module):
    """Many networks with the same inputs and outputs, computed in one pass of one network.

    The disjoint union of DAGs is a DAG: the members become one
    :class:`DAGNetwork` whose input nodes are shared and whose outputs are
    the members' outputs side by side, so a batch goes through every member
    in one engine pass, level by level across all of them.

    Parameters
    ----------
    members : sequence of DAGNetwork, networkx.DiGraph or Wiring
        A network's current weights, biases, activations and wiring are
        copied; a graph or wiring is initialised as ``DAGNetwork(member,
        seed=seed + i, **options)`` would be. All members need the same
        ``in_features`` and ``out_features`` and the same ``bias`` setting.
    seed : int, numpy Generator or random.Random, optional
        Seed of member ``i``'s initialisation is ``seed + i``; ``None`` draws one.
    **options
        ``DAGNetwork`` arguments for the members given as graphs or wirings
        (``activation``, ``init``, ``bias``, ...), and ``dtype``, ``device``
        and ``backend`` of the population's network.

    Attributes
    ----------
    network : DAGNetwork
        The union. Its node labels are ``(i, label)`` for member ``i``'s node
        ``label`` and ``("input", j)`` for input column ``j``; rules such as
        SET act on it as on any network.

    Shape
    -----
    Input ``(*, in_features)``, output ``(*, len(population), out_features)``.

    Examples
    --------
    >>> pop = Population([nx.DiGraph([(0, 2), (1, 2)]), nx.DiGraph([(0, 2), (1, 3), (3, 2)])], seed=0)
    >>> pop(torch.ones(5, 2)).shape, len(pop)
    (torch.Size([5, 2, 1]), 2)
    """

    def __init__(self, members: Sequence[DAGNetwork | nx.DiGraph | Wiring], seed: int | None = None, **options):
        super().__init__()
        if isinstance(members, (nx.DiGraph, Wiring, DAGNetwork)) or not isinstance(members, Sequence):
            raise invalid("members", "Population", "a sequence of DAGNetworks, graphs or Wirings", members)
        if len(members) == 0:
            raise invalid("members", "Population", "a non-empty sequence", members)
        unknown = sorted(set(options) - set(inspect.signature(DAGNetwork).parameters) - {"graph"})
        if unknown:
            raise TypeError(f"Population got an option DAGNetwork does not take: {unknown[0]!r}.")
        factory = {k: options.pop(k) for k in ("dtype", "device", "backend") if k in options}
        self.seed = resolve_seed(seed)
        fast = not options.get("prune_dead") and all(
            isinstance(m, (nx.DiGraph, Wiring)) for m in members
        )  # initial values drawn here, one network built
        specs = []
        for i, m in enumerate(members):
            if isinstance(m, DAGNetwork):
                if m.weight_modifier is not None:
                    raise ValueError(
                        f"Population member {i} has a weight modifier; give it to the population's network."
                    )
                specs.append(_of_network(m))
            elif isinstance(m, (nx.DiGraph, Wiring)):
                w = m if isinstance(m, Wiring) else Wiring.from_graph(m)
                if fast and w.combine is None:
                    specs.append(_fresh(w, self.seed + i, options))
                else:
                    specs.append(_of_network(DAGNetwork(w, seed=self.seed + i, **options)))
            else:
                raise TypeError(
                    f"Population member {i} is a {type(m).__name__}; pass a DAGNetwork, a graph or a Wiring."
                )
        _check_alike(specs)
        union, inputs, outputs = _union(specs)
        dtype = factory.pop("dtype", next((m.weight.dtype for m in members if isinstance(m, DAGNetwork)), None))
        kept = {k: options[k] for k in ("activation", "output_activation", "layering", "max_width") if k in options}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeadNodeWarning)  # said of each member on its own
            self.network = DAGNetwork(
                union,
                inputs=inputs,
                outputs=outputs,
                bias=specs[0].has_bias,
                seed=self.seed,
                dtype=dtype,
                **kept,
                **factory,
            )
        self.network.group_key = member_key  # rules keep each member's edges inside it
        self._size = len(specs)
        self._member_io = [(sp.labels(sp.inputs), sp.labels(sp.outputs)) for sp in specs]
        self._member_seeds = [sp.seed for sp in specs]

    @classmethod
    def from_network(cls, network: DAGNetwork, member_io: list, seeds: list) -> Population:
        """Return the population whose union network is ``network`` (as :func:`dagnet.load` rebuilds one).

        ``member_io`` holds each member's ``(input labels, output labels)``,
        ``seeds`` each member's seed; ``network``'s labels are ``(i, label)``
        and ``("input", j)`` as in :attr:`network`.
        """
        pop = cls.__new__(cls)
        nn.Module.__init__(pop)
        pop.network = network
        network.group_key = member_key
        pop.seed = None
        pop._size = len(member_io)
        pop._member_io = [(list(i), list(o)) for i, o in member_io]
        pop._member_seeds = list(seeds)
        return pop

    def __len__(self) -> int:
        return self._size

    @property
    def in_features(self) -> int:
        return self.network.in_features

    @property
    def out_features(self) -> int:
        """Outputs of each member."""
        return self.network.out_features // self._size

    @property
    def num_edges(self) -> int:
        return self.network.num_edges

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.network(x)
        return out.reshape(*out.shape[:-1], self._size, self.out_features)

    def extra_repr(self) -> str:
        return f"members={self._size}, in_features={self.in_features}, out_features={self.out_features}"

    # ---------------------------------------------------------------- members
    def member_of(self) -> np.ndarray:
        """Return the member of each of the network's nodes, ``-1`` for the shared inputs (label order)."""
        return np.fromiter(map(member_key, self.network.node_labels), dtype=np.int64, count=self.network.num_nodes)

    def member(self, i: int) -> DAGNetwork:
        """Return member ``i`` as a standalone :class:`DAGNetwork` with its current weights and wiring.

        Examples
        --------
        >>> pop = Population([nx.DiGraph([("a", "y")]), nx.DiGraph([("a", "h"), ("h", "y")])], seed=0)
        >>> net = pop.member(1)
        >>> bool(torch.equal(net(torch.ones(3, 1)), pop(torch.ones(3, 1))[:, 1]))
        True
        """
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not -self._size <= i < self._size:
            raise IndexError(f"Population has {self._size} members; there is no member {i!r}.")
        i = int(i) % self._size
        w = self.network.to_wiring()
        inputs, outputs = self._member_io[i]
        owner = self.member_of()
        keep = np.flatnonzero((owner == i) | (owner == -1))
        new = np.full(w.num_nodes, -1, dtype=np.int64)
        new[keep] = np.arange(keep.size)
        edges = np.flatnonzero(owner[w.target] == i)
        labels = [inputs[lab[1]] if lab[0] == INPUT else lab[1] for lab in (w.labels[k] for k in keep)]

        def pick(values):
            return None if values is None else [values[k] for k in keep]

        member = Wiring(
            keep.size,
            new[w.source[edges]],
            new[w.target[edges]],
            weight=w.weight[edges],
            bias=None if w.bias is None else w.bias[keep],
            labels=labels,
            activation=pick(w.activation),
            branch=None if w.branch is None else w.branch[edges],
            combine=pick(w.combine),
            branch_bias=pick(w.branch_bias),
        )
        net = self.network
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeadNodeWarning)  # said when the member was built
            return DAGNetwork(
                member,
                inputs=inputs,
                outputs=outputs,
                bias=net.bias is not None,
                seed=self._member_seeds[i],
                dtype=net.weight.dtype,
                device=net.weight.device,
                backend=net.config["backend"],
            )

    def losses(
        self, output: torch.Tensor, target: torch.Tensor, loss_fn: str | Callable = "cross_entropy"
    ) -> torch.Tensor:
        """Each member's own mean loss, ``(members,)``; see :func:`member_losses`."""
        return member_losses(output, target, loss_fn)

    def loss(
        self, output: torch.Tensor, target: torch.Tensor, loss_fn: str | Callable = "cross_entropy"
    ) -> torch.Tensor:
        """The sum over members of each member's own mean loss: minimising it trains each as it would train alone."""
        return member_losses(output, target, loss_fn).sum()

    def accuracies(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Each member's share of correct class predictions, ``(members,)``."""
        return (output.argmax(-1) == target.unsqueeze(-1)).to(output.dtype).mean(0)


@dataclass(frozen=True)
class _Member:
    """What the union takes of a member: its wiring with every value set, and its roles as node indices."""

    wiring: Wiring
    inputs: np.ndarray
    outputs: np.ndarray
    has_bias: bool
    seed: int | None

    def labels(self, which: np.ndarray) -> list:
        return [self.wiring.label(int(k)) for k in which]


def _of_network(net: DAGNetwork) -> _Member:
    w = net.to_wiring()
    index = w.index()
    inp = np.array([index[lab] for lab in net.inputs], dtype=np.int64)
    out = np.array([index[lab] for lab in net.outputs], dtype=np.int64)
    return _Member(w, inp, out, net.bias is not None, net.seed)


def _fresh(w: Wiring, seed: int, options: dict) -> _Member:
    """Member ``w`` with the initial values ``DAGNetwork(w, seed=seed, **options)`` draws (one without branches)."""
    inp, out = resolve_roles(w, options.get("inputs"), options.get("outputs"))
    weight, bias = initial_values(
        options.get("init", "kaiming_uniform"), w.source, w.target, w.num_nodes, torch_generator(seed)
    )
    weight, bias = weight.numpy(), bias.numpy()
    has_bias = bool(options.get("bias", True))
    if not has_bias:
        bias = np.full_like(bias, np.nan)  # none given: the network has no bias
    if w.weight is not None:
        weight = np.where(np.isnan(w.weight), weight, w.weight)
    if w.bias is not None:
        bias = np.where(np.isnan(w.bias), bias, w.bias)
    return _Member(replace(w, weight=weight, bias=bias), inp, out, has_bias, seed)


def _check_alike(members: list[_Member]) -> None:
    first = members[0]
    for i, m in enumerate(members):
        if (m.inputs.size, m.outputs.size) != (first.inputs.size, first.outputs.size):
            raise ValueError(
                f"Population member {i} has {m.inputs.size} inputs and {m.outputs.size} outputs; member 0 has "
                f"{first.inputs.size} and {first.outputs.size}. All members need the same."
            )
        if m.has_bias != first.has_bias:
            raise ValueError(f"Population member {i} {'has a' if m.has_bias else 'has no'} bias, unlike member 0.")


def _union(members: list[_Member]) -> tuple[Wiring, list[Hashable], list[Hashable]]:
    """The disjoint union of the members' wirings, input nodes shared; its input and output labels."""
    n_in = members[0].inputs.size
    labels: list = [(INPUT, j) for j in range(n_in)]
    source, target, weight, bias, activation = [], [], [], [np.full(n_in, np.nan)], [None] * n_in
    branch, combine, branch_bias = [], [None] * n_in, [None] * n_in
    any_branches = False
    outputs: list = []
    offset = n_in
    for i, m in enumerate(members):
        w = m.wiring
        ids = np.empty(w.num_nodes, dtype=np.int64)
        is_input = np.zeros(w.num_nodes, dtype=bool)
        ids[m.inputs] = np.arange(n_in)
        is_input[m.inputs] = True
        own = np.flatnonzero(~is_input)
        ids[own] = offset + np.arange(own.size)
        offset += own.size
        names = w.node_labels()
        labels.extend((i, names[k]) for k in own)
        source.append(ids[w.source])
        target.append(ids[w.target])
        weight.append(w.weight)
        bias.append(w.bias[own])
        if w.activation is None:
            activation.extend([None] * own.size)
        else:
            activation.extend(w.activation[k] for k in own)
        if w.combine is not None:
            any_branches = True
            combine.extend(w.combine[k] for k in own)
            branch_bias.extend(w.branch_bias[k] if w.branch_bias is not None else None for k in own)
        else:
            combine.extend([None] * own.size)
            branch_bias.extend([None] * own.size)
        branch.append(w.branch if w.branch is not None else np.zeros(w.num_edges, dtype=np.int64))
        outputs.extend((INPUT, int(ids[k])) if is_input[k] else (i, names[k]) for k in m.outputs)
    if len(set(outputs)) != len(outputs):
        raise ValueError("Population members may not have an input that is also an output.")
    extra = dict(branch=np.concatenate(branch), combine=combine, branch_bias=branch_bias) if any_branches else {}
    union = Wiring(
        offset,
        np.concatenate(source),
        np.concatenate(target),
        weight=np.concatenate(weight),
        bias=np.concatenate(bias),
        labels=labels,
        activation=activation,
        **extra,
    )
    return union, labels[:n_in], outputs
