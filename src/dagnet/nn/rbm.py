"""`SparseRBM`: a Bernoulli restricted Boltzmann machine whose weights are a :class:`SparseLinear`."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_bool, check_float, check_int
from ..csr import group_by
from ..engine.torch_runtime import _csr
from ._common import as_batch, child_seeds
from .sparse_linear import SparseLinear

__all__ = ["SparseRBM"]


class SparseRBM(nn.Module):
    r"""A restricted Boltzmann machine with binary units and sparse, Erdős–Rényi wired weights.

    The energy of visible ``v`` and hidden ``h`` states is
    ``E(v, h) = -v.b - h.c - h W v``, and the free energy is
    ``F(v) = -v.b - sum_j softplus(c_j + W_j v)``. ``W`` is a
    :class:`SparseLinear` (``self.linear``: visible -> hidden, bias ``c``)
    that stores one weight per connection; the upward product ``v W^T`` runs
    on its sparse engine, the downward one ``h W`` gathers and scatters the
    same stored weights (no dense matrix or mask is ever formed). Because
    the weights are a ``SparseLinear``, every rule of :mod:`dagnet.evolve`
    (SET, RigL, pruning, ...) rewires the machine unchanged.

    Training: :meth:`cd_loss` is a scalar whose gradient is the
    contrastive-divergence (CD-k) estimate of the negative log-likelihood
    gradient, so any torch optimizer trains the machine; with
    ``persistent=True`` the negative chain carries over between calls
    (persistent CD). Randomness comes from the module's own generator, seeded
    by ``seed`` and saved in the state dict with the persistent chain.

    Parameters
    ----------
    n_visible, n_hidden : int
        Numbers of visible and hidden units.
    epsilon : float > 0, optional
        SET's density parameter: each of the ``n_visible * n_hidden``
        connections exists with probability
        ``epsilon * (n_visible + n_hidden) / (n_visible * n_hidden)`` (capped
        at 1). Default 10 (SET's RBMs), used when ``density`` is not given.
    density : float in (0, 1], optional
        The probability of each connection instead.
    init_std : float >= 0, default 0.05
        Initial weights are ``N(0, init_std^2)`` (SET's RBM code: 0.05); biases 0.
    persistent : bool, default False
        Keep the negative chain of :meth:`cd_loss` from one call to the next (PCD).
    sample_visible : bool, default True
        Draw binary visible states in the Gibbs chain; False uses their
        probabilities (a mean-field visible layer, as SET's RBM code does).
    seed : int, numpy Generator or random.Random, optional
        Seed of the connections, the initial weights and the Gibbs sampler.
    backend, dtype, device : optional
        As for :class:`DAGNetwork`.

    Attributes
    ----------
    linear : SparseLinear
        The weights ``W`` (one value per connection) and the hidden biases ``c``.
    visible_bias : Parameter, shape (n_visible,)
    chain : Tensor
        The persistent chain's visible states (no rows until the first
        persistent :meth:`cd_loss`).

    Examples
    --------
    >>> rbm = SparseRBM(64, 16, epsilon=4, seed=0)
    >>> v = (torch.rand(8, 64, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    >>> opt = torch.optim.SGD(rbm.parameters(), lr=0.1)
    >>> rbm.cd_loss(v, k=1).backward(); opt.step()
    >>> rbm.free_energy(v).shape, rbm.reconstruct(v).shape, rbm.sample(3, steps=5).shape
    (torch.Size([8]), torch.Size([8, 64]), torch.Size([3, 64]))
    """

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        epsilon: float | None = None,
        density: float | None = None,
        init_std: float = 0.05,
        persistent: bool = False,
        sample_visible: bool = True,
        seed: int | None = None,
        backend: str | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        n_visible = check_int(n_visible, "n_visible", "SparseRBM")
        n_hidden = check_int(n_hidden, "n_hidden", "SparseRBM")
        self.init_std = check_float(init_std, "init_std", "SparseRBM", 0)
        self.persistent = check_bool(persistent, "persistent", "SparseRBM")
        self.sample_visible = check_bool(sample_visible, "sample_visible", "SparseRBM")
        if density is None and epsilon is None:
            epsilon = 10
        self.seed, (wiring_seed, value_seed, chain_seed) = child_seeds(seed, 3)
        self.linear = SparseLinear(
            n_visible,
            n_hidden,
            density=density,
            epsilon=epsilon,
            init="zeros",
            seed=wiring_seed,
            backend=backend,
            dtype=dtype,
            device=device,
        )
        with torch.no_grad():
            g = torch.Generator().manual_seed(value_seed)
            w = self.linear.weight
            w.copy_(torch.randn(w.shape, generator=g, dtype=torch.float64) * self.init_std)
        self.visible_bias = nn.Parameter(torch.zeros(n_visible, dtype=w.dtype, device=w.device))
        self.register_buffer("chain", torch.zeros(0, n_visible, dtype=w.dtype, device=w.device))
        self.register_buffer("rng_state", torch.Generator().manual_seed(chain_seed).get_state())
        self._down_index: tuple | None = None

    # ---------------------------------------------------------------- sizes
    @property
    def n_visible(self) -> int:
        """Number of visible units."""
        return self.linear.in_features

    @property
    def n_hidden(self) -> int:
        """Number of hidden units."""
        return self.linear.out_features

    @property
    def num_edges(self) -> int:
        """Number of connections (weights) between the visible and the hidden units."""
        return self.linear.num_edges

    @property
    def weight(self) -> nn.Parameter:
        """The weights, one per connection, in the order of ``self.linear.connections()``."""
        return self.linear.weight

    @property
    def hidden_bias(self) -> nn.Parameter:
        """The hidden biases ``c`` (``self.linear.bias``)."""
        return self.linear.bias

    # ---------------------------------------------------------------- the two products
    def _visible(self, v) -> torch.Tensor:
        return as_batch(v, self.n_visible, "n_visible", "SparseRBM", like=self.weight)

    def hidden_probability(self, v: torch.Tensor) -> torch.Tensor:
        """Return ``P(h = 1 | v) = sigmoid(v W^T + c)``, shape (batch, n_hidden)."""
        return torch.sigmoid(self.linear(self._visible(v)))

    def visible_probability(self, h: torch.Tensor) -> torch.Tensor:
        """Return ``P(v = 1 | h) = sigmoid(h W + b)``, shape (batch, n_visible).

        Examples
        --------
        >>> rbm = SparseRBM(6, 3, density=1.0, seed=0)
        >>> h = torch.ones(2, 3)
        >>> torch.allclose(rbm.visible_probability(h), torch.sigmoid(h @ rbm.linear.to_dense() + rbm.visible_bias))
        True
        """
        return torch.sigmoid(self._down_logits(h))

    def _down_logits(self, h) -> torch.Tensor:
        """``h W + b``: the product with ``W^T``, a CSR matrix of the stored weights (rows by visible unit)."""
        h = as_batch(h, self.n_hidden, "n_hidden", "SparseRBM", like=self.weight)
        crow, col, perm = self._down()
        w = self.weight if self.linear.weight_modifier is None else self.linear.weight_modifier(self.weight)
        transposed = _csr(crow, col, w[perm], (self.n_visible, self.n_hidden))
        z = torch.sparse.mm(transposed, h.reshape(-1, self.n_hidden).T).T + self.visible_bias
        return z.reshape(*h.shape[:-1], self.n_visible)

    def _down(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``W^T``'s CSR index (row pointers, hidden unit of each entry, weight of each entry).

        Rebuilt whenever the wiring's buffers change (rewiring, moving devices).
        """
        key = self.linear.in_src
        if self._down_index is None or self._down_index[0] is not key:
            hidden, visible = self.linear.connections()
            ptr, perm = group_by(visible, self.n_visible)  # stable: hidden units ascending within a row
            device = self.weight.device
            index = (torch.from_numpy(a).to(device) for a in (ptr, hidden[perm], perm))
            self._down_index = (key, *index)
        return self._down_index[1:]

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Return the hidden probabilities ``P(h = 1 | v)`` (the features the machine extracts)."""
        return self.hidden_probability(v)

    # ---------------------------------------------------------------- energies
    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """Return ``F(v) = -v.b - sum_j softplus(c_j + W_j v)`` per row, shape (batch,).

        ``P(v) = exp(-F(v)) / Z``; differentiable in the parameters (and ``v``).

        Examples
        --------
        >>> rbm = SparseRBM(5, 2, density=1.0, seed=0)
        >>> rbm.free_energy(torch.zeros(1, 5)).item() == -2 * torch.log(torch.tensor(2.0)).item()
        True
        """
        v = self._visible(v)
        return -(v @ self.visible_bias) - F.softplus(self.linear(v)).sum(-1)

    # ---------------------------------------------------------------- sampling
    def _bernoulli(self, p: torch.Tensor) -> torch.Tensor:
        g = torch.Generator().set_state(self.rng_state.cpu())
        u = torch.rand(p.shape, generator=g, dtype=p.dtype)
        self.rng_state.copy_(g.get_state())
        return (u.to(p.device) < p).to(p.dtype)

    def _gibbs(self, v: torch.Tensor, steps: int) -> torch.Tensor:
        for _ in range(steps):
            p = self.visible_probability(self._bernoulli(self.hidden_probability(v)))
            v = self._bernoulli(p) if self.sample_visible else p
        return v

    def cd_loss(self, v: torch.Tensor, k: int = 1) -> torch.Tensor:
        r"""Return ``mean F(v) - mean F(v_k)``: a scalar whose gradient is the CD-k estimate.

        ``v_k`` comes from ``k`` steps of block Gibbs sampling (hidden states
        drawn, then visible states, see ``sample_visible``) started at ``v``,
        or, with ``persistent=True``, at the end of the previous call's chain
        (the chain takes rows from ``v`` when it has fewer than ``v``); no
        gradient flows through the chain. The gradient in ``W`` is
        ``-(<h v^T>_data - <h v^T>_k)`` with ``h`` the hidden probabilities:
        the negative of the usual CD update, so an optimizer's descent step
        is CD's ascent on the likelihood. Both phases run as one batch
        through ``self.linear``, so the activity a rule such as RigL reads
        gives the CD gradient of every absent connection too.

        Parameters
        ----------
        v : Tensor, shape (batch, n_visible)
            Training data (values in [0, 1]).
        k : int >= 1, default 1
            Gibbs steps.

        Examples
        --------
        >>> rbm = SparseRBM(6, 3, density=1.0, seed=0)
        >>> rbm.cd_loss(torch.ones(4, 6), k=2).shape
        torch.Size([])
        """
        v = self._visible(v).reshape(-1, self.n_visible)
        k = check_int(k, "k", "SparseRBM.cd_loss")
        batch = v.shape[0]
        with torch.no_grad():
            start = v
            if self.persistent:
                have = self.chain.shape[0]
                if have < batch:
                    self.chain = torch.cat([self.chain, v[have:batch].detach()])
                start = self.chain[:batch]
            negative = self._gibbs(start, k)
            if self.persistent:
                self.chain[:batch] = negative
        energy = self.free_energy(torch.cat([v, negative]))
        return energy[:batch].mean() - energy[batch:].mean()

    def reconstruct(self, v: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """Return ``P(v' = 1 | h)`` for ``h`` one step up from ``v``: one up-down pass, (batch, n_visible).

        ``h`` is ``P(h = 1 | v)``, or with ``sample=True`` hidden states drawn
        from it (the reconstruction SET's RBM code scores).

        Examples
        --------
        >>> rbm = SparseRBM(8, 4, density=0.5, seed=0)
        >>> v = torch.ones(2, 8)
        >>> err = ((rbm.reconstruct(v) - v) ** 2).mean()  # reconstruction MSE
        >>> 0 < err.item() < 1
        True
        """
        check_bool(sample, "sample", "SparseRBM.reconstruct")
        h = self.hidden_probability(v)
        return self.visible_probability(self._bernoulli(h) if sample else h)

    @torch.no_grad()
    def sample(self, n: int, steps: int = 100) -> torch.Tensor:
        """Return ``n`` visible states after ``steps`` Gibbs steps from uniform random states, (n, n_visible).

        Binary, or probabilities with ``sample_visible=False``.

        Examples
        --------
        >>> SparseRBM(10, 5, seed=0).sample(4, steps=3).shape
        torch.Size([4, 10])
        """
        n = check_int(n, "n", "SparseRBM.sample")
        steps = check_int(steps, "steps", "SparseRBM.sample", 0)
        start = self._bernoulli(
            torch.full((n, self.n_visible), 0.5, dtype=self.weight.dtype, device=self.weight.device)
        )
        return self._gibbs(start, steps)

    # ---------------------------------------------------------------- the partition function
    @torch.no_grad()
    def log_partition(
        self, exact: bool = False, runs: int = 100, steps: int = 1000, base: torch.Tensor | None = None
    ) -> float:
        r"""Return ``log Z``, the log of the sum of ``exp(-F(v))`` over all visible states.

        With ``exact=True`` it is that sum itself, over the ``2^min(n_visible,
        n_hidden)`` states of the smaller layer (at most 2^20). Otherwise it is
        estimated by annealed importance sampling (Salakhutdinov and Murray
        2008): ``runs`` chains anneal from a machine without weights, whose
        visible biases are the log-odds of ``base``'s mean (data, smoothed;
        zero biases without it), to this one in ``steps`` equal steps of the
        inverse temperature, one Gibbs step each, drawing from the module's
        generator. The log-likelihood of data ``v`` is
        ``-F(v) - log Z``; more runs and steps give a steadier estimate.

        Raises
        ------
        ValueError
            If ``exact`` is asked of a machine whose smaller layer has more
            than 20 units, or an argument is invalid.

        Examples
        --------
        >>> rbm = SparseRBM(12, 6, density=0.5, init_std=0.5, seed=0, dtype=torch.float64)
        >>> exact = rbm.log_partition(exact=True)
        >>> abs(rbm.log_partition(runs=200, steps=300) - exact) < 0.05
        True
        >>> v = torch.ones(3, 12, dtype=torch.float64)
        >>> (-rbm.free_energy(v) - exact).shape  # log-likelihoods
        torch.Size([3])
        """
        if check_bool(exact, "exact", "SparseRBM.log_partition"):
            return self._exact_log_partition()
        runs = check_int(runs, "runs", "SparseRBM.log_partition")
        steps = check_int(steps, "steps", "SparseRBM.log_partition")
        w = self.weight
        if base is None:
            b_base = w.new_zeros(self.n_visible)
        else:
            data = self._visible(base).reshape(-1, self.n_visible)
            mean = (data.sum(0) + 1) / (data.shape[0] + 2)  # smoothed: no infinite log-odds
            b_base = torch.log(mean) - torch.log1p(-mean)
        b = self.visible_bias
        betas = torch.linspace(0, 1, steps + 1, dtype=torch.float64).tolist()
        v = self._bernoulli(torch.sigmoid(b_base).expand(runs, self.n_visible))
        log_w = w.new_zeros(runs)
        for k in range(1, steps + 1):
            before, beta = betas[k - 1], betas[k]
            up = self.linear(v)
            base_term, model_term = v @ b_base, v @ b
            log_w += (before - beta) * base_term + (beta - before) * model_term
            log_w += (F.softplus(beta * up) - F.softplus(before * up)).sum(1)
            if k < steps:  # a Gibbs step that leaves the distribution at beta invariant
                h = self._bernoulli(torch.sigmoid(beta * up))
                v = self._bernoulli(torch.sigmoid((1 - beta) * b_base + beta * self._down_logits(h)))
        log_z_base = F.softplus(b_base).sum() + self.n_hidden * math.log(2.0)
        return float(log_z_base + torch.logsumexp(log_w, 0) - math.log(runs))

    def _exact_log_partition(self) -> float:
        small = min(self.n_visible, self.n_hidden)
        if small > 20:
            raise ValueError(
                f"The exact log partition function sums over 2^{small} states; it is offered up to 2^20. "
                "Use the AIS estimate (exact=False)."
            )
        w = self.weight
        total = []
        for start in range(0, 2**small, 2**16):
            codes = torch.arange(start, min(2**small, start + 2**16), device=w.device)
            states = ((codes[:, None] >> torch.arange(small, device=w.device)) & 1).to(w.dtype)
            if small == self.n_hidden:  # sum over hidden states: h.c + sum_i softplus((h W + b)_i)
                total.append(states @ self.hidden_bias + F.softplus(self._down_logits(states)).sum(1))
            else:
                total.append(-self.free_energy(states))
        return float(torch.logsumexp(torch.cat(total), 0))

    # ---------------------------------------------------------------- state
    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        saved = state_dict.get(prefix + "chain")
        if isinstance(saved, torch.Tensor) and saved.shape != self.chain.shape:
            self.chain = self.chain.new_zeros(saved.shape)  # the chain grows with the batch
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (
            f"n_visible={self.n_visible}, n_hidden={self.n_hidden}, edges={self.num_edges}, "
            f"density={self.linear.density:.4g}, persistent={self.persistent}, "
            f"sample_visible={self.sample_visible}, seed={self.seed}"
        )
