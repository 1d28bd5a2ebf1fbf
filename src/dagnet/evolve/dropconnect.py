"""DropConnect: zero each connection at random during training (Wan et al. 2013)."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_float
from ..nn.dag_network import DAGNetwork
from ..nn.dropout import draws_on_host, initial_state, keep_mask
from ..seeding import resolve_seed, torch_generator
from ._base import EvolutionRule, sparse_modules

__all__ = ["DropConnect", "DropConnectMask"]


class DropConnectMask(nn.Module):
    """A weight modifier that zeroes each weight with probability ``p`` in training mode.

    Set as a network's ``weight_modifier``: in training mode every forward
    pass draws a fresh Bernoulli(``1 - p``) mask over the edges and uses
    ``weight * mask / (1 - p)``, so the expected weight is the weight itself;
    in eval mode the weights are used as they are (the mean-weight inference).
    For weights on the CPU the mask is drawn from the module's own torch
    generator; on any other device from a SplitMix64 stream of the same seed
    computed on the device (:func:`dagnet.nn.dropout.keep_mask`, its state the
    non-persistent buffer ``stream``, advanced in place), so no mask crosses
    from the host and each replay of a captured CUDA graph draws anew. The
    two streams differ: a run draws other masks on the CPU than on CUDA, each
    reproducibly. Both states are part of the module's ``state_dict`` (a
    checkpointed run resumes bit for bit); reading the device stream's state
    there is the one transfer.

    Parameters
    ----------
    p : float in [0, 1), default 0.5
        Probability that a weight is dropped.
    seed : int, numpy Generator or random.Random, optional
        Seed of the generator.

    Examples
    --------
    >>> mask = DropConnectMask(p=0.5, seed=0)
    >>> w = torch.ones(8)
    >>> mask(w).tolist()
    [0.0, 2.0, 0.0, 0.0, 0.0, 2.0, 0.0, 2.0]
    >>> torch.equal(mask.eval()(w), w)
    True
    """

    def __init__(self, p: float = 0.5, seed: int | None = None):
        super().__init__()
        self.p = check_float(p, "p", "DropConnectMask", 0, 1, high_open=True)
        self.seed = resolve_seed(seed)
        self.generator = torch_generator(self.seed)
        self.register_buffer("stream", torch.tensor([initial_state(self.seed)], dtype=torch.int64), persistent=False)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return weight
        if draws_on_host(weight.device):
            keep = torch.rand(weight.shape, generator=self.generator) >= self.p  # (E,), on the CPU
        else:
            if self.stream.device != weight.device:  # a mask made on the CPU for a network elsewhere
                self.stream = self.stream.to(weight.device)
            keep = keep_mask(self.stream, weight.numel(), self.p).view(weight.shape)
        return weight * keep.to(device=weight.device, dtype=weight.dtype) * (1.0 / (1.0 - self.p))

    def get_extra_state(self) -> dict:
        return {"p": self.p, "seed": self.seed, "generator": self.generator.get_state(), "stream": int(self.stream)}

    def set_extra_state(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        if "stream" in state:  # (states saved before the device stream existed have none)
            self.stream.fill_(int(state["stream"]))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class DropConnect(EvolutionRule):
    """DropConnect regularisation (Wan et al. 2013): each connection is dropped at random per batch.

    :meth:`attach` sets the ``weight_modifier`` of every sparse module of the
    model to a :class:`DropConnectMask` (``fit`` calls it before training),
    each with its own generator seeded from the rule's. In training mode every
    forward pass (one mini-batch) uses a fresh mask; in eval mode the plain
    weights are used (the mean-weight inference). The topology is not
    changed: :meth:`step` only attaches masks to modules that lack one.
    Per batch nothing crosses between host and device (see
    :class:`DropConnectMask` for the masks on each device).

    The paper's per-example masks (a different mask for every example of the
    batch) and its Gaussian moment-matching inference are not provided:
    masks are per batch, as in the paper's cheaper variant.

    Parameters
    ----------
    p : float in [0, 1), default 0.5
        Probability that a connection is dropped.
    seed : int, numpy Generator or random.Random, optional
        Seed of the rule, from which each module's generator is seeded.

    Raises
    ------
    ValueError
        From :meth:`attach`, for a module that already has another weight
        modifier (e.g. :class:`~dagnet.evolve.LearnedMasks`).

    Examples
    --------
    >>> from dagnet.nn import sparse_mlp
    >>> mlp = sparse_mlp([20, 30, 2], epsilon=3, seed=0)
    >>> x = torch.randn(4, 20)
    >>> clean = mlp(x)
    >>> DropConnect(p=0.5, seed=0).attach(mlp)
    >>> torch.equal(mlp(x), mlp(x)), torch.equal(mlp.eval()(x), clean)
    (False, True)
    """

    def __init__(self, p: float = 0.5, seed: int | None = None):
        super().__init__(seed)
        self.p = check_float(p, "p", "DropConnect", 0, 1, high_open=True)

    def _params(self) -> dict:
        return {"p": self.p, "seed": self.seed}

    def attach(self, model: nn.Module) -> None:
        """Give every sparse module of ``model`` a :class:`DropConnectMask` (kept where there is one)."""
        for name, net in sparse_modules(model):
            self._attach(name, net)

    def _attach(self, name: str, net: DAGNetwork) -> bool:
        modifier = net.weight_modifier
        if isinstance(modifier, DropConnectMask):
            return False
        if modifier is not None:
            raise ValueError(
                f"Module {name!r} already has a weight modifier ({type(modifier).__name__}); "
                "DropConnect needs its own. Use one weight-modifying rule per network."
            )
        seed = int(self.rng.integers(0, 2**62))
        net.weight_modifier = DropConnectMask(self.p, seed).to(net.weight.device).train(net.training)
        return True

    def step(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict:
        """Attach masks where missing; return ``{name: {"removed": 0, "added": 0}}``."""
        changes = {}
        for name, net in sparse_modules(model):
            self._attach(name, net)
            changes[name] = {"removed": 0, "added": 0}
        self.updates += 1
        return changes
