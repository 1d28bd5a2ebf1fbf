"""`IsotropicMLP`: the model and its function-preserving surgery (see :mod:`dagnet.nn.isotropic`)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import nn

from ..._checks import Interval, check_choice, check_float, invalid
from ...activations.functional import isotropic_tanh
from ...seeding import resolve_seed, torch_generator
from .._common import as_batch, check_bool, check_weights, child_seeds, uniform_, value_problem
from ..optim_state import carry_state_, check_state_keys, set_data_
from .edits import WORK, Edit, embed_diagonal, pad_rows
from .reports import Diagonalised, Grown, Shrunk, Sparsified

__all__ = ["IsotropicMLP", "check_isotropic"]


# --------------------------------------------------------------------------- checks
def check_isotropic(model: object, owner: str = "surgery") -> None:
    """Raise a TypeError unless ``model`` is an :class:`IsotropicMLP` or contains one.

    Growing, shrinking and diagonalising a layer keep the network's function
    only when its activation commutes with rotations of the layer; element-wise
    activations (ReLU, tanh) do not, so a network built from them cannot be
    operated on this way.

    Parameters
    ----------
    model : object
        The model asked for.
    owner : str, default "surgery"
        Named in the message (e.g. ``"Neuroadaptation"``).

    Raises
    ------
    TypeError
        If ``model`` is not an ``nn.Module`` with an :class:`IsotropicMLP`
        among its modules.

    Examples
    --------
    >>> check_isotropic(IsotropicMLP([2, 3, 1], seed=0))
    >>> check_isotropic(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)))
    Traceback (most recent call last):
    ...
    TypeError: surgery needs an IsotropicMLP (a network whose hidden layers use an isotropic activation, ...
    """
    if isinstance(model, nn.Module) and any(isinstance(m, IsotropicMLP) for m in model.modules()):
        return
    raise TypeError(
        f"{owner} needs an IsotropicMLP (a network whose hidden layers use an isotropic activation, "
        f"so that rotating a layer's neurons keeps its function); got {type(model).__name__}, which "
        "contains none. Element-wise activations fix each layer's basis: build the network as "
        "dagnet.nn.isotropic.IsotropicMLP(sizes) instead."
    )


def _check_lengths(value, n_hidden: int, trainable: bool) -> list[float]:
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n_hidden
    bad = len(values) != n_hidden or not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 for v in values
    )
    if bad:
        raise ValueError(
            "The 'intrinsic_length' parameter of IsotropicMLP must be a finite float >= 0 or a sequence of "
            f"{n_hidden} of them (one per hidden layer). Got {value!r} instead."
        )
    if trainable and any(v <= 0 for v in values):
        raise ValueError(
            "The 'intrinsic_length' parameter of IsotropicMLP must be > 0 when trainable_length=True "
            f"(it is stored as its logarithm). Got {value!r} instead; e.g. pass intrinsic_length=1e-3."
        )
    return [float(v) for v in values]


# --------------------------------------------------------------------------- the model
class IsotropicMLP(nn.Module):
    r"""MLP with isotropic tanh hidden layers and a linear output, that can grow, shrink and diagonalise.

    With ``sizes = [n_0, n_1, ..., n_L]`` the network computes, for the hidden
    layers ``k = 1 .. L-1``,

    .. math:: z_k = W_k a_{k-1} + b_k, \qquad a_k = \tanh(r_k)\, z_k / r_k,
              \qquad r_k = \sqrt{\lVert z_k\rVert^2 + o_k},

    (:func:`dagnet.activations.functional.isotropic_tanh` with intrinsic
    length :math:`o_k \ge 0`), ``a_0 = x``, and returns the logits
    :math:`z_L = W_L a_{L-1} + b_L`. A layer number ``k`` always means the
    ``k``-th entry of ``sizes`` (``1 .. L-1`` are the hidden layers), and
    ``weight{k}``, ``bias{k}`` are the map *into* layer ``k``.

    Parameters
    ----------
    sizes : sequence of int
        ``[in, h1, ..., out]``, at least 2 entries, each ``>= 1``.
    intrinsic_length : float or sequence of float, default 0.0
        ``o >= 0``, one value for every hidden layer or one per hidden layer.
    trainable_length : bool, default False
        Learn ``o``, stored as ``log_o`` (so ``o > 0`` is required).
    bias : bool, default True
        Whether the layers have biases.
    seed : int, numpy Generator or random.Random, optional
        Seed of the initialisation; ``None`` draws one (kept as ``self.seed``).
    init_scale : float, default 0.01
        Standard deviation of the outgoing weights of neurons added by
        :meth:`grow` (their incoming weights and bias are 0).
    device, dtype : optional
        Of the parameters, as for ``nn.Linear``.

    Attributes
    ----------
    weight1 .. weightL : Parameter, shape (n_k, n_{k-1}) or (min(n_k, n_{k-1}),)
        U(-1/sqrt(n_{k-1}), 1/sqrt(n_{k-1})) at initialisation (``nn.Linear``'s
        rule). A 1-D weight is a diagonal map stored as its diagonal (see
        :meth:`sparsify`); the forward pass uses it as such.
    bias1 .. biasL : Parameter, shape (n_k,), or None
        Same distribution as the weights.
    o : Tensor, shape (L-1,)
        Buffer of the intrinsic lengths (``trainable_length=False``).
    log_o : Parameter, shape (L-1,)
        Their logarithms (``trainable_length=True``).
    length_weight2 .. length_weightL : Tensor, shape (n_k,), or None
        Buffers, None until :meth:`shrink` needs one: the weights from layer
        ``k-1``'s intrinsic-length coordinate into layer ``k`` (see Notes).

    Shape
    -----
    Input ``(*, n_0)``, output ``(*, n_L)``.

    Notes
    -----
    **The generalised isotropic perceptron.** A hidden layer's output is the
    gate :math:`g = \tanh(r)/r` (one scalar per sample) times its
    pre-activation. Writing :math:`r^2 = \lVert z\rVert^2 + (\sqrt{o})^2`
    shows the intrinsic length as one more coordinate, constant ``√o``, of the
    vector the activation squashes; its output ``t = g √o`` is a per-sample
    scalar that the next layer may use with weights ``c``:
    :math:`z_{k+1} = W_{k+1} a_k + b_{k+1} + c\, t_k`. That coordinate is
    where :meth:`shrink` puts what it removes: a direction of singular value 0
    has a constant pre-activation ``b*``, and merging it into the constant
    coordinate (``o <- o + b*^2``, ``c <- (c √o + w* b*) / √(o + b*^2)``,
    ``w*`` its outgoing weights) keeps the function exactly; the bias of the
    next layer alone could not, since ``g`` varies from sample to sample.
    ``c`` is a buffer (``length_weight{k}``), not trained, and absent (None)
    until needed; while it is absent the layer is a plain isotropic tanh.

    The gate form also lets the matrix products run ahead of the
    nonlinearity: every :math:`W_{k+1}\cdots W_j` can be applied to ``x`` and
    the biases in parallel and the layers combined with the scalar gates
    alone. This class evaluates layer by layer, which is cheaper at these
    widths.

    References
    ----------
    Bird, G. (2026). Isotropic activation functions enable deindividuated
    neurons and adaptive topologies. arXiv:2602.23405.

    Examples
    --------
    >>> net = IsotropicMLP([4, 8, 3], seed=0)
    >>> net
    IsotropicMLP(sizes=[4, 8, 3], intrinsic_length=[0], trainable_length=False, bias=True)
    >>> sorted(net.state_dict())
    ['bias1', 'bias2', 'o', 'weight1', 'weight2']
    >>> x = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    >>> y = net(x)
    >>> net.grow(1, 2, seed=0).width, net.sizes
    (10, [4, 10, 3])
    >>> bool((net(x) - y).abs().max() < 1e-6)
    True
    """

    def __init__(
        self,
        sizes: Sequence[int],
        intrinsic_length: float | Sequence[float] = 0.0,
        trainable_length: bool = False,
        bias: bool = True,
        seed: int | None = None,
        init_scale: float = 0.01,
        device=None,
        dtype=None,
    ):
        super().__init__()
        name = type(self).__name__
        ok = (
            isinstance(sizes, Sequence)
            and not isinstance(sizes, str)
            and len(sizes) >= 2
            and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in sizes)
        )
        if not ok:
            raise invalid("sizes", name, "a sequence of at least 2 ints >= 1 ([in, hidden..., out])", sizes)
        self._sizes = [int(s) for s in sizes]
        check_weights(
            f"IsotropicMLP(sizes={self._sizes})",
            sum(a * b + b for a, b in zip(self._sizes[:-1], self._sizes[1:])),
            "Choose smaller widths.",
        )
        n_hidden = len(self._sizes) - 2
        self.trainable_length = check_bool(trainable_length, "trainable_length", name)
        lengths = _check_lengths(intrinsic_length, n_hidden, self.trainable_length)
        self.has_bias = check_bool(bias, "bias", name)
        self.init_scale = check_float(init_scale, "init_scale", name, 0, low_open=True)
        self.seed, (init_seed,) = child_seeds(seed, 1)
        factory = dict(device=device, dtype=dtype)
        for k in range(1, len(self._sizes)):
            self.register_parameter(
                f"weight{k}", nn.Parameter(torch.empty(self._sizes[k], self._sizes[k - 1], **factory))
            )
            self.register_parameter(f"bias{k}", nn.Parameter(torch.empty(self._sizes[k], **factory)) if bias else None)
        if self.trainable_length:
            self.log_o = nn.Parameter(torch.tensor([math.log(v) for v in lengths], **factory).reshape(n_hidden))
        else:
            self.register_buffer("o", torch.tensor(lengths, **factory).reshape(n_hidden))
        for k in range(2, len(self._sizes)):
            self.register_buffer(f"length_weight{k}", None)
        generator = torch_generator(init_seed)
        for k in range(1, len(self._sizes)):
            bound = 1.0 / math.sqrt(self._sizes[k - 1])
            uniform_(self._weight(k), bound, generator)
            if bias:
                uniform_(self._bias(k), bound, generator)

    # ----------------------------------------------------------------- accessors
    @property
    def sizes(self) -> list[int]:
        """The current widths ``[in, h1, ..., out]`` (a copy)."""
        return list(self._sizes)

    @property
    def num_hidden(self) -> int:
        """The number of hidden layers, ``len(sizes) - 2``."""
        return len(self._sizes) - 2

    @property
    def intrinsic_length(self) -> torch.Tensor:
        """The intrinsic lengths ``o``, shape (num_hidden,) (``exp(log_o)`` when trainable)."""
        return self.log_o.exp() if self.trainable_length else self.o

    def diagonal_layers(self) -> list[int]:
        """The layers whose incoming weights are stored as their diagonal.

        Examples
        --------
        >>> net = IsotropicMLP([2, 3, 3, 1], seed=0)
        >>> _ = net.sparsify()
        >>> net.diagonal_layers()
        [2]
        """
        return [k for k in range(1, len(self._sizes)) if self._weight(k).dim() == 1]

    def parameter_count(self) -> int:
        """Numbers the model stores: every entry of its state_dict (a diagonal map counts its diagonal).

        Examples
        --------
        >>> IsotropicMLP([2, 3, 1], seed=0).parameter_count()  # 6 + 3 + 3 + 1 weights and biases, 1 length
        14
        """
        return sum(t.numel() for t in self.state_dict().values())

    def _weight(self, k: int) -> nn.Parameter:
        return getattr(self, f"weight{k}")

    def _bias(self, k: int) -> nn.Parameter | None:
        return getattr(self, f"bias{k}")

    def _length_weight(self, k: int) -> torch.Tensor | None:
        return getattr(self, f"length_weight{k}", None)

    def _dense_weight(self, k: int) -> torch.Tensor:
        """The map into layer ``k`` as a dense float64 CPU matrix."""
        w = self._weight(k).detach().to("cpu", WORK)
        return embed_diagonal(w, (self._sizes[k], self._sizes[k - 1])) if w.dim() == 1 else w

    def extra_repr(self) -> str:
        lengths = [float(f"{v:.6g}") for v in self.intrinsic_length.detach().cpu().tolist()]
        lengths = [int(v) if v == int(v) else v for v in lengths]
        text = (
            f"sizes={self._sizes}, intrinsic_length={lengths}, trainable_length={self.trainable_length}, "
            f"bias={self.has_bias}"
        )
        diagonal = self.diagonal_layers()
        return text + (f", diagonal={diagonal}" if diagonal else "")

    # ----------------------------------------------------------------- forward
    def _affine(self, k: int, a: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        """Pre-activation of layer ``k`` from the previous layer's output ``a`` (and its length output ``t``)."""
        w = self._weight(k)
        if w.dim() == 1:  # a diagonal map, stored compactly
            z = a[..., : w.shape[0]] * w
            if z.shape[-1] < self._sizes[k]:
                z = nn.functional.pad(z, (0, self._sizes[k] - z.shape[-1]))
        else:
            z = a @ w.mT
        b = self._bias(k)
        if b is not None:
            z = z + b
        c = self._length_weight(k)
        return z if c is None else z + t * c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_batch(x, self._sizes[0], "in_features", type(self).__name__, like=next(self.parameters(), None))
        lengths = self.intrinsic_length
        last = len(self._sizes) - 1
        a, t = x, None
        for k in range(1, last):
            z = self._affine(k, a, t)
            if self._length_weight(k + 1) is None:
                a, t = isotropic_tanh(z, lengths[k - 1]), None
            else:  # the intrinsic length as one more coordinate (see Notes): same function, and its output t
                root = (0.5 * self.log_o[k - 1]).exp() if self.trainable_length else lengths[k - 1].sqrt()
                out = isotropic_tanh(torch.cat([z, root.expand(*z.shape[:-1], 1)], dim=-1))
                a, t = out[..., :-1], out[..., -1:]
        return self._affine(last, a, t)

    # ----------------------------------------------------------------- loading
    def _widths_in(self, state_dict: dict, prefix: str) -> list[int] | str | None:
        """Widths implied by a state_dict's weights; None if some are missing, a message if inconsistent."""
        last = len(self._sizes) - 1
        shapes = []
        for k in range(1, last + 1):
            w = state_dict.get(f"{prefix}weight{k}")
            if not isinstance(w, torch.Tensor) or w.dim() not in (1, 2):
                return None
            shapes.append(tuple(w.shape))
        if len(shapes[0]) == 1 or len(shapes[-1]) == 1:
            return "the first and the last weight must be 2-D"
        widths = [shapes[0][1]]
        for k in range(1, last + 1):
            shape = shapes[k - 1]
            if len(shape) == 2:
                out, into = shape
            else:
                follow = shapes[k]
                if len(follow) != 2:
                    return f"weight{k} and weight{k + 1} are both 1-D (diagonal); at most one of two neighbours can be"
                out, into = follow[1], widths[-1]
                if shape[0] != min(out, into):
                    return (
                        f"weight{k} is a diagonal of length {shape[0]}, but the map into layer {k} is "
                        f"{out} x {into}: it must hold min({out}, {into}) = {min(out, into)} entries"
                    )
            if into != widths[-1]:
                return f"weight{k} takes {into} inputs, but layer {k - 1} has width {widths[-1]}"
            widths.append(out)
        if widths[0] != self._sizes[0] or widths[-1] != self._sizes[-1]:
            return (
                f"its input and output widths are {widths[0]} and {widths[-1]}, this model's are "
                f"{self._sizes[0]} and {self._sizes[-1]} (only hidden widths may differ)"
            )
        return widths

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        # Resize the parameters in place (same Parameter objects) to the widths of the state_dict, so that a
        # model that grew or shrank can be restored into a freshly built one, and its optimizer state with it.
        widths = self._widths_in(state_dict, prefix)
        for name, p in self._parameters.items():
            value = state_dict.get(prefix + name)
            problem = value_problem(name, value, p.dtype) if p is not None and isinstance(value, torch.Tensor) else None
            if problem:
                widths = problem
                break
        if isinstance(widths, str):
            error_msgs.append(f"IsotropicMLP(sizes={self._sizes}) cannot load this state_dict: {widths}.")
            return
        if widths is not None:
            ref = self._weight(1)
            for name, p in list(self._parameters.items()):
                value = state_dict.get(prefix + name)
                if (
                    p is not None
                    and isinstance(value, torch.Tensor)
                    and value.shape != p.shape
                    and (name.startswith("weight") or name.startswith("bias"))
                ):
                    set_data_(p, torch.empty(value.shape, device=p.device, dtype=p.dtype))
                    p.grad = None
            for k in range(2, len(self._sizes)):
                value = state_dict.get(f"{prefix}length_weight{k}")
                current = self._length_weight(k)
                if not isinstance(value, torch.Tensor):
                    setattr(self, f"length_weight{k}", None)
                elif current is None or current.shape != value.shape:
                    setattr(self, f"length_weight{k}", torch.empty(value.shape, device=ref.device, dtype=ref.dtype))
            self._sizes = widths
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    # ----------------------------------------------------------------- argument checks
    def _check_layer(self, layer, method: str, low: int = 1) -> int:
        n_hidden, where = self.num_hidden, f"IsotropicMLP.{method}"
        if isinstance(layer, bool) or not isinstance(layer, numbers.Integral):
            raise TypeError(
                f"The 'layer' parameter of {where} must be an int (a hidden layer, numbered as "
                f"the entries of sizes={self._sizes}). Got {layer!r} instead."
            )
        layer = int(layer)
        if n_hidden == 0:
            raise ValueError(f"{where} needs a hidden layer; this network (sizes={self._sizes}) has none.")
        if layer == 0:
            raise ValueError(
                f"The 'layer' parameter of {where} must be a hidden layer in [{low}, {n_hidden}]. "
                "Got 0, the input layer: its basis is fixed by the data."
            )
        if layer == len(self._sizes) - 1:
            raise ValueError(
                f"The 'layer' parameter of {where} must be a hidden layer in [{low}, {n_hidden}]. "
                f"Got {layer}, the output layer: it is linear (logits), not isotropic, so its "
                "basis is fixed."
            )
        if not low <= layer <= n_hidden:
            raise ValueError(
                f"The 'layer' parameter of {where} must be a hidden layer in [{low}, {n_hidden}] "
                f"(sizes={self._sizes}). Got {layer!r} instead."
            )
        return layer

    def _check_count(self, n, method: str, high: int | None = None, why: str = "") -> int:
        owner = f"IsotropicMLP.{method}"
        if n not in Interval(int):
            raise TypeError(*invalid("n", owner, Interval(int, 1), n).args)
        if n not in Interval(int, 1, high):
            rule = "an int >= 1" if high is None else f"an int in [1, {high}]{why}"
            raise invalid("n", owner, rule, n)
        return int(n)

    def _check_optimizer(self, optimizer, method: str, names: Sequence[str]) -> None:
        if optimizer is None:
            return
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"The 'optimizer' parameter of IsotropicMLP.{method} must be a torch.optim.Optimizer "
                f"or None. Got {type(optimizer).__name__} instead."
            )
        held = {id(p) for group in optimizer.param_groups for p in group["params"]}
        if not any(id(p) in held for p in self.parameters()):
            raise ValueError(
                f"The optimizer passed to IsotropicMLP.{method} holds none of this model's "
                "parameters; pass the optimizer that trains it (or None)."
            )
        check_state_keys(
            optimizer, [p for p in map(self._parameters.get, names) if p is not None], "IsotropicMLP surgery"
        )

    # ----------------------------------------------------------------- applying edits
    def _commit(self, edits: list[Edit], buffers: dict, optimizer) -> None:
        """Give parameters, their gradients, optimizer state and buffers their new values, in place."""
        new = {}
        for e in edits:  # compute everything first: nothing changes if something fails
            p = self._parameters[e.name]
            new[e.name] = (e.value if e.value is not None else e(p.data)).to(p.device, p.dtype)
        for e in edits:
            carry_state_(self._parameters[e.name], new[e.name], e, optimizer)
        ref = self._weight(1)
        for name, value in buffers.items():
            if name == "log_o" or name == "o":
                getattr(self, name).data.copy_(value)
            else:
                setattr(self, name, None if value is None else value.to(ref.device, ref.dtype))

    def _edit_weight(self, k: int, **kwargs) -> Edit:
        dense = (self._sizes[k], self._sizes[k - 1]) if self._weight(k).dim() == 1 else None
        return Edit(f"weight{k}", dense=dense, **kwargs)

    def _rotate_layer(
        self, k: int, rows: torch.Tensor, edits: list, buffers: dict, own: bool = True, following: bool = True
    ) -> None:
        """Express layer ``k`` in a new basis, ``z_new = rows @ z_old`` (rows: some rows of an orthogonal matrix).

        Edits its incoming weights (unless ``own=False``), bias and
        intrinsic-length weights, and the next layer's weights (unless
        ``following=False``).
        """
        if own:
            edits.append(self._edit_weight(k, left=rows))
        if self._bias(k) is not None:
            edits.append(Edit(f"bias{k}", left=rows))
        c = self._length_weight(k)
        if c is not None:
            buffers[f"length_weight{k}"] = rows @ c.detach().to("cpu", WORK)
        if following:
            edits.append(self._edit_weight(k + 1, right=rows.mT))

    def incoming(self, layer: int) -> torch.Tensor:
        """The map into hidden ``layer`` as one dense float64 CPU matrix ``[W | c]`` (c: see the class Notes).

        Its singular values are the ones :meth:`shrink` compares: those of the
        weights, and of the intrinsic-length weights once :meth:`shrink` has
        made them.

        Examples
        --------
        >>> IsotropicMLP([3, 4, 2], seed=0).incoming(1).shape
        torch.Size([4, 3])
        """
        k = self._check_layer(layer, "incoming")
        w = self._dense_weight(k)
        c = self._length_weight(k)
        return w if c is None else torch.cat([w, c.detach().to("cpu", WORK)[:, None]], dim=1)

    def singular_values(self, layer: int) -> torch.Tensor:
        """Singular values of the map into hidden ``layer``, descending, padded with zeros to its width.

        A neuron that no input reaches (more neurons than inputs, or a
        scaffold neuron) has singular value 0. Float64, on the CPU.

        Examples
        --------
        >>> net = IsotropicMLP([2, 4, 1], seed=0)
        >>> net.singular_values(1)[2:]  # 4 neurons, 2 inputs
        tensor([0., 0.], dtype=torch.float64)
        """
        k = self._check_layer(layer, "singular_values")
        s = torch.linalg.svdvals(self.incoming(k))
        return torch.cat([s, s.new_zeros(self._sizes[k] - s.shape[0])]) if s.shape[0] < self._sizes[k] else s

    # ----------------------------------------------------------------- surgery
    @torch.no_grad()
    def diagonalise(
        self, layer: int, mode: str = "left", optimizer: torch.optim.Optimizer | None = None
    ) -> Diagonalised:
        r"""Rotate hidden ``layer`` into the singular basis of its incoming weights; the function is unchanged.

        With the SVD :math:`W_k = U S V^\top`, ``mode="left"`` sets
        :math:`W_k \leftarrow U^\top W_k = S V^\top`,
        :math:`b_k \leftarrow U^\top b_k` and :math:`W_{k+1} \leftarrow W_{k+1} U`:
        the rows of :math:`W_k` become orthogonal, sorted by singular value.
        ``mode="full"`` also moves :math:`V` into layer ``k-1``
        (:math:`W_{k-1} \leftarrow V^\top W_{k-1}`, :math:`b_{k-1} \leftarrow V^\top b_{k-1}`),
        so that :math:`W_k = S` is diagonal; it is then stored as its diagonal.

        Parameters
        ----------
        layer : int
            A hidden layer: ``1 .. len(sizes) - 2`` for ``"left"``, ``2 ..``
            for ``"full"`` (layer 1's inputs are the data, whose basis is fixed).
        mode : {"left", "full"}, default "left"
        optimizer : torch.optim.Optimizer, optional
            Its state for the changed parameters is rotated the same way:
            first moments (``exp_avg``, ``momentum_buffer``) exactly, second
            moments (``exp_avg_sq``) approximately, with every rotation entry
            squared (:math:`v \leftarrow (U^\top)^{\circ 2} v`), the diagonal of
            the rotated second moment. Gradients (``.grad``) are rotated too.

        Returns
        -------
        Diagonalised

        Raises
        ------
        TypeError
            For a non-int ``layer``, an optimizer of the wrong type or with
            state it cannot transform.
        ValueError
            For a layer that is not hidden (or is 1 with ``mode="full"``), or an
            unknown mode.

        Examples
        --------
        >>> net = IsotropicMLP([3, 4, 4, 2], seed=0)
        >>> report = net.diagonalise(2, mode="full")
        >>> net.weight2.shape, bool(torch.allclose(net.weight2.double(), report.singular_values))
        (torch.Size([4]), True)
        """
        check_choice(mode, "mode", "IsotropicMLP.diagonalise", ("left", "full"))
        k = self._check_layer(layer, "diagonalise")
        if mode == "full" and k == 1:
            raise ValueError(
                "The 'layer' parameter of IsotropicMLP.diagonalise must be a hidden layer >= 2 for "
                "mode='full'. Got 1: a full diagonalisation rotates the previous layer, and layer "
                "1's inputs are the data, whose basis is fixed; use mode='left'."
            )
        names = [f"weight{k}", f"bias{k}", f"weight{k + 1}"] + (
            [f"weight{k - 1}", f"bias{k - 1}"] if mode == "full" else []
        )
        self._check_optimizer(optimizer, "diagonalise", names)
        edits, buffers = [], {}
        if mode == "left":
            u, s, _ = torch.linalg.svd(self.incoming(k), full_matrices=True)
            self._rotate_layer(k, u.mT, edits, buffers)
            right = None
        else:  # W_k = U S V^T: W_k <- S, layer k rotated by U^T, layer k - 1 by V^T
            u, s, vh = torch.linalg.svd(self._dense_weight(k), full_matrices=True)
            edits.append(self._edit_weight(k, left=u.mT, right=vh.mT, diagonal=True, value=s.clone()))
            self._rotate_layer(k, u.mT, edits, buffers, own=False)
            self._rotate_layer(k - 1, vh, edits, buffers, following=False)
            right = vh.mT
        self._commit(edits, buffers, optimizer)
        pad = self._sizes[k] - s.shape[0]
        values = torch.cat([s, s.new_zeros(pad)]) if pad > 0 else s
        return Diagonalised(k, mode, values, u, right)

    @torch.no_grad()
    def grow(
        self,
        layer: int,
        n: int = 1,
        optimizer: torch.optim.Optimizer | None = None,
        seed: int | torch.Generator | None = None,
    ) -> Grown:
        """Add ``n`` scaffold neurons to hidden ``layer``; the function is unchanged exactly.

        A scaffold neuron has zero incoming weights and bias, so its
        pre-activation is 0 and it adds nothing to the layer's length; its
        outgoing weights are drawn from N(0, ``init_scale``²) so that gradients
        reach its incoming weights (the isotropic Jacobian is not diagonal).

        Parameters
        ----------
        layer : int
            A hidden layer, ``1 .. len(sizes) - 2``.
        n : int >= 1, default 1
        optimizer : torch.optim.Optimizer, optional
            Its state (and ``.grad``) is padded with zeros for the new entries.
        seed : int, torch.Generator or None
            Source of the outgoing weights (``None``: a fresh seed).

        Returns
        -------
        Grown

        Raises
        ------
        TypeError, ValueError
            For a bad layer, ``n`` or optimizer (the message says which).

        Notes
        -----
        When the next layer's weights are stored as a diagonal (after
        :meth:`sparsify`) they become dense: new columns break the diagonal.

        Examples
        --------
        >>> net = IsotropicMLP([3, 4, 2], seed=0)
        >>> net.grow(1, 3, seed=1)
        Grown(layer=1, added=3, width=7, densified=())
        >>> net.weight1.shape, bool((net.weight1[4:] == 0).all())
        (torch.Size([7, 3]), True)
        """
        k = self._check_layer(layer, "grow")
        n = self._check_count(n, "grow")
        self._check_optimizer(optimizer, "grow", [f"weight{k}", f"bias{k}", f"weight{k + 1}"])
        generator = seed if isinstance(seed, torch.Generator) else torch_generator(resolve_seed(seed))
        width = self._sizes[k]
        pad = pad_rows(width, n)
        edits = [self._edit_weight(k, left=pad, diagonal=self._weight(k).dim() == 1)]
        if self._bias(k) is not None:
            edits.append(Edit(f"bias{k}", left=pad))
        buffers = {}
        c = self._length_weight(k)
        if c is not None:
            buffers[f"length_weight{k}"] = pad @ c.detach().to("cpu", WORK)
        out = self._edit_weight(k + 1, right=pad.mT)
        value = out(self._weight(k + 1).data)
        value[:, width:] = torch.randn(value.shape[0], n, generator=generator, dtype=WORK) * self.init_scale
        out.value = value
        edits.append(out)
        densified = (k + 1,) if out.dense is not None else ()
        self._commit(edits, buffers, optimizer)
        self._sizes[k] += n
        return Grown(k, n, self._sizes[k], densified)

    @torch.no_grad()
    def shrink(self, layer: int, n: int = 1, optimizer: torch.optim.Optimizer | None = None) -> Shrunk:
        r"""Remove the ``n`` smallest singular directions of hidden ``layer``.

        The layer is first rotated as by ``diagonalise(layer, "left")``; the
        last ``n`` neurons then have pre-activations
        :math:`s_j\, v_j^\top a + b^*_j` with the smallest singular values
        :math:`s_j`. Each is replaced by its constant part :math:`b^*_j`, which
        joins the intrinsic length (:math:`o \leftarrow o + \lVert b^*\rVert^2`)
        while its outgoing effect :math:`w^*_j b^*_j` moves into the next
        layer's intrinsic-length weights (see the class Notes). With
        :math:`s_j = 0` this is exact; otherwise the layer's pre-activation
        changes by at most :math:`\max_j s_j` times the norm of its input.

        Parameters
        ----------
        layer : int
            A hidden layer, ``1 .. len(sizes) - 2``.
        n : int, default 1
            ``1 .. width - 1`` (a layer keeps at least one neuron).
        optimizer : torch.optim.Optimizer, optional
            Its state is rotated as in :meth:`diagonalise` and the removed
            entries dropped; ``.grad`` likewise. The state of ``log_o`` (when
            trainable) is left as it is.

        Returns
        -------
        Shrunk

        Raises
        ------
        TypeError, ValueError
            For a bad layer, ``n`` or optimizer (the message says which).

        Examples
        --------
        >>> net = IsotropicMLP([3, 4, 2], seed=0)
        >>> x = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
        >>> y = net(x)
        >>> _ = net.grow(1, 2, seed=0)
        >>> net.shrink(1, 2).singular_values
        (0.0, 0.0)
        >>> bool((net(x) - y).abs().max() < 1e-6)
        True
        """
        k = self._check_layer(layer, "shrink")
        width = self._sizes[k]
        n = self._check_count(n, "shrink", width - 1, f" (layer {k} has width {width} and keeps at least one neuron)")
        self._check_optimizer(optimizer, "shrink", [f"weight{k}", f"bias{k}", f"weight{k + 1}"])
        u, s, _ = torch.linalg.svd(self.incoming(k), full_matrices=True)
        s = torch.cat([s, s.new_zeros(width - s.shape[0])]) if s.shape[0] < width else s
        keep = width - n
        edits, buffers = [], {}
        self._rotate_layer(k, u.mT[:keep], edits, buffers)
        # What the removed directions leave behind: constant pre-activations b*, outgoing weights w*.
        b = self._bias(k)
        b_star = (u.mT[keep:] @ b.detach().to("cpu", WORK)) if b is not None else torch.zeros(n, dtype=WORK)
        w_star = self._dense_weight(k + 1) @ u[:, keep:]
        o = float(self.intrinsic_length[k - 1].detach().to("cpu", WORK))
        o_new = o + float(b_star.square().sum())
        if o_new > o:
            lengths = self.intrinsic_length.detach().to("cpu", WORK).clone()
            lengths[k - 1] = o_new
            buffers["log_o" if self.trainable_length else "o"] = lengths.log() if self.trainable_length else lengths
            c = self._length_weight(k + 1)
            c = torch.zeros(self._sizes[k + 1], dtype=WORK) if c is None else c.detach().to("cpu", WORK)
            buffers[f"length_weight{k + 1}"] = (c * math.sqrt(o) + w_star @ b_star) / math.sqrt(o_new)
        self._commit(edits, buffers, optimizer)
        self._sizes[k] = keep
        removed = tuple(float(v) for v in s[keep:])
        return Shrunk(k, n, keep, removed, o_new)

    def _sparse_plan(self) -> list[int]:
        """Non-adjacent layers in ``2 .. num_hidden`` that save the most when stored as diagonals."""
        best: dict[int, tuple[int, list[int]]] = {0: (0, []), 1: (0, [])}
        for k in range(2, self.num_hidden + 1):
            n, m = self._sizes[k], self._sizes[k - 1]
            saving = n * m - min(n, m)
            take = (best[k - 2][0] + saving, best[k - 2][1] + [k])
            best[k] = take if take[0] > best[k - 1][0] else best[k - 1]
        return best[max(1, self.num_hidden)][1]

    @torch.no_grad()
    def sparsify(self, optimizer: torch.optim.Optimizer | None = None) -> Sparsified:
        """Fully diagonalise alternate hidden layers and store their weights as diagonals; the function is unchanged.

        The layers are chosen among ``2 .. len(sizes) - 2`` (no two
        neighbours: diagonalising a layer rotates both of its neighbours) to
        save the most parameters; with equal widths that is every other layer,
        so the count tends to half. Layers already diagonal are left as they are.

        Parameters
        ----------
        optimizer : torch.optim.Optimizer, optional
            Transformed as in :meth:`diagonalise`.

        Returns
        -------
        Sparsified

        Examples
        --------
        >>> net = IsotropicMLP([8, 64, 64, 64, 64, 4], seed=0)
        >>> report = net.sparsify()
        >>> report.layers, f"{report.ratio:.2f}"
        ((2, 4), '0.39')
        """
        before = self.parameter_count()
        if optimizer is not None:
            self._check_optimizer(optimizer, "sparsify", list(self._parameters))
        plan = self._sparse_plan()
        for k in plan:
            if self._weight(k).dim() == 2:
                self.diagonalise(k, "full", optimizer=optimizer)
        return Sparsified(tuple(plan), before, self.parameter_count())
