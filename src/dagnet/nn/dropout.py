"""`Dropout` with its own seeded generator, saved in the state dict."""

from __future__ import annotations

import torch
from torch import nn

from ..seeding import resolve_seed, torch_generator

__all__ = ["Dropout"]


class Dropout(nn.Module):
    """Inverted dropout drawn from the module's own generator.

    In training mode each element is zeroed with probability ``p`` and the
    others are scaled by ``1 / (1 - p)``; in eval mode the input passes
    unchanged. Unlike ``torch.nn.Dropout`` it never touches the global RNG,
    and the generator's state is part of ``state_dict()``, so a checkpointed
    run resumes bit for bit.

    Parameters
    ----------
    p : float in [0, 1), default 0.5
    seed : int, optional

    Examples
    --------
    >>> d = Dropout(0.5, seed=0)
    >>> y = d(torch.ones(1000))
    >>> sorted(set(y.tolist())), 400 < int((y == 0).sum()) < 600
    ([0.0, 2.0], True)
    """

    def __init__(self, p: float = 0.5, seed: int | None = None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ValueError(f"The 'p' parameter of Dropout must be a float in [0, 1). Got {p!r} instead.")
        self.p = float(p)
        self.seed = resolve_seed(seed)
        self.generator = torch_generator(self.seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.generator.device != x.device:
            state = self.generator.get_state()
            self.generator = torch.Generator(device=x.device)
            if x.device.type == "cpu":
                self.generator.set_state(state)
            else:
                self.generator.manual_seed(self.seed)
        keep = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype) >= self.p
        return x * keep * (1.0 / (1.0 - self.p))

    def get_extra_state(self):
        return {"generator": self.generator.get_state(), "device": str(self.generator.device)}

    def set_extra_state(self, state) -> None:
        if state["device"] == "cpu" and self.generator.device.type == "cpu":
            self.generator.set_state(state["generator"])
        else:
            self.generator = torch.Generator(device=state["device"])
            self.generator.set_state(state["generator"])

    def extra_repr(self) -> str:
        return f"p={self.p:g}, seed={self.seed}"
