"""Sparse Connectivity Learning: a trainable binary mask per connection (Tang et al. 2022)."""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from .._checks import check_float
from ..nn.dag_network import DAGNetwork
from ..nn.remap import remap_parameter_
from ._base import EvolutionRule, sparse_modules

__all__ = ["LearnedMasks", "ScoreMask", "masked_weight", "step_ste"]


class _MaskedWeight(torch.autograd.Function):
    """``weight * step(score)``; identity straight-through for the step, score gradient normalised per target."""

    @staticmethod
    def forward(weight, score, target, maskable, num_targets, eps):
        mask = (score > 0) | ~maskable
        return weight * mask.to(weight.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        weight, score, target, maskable, num_targets, eps = inputs
        ctx.save_for_backward(weight, score, target, maskable)
        ctx.num_targets, ctx.eps = num_targets, eps

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        weight, score, target, maskable = ctx.saved_tensors
        grad_weight = grad_score = None
        if ctx.needs_input_grad[0]:
            grad_weight = grad * ((score > 0) | ~maskable).to(grad.dtype)
        if ctx.needs_input_grad[1]:
            raw = torch.where(maskable, grad * weight, torch.zeros_like(grad))  # d(w m)/dm, with dm/ds = 1
            sq = raw.new_zeros(ctx.num_targets).index_add_(0, target, raw * raw)  # per target node
            grad_score = raw / (sq.sqrt()[target] + ctx.eps)
        return grad_weight, grad_score, None, None, None, None


def masked_weight(
    weight: torch.Tensor,
    score: torch.Tensor,
    target: torch.Tensor,
    num_targets: int,
    maskable: torch.Tensor | None = None,
    eps: float = 1e-12,
) -> torch.Tensor:
    r"""Return ``weight * step(score)``, differentiable in both (Sparse Connectivity Learning).

    ``step(s) = 1`` where ``s > 0``, else 0 (always 1 where ``maskable`` is
    false). The gradient of ``weight`` is the true one, ``grad * mask``. The
    step's derivative is replaced by 1 (identity straight-through estimator),
    so the raw gradient of edge ``e``'s score is ``r_e = grad_e * weight_e``;
    it is then normalised over the edges into each target node:

    .. math:: \frac{\partial L}{\partial s_e} := \frac{r_e}{\sqrt{\sum_{f \to t(e)} r_f^2} + \epsilon}

    so every node's mask gradient has unit norm whatever its scale (Tang et
    al. find the raw gradients very unbalanced across features).

    Parameters
    ----------
    weight, score : Tensor, shape (E,)
    target : LongTensor, shape (E,)
        Target node of each edge, in ``[0, num_targets)``.
    num_targets : int
    maskable : BoolTensor, shape (E,), optional
        The edges the mask applies to (default: all); others keep mask 1 and
        get a zero score gradient.
    eps : float, default 1e-12

    Returns
    -------
    Tensor, shape (E,)

    Examples
    --------
    >>> w = torch.tensor([2.0, 3.0, 4.0], requires_grad=True)
    >>> s = torch.tensor([1.0, -1.0, 1.0], requires_grad=True)
    >>> out = masked_weight(w, s, torch.tensor([0, 0, 1]), 2)
    >>> out.tolist()
    [2.0, 0.0, 4.0]
    >>> out.sum().backward()
    >>> w.grad.tolist(), [round(g, 4) for g in s.grad.tolist()]
    ([1.0, 0.0, 1.0], [0.5547, 0.8321, 1.0])
    """
    if maskable is None:
        maskable = torch.ones(score.shape, dtype=torch.bool, device=score.device)
    return _MaskedWeight.apply(weight, score, target, maskable, int(num_targets), float(eps))


class _StepSTE(torch.autograd.Function):
    @staticmethod
    def forward(score):
        return (score > 0).to(score.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return grad


def step_ste(score: torch.Tensor) -> torch.Tensor:
    """Return ``(score > 0)`` as numbers, with the identity as its gradient (straight-through).

    Examples
    --------
    >>> s = torch.tensor([0.5, -0.5], requires_grad=True)
    >>> m = step_ste(s); m.sum().backward()
    >>> m.tolist(), s.grad.tolist()
    ([1.0, 0.0], [1.0, 1.0])
    """
    return _StepSTE.apply(score)


class ScoreMask(nn.Module):
    """A network's ``weight_modifier`` holding a trainable score per edge: weights used are ``w * (s > 0)``.

    Made by :meth:`LearnedMasks.attach`. The scores follow the edges through
    any rewiring of the network (:meth:`remap_edges`); new edges start at
    ``init_score``. Edges into multi-branch nodes are not masked. The
    scores' optimizer state follows them through every rewiring that is
    given the optimizer (the network passes it to :meth:`remap_edges`).

    Parameters
    ----------
    net : DAGNetwork
        The network whose edges are masked.
    init_score : float > 0, default 1.0
        Initial score of every edge (every mask starts at 1).
    eps : float, default 1e-12
        Added to each node's gradient norm (see :func:`masked_weight`).

    Attributes
    ----------
    score : Parameter, shape (num_edges,)

    Examples
    --------
    >>> import networkx as nx
    >>> net = DAGNetwork(nx.DiGraph([("a", "c"), ("b", "c")]), seed=0)
    >>> modifier = ScoreMask(net)
    >>> with torch.no_grad():
    ...     _ = modifier.score.copy_(torch.tensor([1.0, -1.0]))
    >>> modifier(torch.tensor([2.0, 3.0])).tolist(), int(modifier.active())
    ([2.0, 0.0], 1)
    """

    def __init__(self, net: DAGNetwork, init_score: float = 1.0, eps: float = 1e-12):
        super().__init__()
        self.init_score, self.eps = float(init_score), float(eps)
        w = net.weight
        self.score = nn.Parameter(torch.full((net.num_edges,), self.init_score, dtype=w.dtype, device=w.device))
        self.rewired(net)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return _MaskedWeight.apply(weight, self.score, self.target, self.maskable, self.num_targets, self.eps)

    def mask(self) -> torch.Tensor:
        """Return the current mask, a bool per edge."""
        return (self.score.detach() > 0) | ~self.maskable

    def active(self) -> torch.Tensor:
        """Return the number of active maskable edges, differentiable in the scores (straight-through).

        The unmaskable edges count as zeros of the sum (not as a selection, whose size the host would have to
        read), so it stays on the scores' device.
        """
        return torch.where(self.maskable, step_ste(self.score), 0).sum()

    def remap_edges(
        self, edge_map: torch.Tensor, net: DAGNetwork, optimizer: torch.optim.Optimizer | None = None
    ) -> None:
        """Follow a rewiring: new edge ``i`` takes old edge ``edge_map[i]``'s score (``init_score`` where -1)."""
        remap_parameter_(self.score, edge_map, self.init_score, optimizer)

    def rewired(self, net: DAGNetwork) -> None:
        """Take the new plan's edge targets (called by the network after a rewiring)."""
        _, dst = net.edge_endpoints()
        device = self.score.device
        self.register_buffer("target", torch.from_numpy(dst).to(device), persistent=False)
        self.register_buffer("maskable", torch.from_numpy(net.evolvable_edges()).to(device), persistent=False)
        self.num_targets = net.num_nodes

    def extra_repr(self) -> str:
        return f"edges={self.score.numel()}, init_score={self.init_score}"


class LearnedMasks(EvolutionRule):
    r"""Sparse Connectivity Learning (Tang et al. 2022): learn which connections to keep.

    Every weight is re-parameterised as ``w * m`` with a binary mask
    ``m = step(s)`` of a trainable score ``s`` per edge
    (:class:`ScoreMask`, set as each sparse module's ``weight_modifier`` by
    :meth:`attach`, before the optimizer is made: ``fit`` does this). The
    step's gradient is the identity (straight-through) and the score
    gradients of the loss are normalised per target node (see
    :func:`masked_weight`). Add :meth:`penalty`, ``lambda_`` times the number
    of active connections (straight-through as well, so each active or
    inactive score gets ``lambda_`` of gradient), to the loss. Each
    :meth:`step` physically removes the connections whose mask is 0, with
    their scores, weights and optimizer state.

    Per batch nothing crosses to the host: the masked weights, the penalty
    and the normalised score gradients are computed on the scores' device.
    Per step, the removal mask (one bool per edge) does, to compile the new
    plan.

    Parameters
    ----------
    lambda_ : float >= 0, default 1e-2
        Weight of the connection count in the loss. The penalty's gradient is
        not normalised: it competes with the unit-norm loss gradient of each
        node.
    init_score : float > 0, default 1.0
        Initial score of every edge, and of edges grown later by other rules.
    eps : float > 0, default 1e-12

    Examples
    --------
    >>> from dagnet.nn import sparse_mlp
    >>> mlp = sparse_mlp([20, 30, 2], epsilon=3, seed=0)
    >>> rule = LearnedMasks(lambda_=0.01)
    >>> rule.attach(mlp)
    >>> opt = torch.optim.SGD(mlp.parameters(), lr=0.5)
    >>> loss = mlp(torch.randn(8, 20)).square().mean() + rule.penalty(mlp)
    >>> loss.backward(); opt.step()
    >>> edges = mlp[0].num_edges
    >>> changes = rule.step(mlp, optimizer=opt)
    >>> changes["0"]["removed"] + mlp[0].num_edges == edges
    True
    """

    def __init__(self, lambda_: float = 1e-2, init_score: float = 1.0, eps: float = 1e-12):
        super().__init__(0)  # deterministic: the generator is never drawn from
        for name, value, low_open in (
            ("lambda_", lambda_, False),
            ("init_score", init_score, True),
            ("eps", eps, True),
        ):
            check_float(value, name, "LearnedMasks", 0, low_open=low_open)
        self.lambda_, self.init_score, self.eps = float(lambda_), float(init_score), float(eps)

    def _params(self) -> dict:
        return {"lambda_": self.lambda_, "init_score": self.init_score, "eps": self.eps}

    def attach(self, model: nn.Module) -> None:
        """Give every sparse module of ``model`` a :class:`ScoreMask` (kept where there is one).

        Call it before making the optimizer, so that the optimizer trains the scores.

        Raises
        ------
        ValueError
            For a module that already has another weight modifier.
        """
        for name, net in sparse_modules(model):
            modifier = net.weight_modifier
            if isinstance(modifier, ScoreMask):
                continue
            if modifier is not None:
                raise ValueError(
                    f"Module {name!r} already has a weight modifier ({type(modifier).__name__}); "
                    "LearnedMasks needs its own. Use one weight-modifying rule per network."
                )
            net.weight_modifier = ScoreMask(net, self.init_score, self.eps)

    def _masked(self, model: nn.Module) -> list[tuple[str, DAGNetwork, ScoreMask]]:
        found = sparse_modules(model)
        missing = [name for name, net in found if not isinstance(net.weight_modifier, ScoreMask)]
        if missing:
            raise RuntimeError(
                f"Modules {missing} have no learned mask: call rule.attach(model) before making "
                "the optimizer (fit does)."
            )
        return [(name, net, net.weight_modifier) for name, net in found]

    def penalty(self, model: nn.Module) -> torch.Tensor:
        """Return ``lambda_`` times the number of active connections of ``model``, to add to the loss.

        Examples
        --------
        >>> from dagnet.nn import sparse_mlp
        >>> mlp = sparse_mlp([4, 3, 2], density=1.0, seed=0)
        >>> rule = LearnedMasks(lambda_=0.5)
        >>> rule.attach(mlp)
        >>> float(rule.penalty(mlp).detach())  # 0.5 * (12 + 6)
        9.0
        """
        return self.lambda_ * sum(m.active() for _, _, m in self._masked(model))

    def step(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict:
        """Remove the connections whose mask is 0; return ``{name: {"removed", "added", "edges"}}``."""
        changes = {}
        for name, net, modifier in self._masked(model):
            remove = ~modifier.mask()
            if bool(remove.any()):
                changes[name] = net.rewire_(remove=remove, optimizer=optimizer)
            else:
                changes[name] = {"removed": 0, "added": 0}
            changes[name]["edges"] = net.num_edges
        self.updates += 1
        return changes
