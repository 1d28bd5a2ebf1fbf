"""`fit`: a plain training loop with evaluation, evolution rules, metrics, checkpoints and resume."""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._checks import check_bool, check_choice, check_float, check_int, invalid
from ..data.batching import batches
from ..data.datasets import Dataset
from ..distributed.replicas import Replicas
from ..errors import CheckpointMismatchError, DivergenceError, FileFormatError
from ..evolve.schedules import ScheduledRule, every_epoch_but_last, per_step
from ..fileio import atomic_write, check_path
from ..nn.population import Population
from ..seeding import resolve_seed, torch_generator
from .captured_step import CapturedStep
from .checkpoints import load_checkpoint, save_checkpoint
from .degrees import in_degrees, plot_in_degrees
from .metrics import BatchTotals, to_record, write_metrics
from .plots import plot_training
from .populations import evaluate_members, population_loss
from .progress import ProgressBar
from .sources import DatasetSource, as_source, is_source

__all__ = ["fit", "evaluate", "FitResult"]

_LOSSES = {"cross_entropy": nn.functional.cross_entropy}
_SUMMED = ("removed", "added", "grown", "shrunk")
CHECKPOINT = "checkpoint.pt"
#: The files fit writes in ``out_dir`` (each through a temporary file beside it).
OUTPUTS = (
    CHECKPOINT,
    "metrics.csv",
    "metrics.json",
    "members.csv",
    "training.png",
    "in_degrees.json",
    "in_degrees.png",
)
_NONFINITE = ("raise", "continue")
_PROBE = ".dagnet-write-check"


def _schedule(rules: Iterable, epochs: int) -> list[ScheduledRule]:
    if isinstance(rules, (str, bytes)) or not isinstance(rules, Iterable):
        raise invalid("rules", "fit", "a sequence of rules or (rule, when) pairs", rules)
    out: list[ScheduledRule] = []
    for item in rules:
        rule, when = item if isinstance(item, tuple) and len(item) == 2 else (item, None)
        if not callable(getattr(rule, "step", None)):
            raise invalid(
                "rules",
                "fit",
                "a sequence of rules (objects with a step(model, optimizer=None) method) or (rule, when) pairs",
                rules,
            )
        if when is None:
            when = getattr(rule, "schedule", None) or every_epoch_but_last(epochs)
        elif not callable(when):
            raise invalid("rules", "fit", "a sequence of rules or (rule, when) pairs with when(epoch) -> bool", rules)
        base = getattr(rule, "name", None) or type(rule).__name__
        name, k = base, 1
        while any(r.name == name for r in out):
            name, k = f"{base}_{k}", k + 1
        out.append(ScheduledRule(rule, when, name))
    return out


def _with_penalties(loss_fn: Callable, penalties: list, model: nn.Module) -> Callable:
    """``loss_fn`` plus every penalty of ``model`` (e.g. learned masks' cost of active connections)."""

    def loss(output, target):
        total = loss_fn(output, target)
        for penalty in penalties:
            total = total + penalty(model)
        return total

    return loss


def _optimizer(optimizer: Any, model: nn.Module, capturable: bool = False) -> torch.optim.Optimizer:
    if optimizer is None:
        return torch.optim.Adam(model.parameters(), lr=1e-3, capturable=capturable)
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer):
        opt = optimizer(model.parameters())
        if isinstance(opt, torch.optim.Optimizer):
            return opt
    raise invalid(
        "optimizer",
        "fit",
        "a torch.optim.Optimizer, a callable params -> Optimizer "
        "(e.g. functools.partial(torch.optim.SGD, lr=0.1)) or None",
        optimizer,
    )


@torch.no_grad()
def evaluate(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss: str | Callable = "cross_entropy", batch_size: int = 1024
) -> tuple[float, float | None]:
    """Return ``(mean loss, accuracy)`` of ``model`` on ``X, y``, in eval mode and without gradients.

    The accuracy is None unless the outputs are 2-D class scores and ``y``
    integer labels. The model's train/eval mode is restored afterwards. The
    batches' results stay on the model's device until the end, where they
    are read at once (:class:`~dagnet.train.metrics.BatchTotals`).

    Examples
    --------
    >>> model = nn.Linear(2, 2)
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.eye(2)), model.bias.zero_()
    >>> evaluate(model, torch.tensor([[1., 0.], [0., 1.]]), torch.tensor([0, 0]))[1]
    0.5
    """
    loss_fn = _LOSSES[loss] if isinstance(loss, str) else loss
    return _evaluate_batches(model, batches(X, y, batch_size, shuffle=False), loss_fn)


@torch.no_grad()
def _evaluate_batches(
    model: nn.Module, test: Iterable, loss_fn: Callable, replicas: Replicas | None = None
) -> tuple[float, float | None]:
    """:func:`evaluate` over an iterable of ``(x, y)`` batches, each moved to the model's device.

    With ``replicas``, ``test`` is this rank's share, and the figures are the ranks' together.
    """
    was_training = model.training
    model.eval()
    device = _device(model)
    totals = BatchTotals()
    try:
        for xb, yb in test:
            xb, yb = xb.to(device), yb.to(device)
            out = model(xb)
            totals.add(loss_fn(out, yb), out, yb)
    finally:
        model.train(was_training)
    result = totals.read() if replicas is None else replicas.combine_totals(totals.read())
    n = result.count
    return result.loss / max(n, 1), (None if result.hits is None or n == 0 else result.hits / n)


def _device(model: nn.Module) -> torch.device:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def _reads_each_batch(device: torch.device) -> bool:
    """Whether fit reads each batch's loss on the host as it goes: on the CPU, where that costs nothing.

    There the loss is checked before the model is updated with it, and shown
    in the progress bar; on any other device reading it would wait for the
    device after every batch, so the losses stay there until the epoch ends.
    """
    return device.type == "cpu"


@dataclass
class FitResult:
    """What :func:`fit` returns: the metrics per epoch, and the objects it used.

    Attributes
    ----------
    metrics : list of dict
        One row per epoch (``epoch``, ``train_loss``, ``train_accuracy``,
        ``test_loss``, ``test_accuracy``, ``seconds``, and ``rules`` with
        ``"<rule>.<key>"`` entries for the epochs after which rules ran).
    optimizer : torch.optim.Optimizer
    seed : int
        The resolved shuffling seed (pass it again to repeat a ``seed=None`` run).
    out_dir : pathlib.Path or None

    Examples
    --------
    >>> FitResult([{"epoch": 1, "test_accuracy": 0.5}], None, 0, None)
    FitResult(epochs=1, test_accuracy=0.5, out_dir=None)
    """

    metrics: list
    optimizer: Any
    seed: int
    out_dir: Path | None
    degrees: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        last = self.metrics[-1].get("test_accuracy") if self.metrics else None
        return f"FitResult(epochs={len(self.metrics)}, test_accuracy={last}, out_dir={self.out_dir})"


def _run_rules(
    schedule: Sequence[ScheduledRule], which: Sequence[bool], model, optimizer, row: dict, replicas=None
) -> None:
    """Step the rules flagged in ``which``, in order, and add what they return to ``row``.

    With ``replicas`` each step runs through :meth:`Replicas.rule_step`
    (the same on every rank, checked).

    Nested dicts (per module) become dotted keys. For rules that run several
    times in one epoch (per-step schedules), counts of changes (``removed``,
    ``added``, ``grown``, ``shrunk``) are summed over the epoch and other
    values are the latest.
    """
    for r, go in zip(schedule, which):
        if not go:
            continue
        if replicas is None:
            changes = r.rule.step(model, optimizer=optimizer)
        else:
            changes = replicas.rule_step(r.rule, model, optimizer, r.name)
        if changes is None:
            changes = {}
        if not isinstance(changes, dict):
            raise TypeError(
                f"The rule {r.name!r} returned {type(changes).__name__} from step(); it must return "
                "a dict of what changed (or None)."
            )
        if r.name not in row.setdefault("rules", []):
            row["rules"].append(r.name)
        for key, value in _flatten(changes, r.name):
            value = to_record(value)
            before = row.get(key)
            if (
                per_step(r.when)
                and key.rsplit(".", 1)[-1] in _SUMMED
                and isinstance(before, (int, float))
                and isinstance(value, (int, float))
            ):
                value = before + value  # changes add up over the epoch; other values are the latest
            row[key] = value


def _flatten(changes: dict, prefix: str):
    for k, v in changes.items():
        if isinstance(v, dict):
            yield from _flatten(v, f"{prefix}.{k}")
        else:
            yield f"{prefix}.{k}", v


def _prepare_out_dir(out: Path) -> None:
    """Create ``out`` if needed and check that files can be written in it, before any training."""
    if out.is_symlink() and not out.exists():
        raise ValueError(
            f"The 'out_dir' parameter of fit must be a folder; {out} is a symbolic link to "
            f"{os.readlink(out)}, which does not exist. Create that folder or choose another out_dir."
        )
    if out.exists() and not out.is_dir():
        raise ValueError(
            f"The 'out_dir' parameter of fit must be a folder; {out} is a file. Choose another "
            "out_dir, or move the file away."
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(
            f"The 'out_dir' parameter of fit must be a folder; a part of {out} is a file. Choose another out_dir."
        ) from None
    except OSError as err:
        raise type(err)(
            f"Cannot create the output folder {out} ({err.strerror or err}); choose another "
            "out_dir or fix the permissions of its parent folder."
        ) from err
    folders = [name for name in OUTPUTS if (out / name).is_dir()]
    if folders:
        raise ValueError(
            f"fit writes the file {out / folders[0]}, but it is a folder. Move it away or choose another out_dir."
        )
    try:
        fd, probe = tempfile.mkstemp(dir=out, prefix=_PROBE + ".", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise type(err)(
            f"Cannot write in the output folder {out} ({err.strerror or err}); choose another "
            "out_dir or fix its permissions."
        ) from err


def _sweep_temporary(out: Path) -> list[Path]:
    """Remove the temporary files that an interrupted run left beside its outputs; return them."""
    stale = [
        Path(t)
        for name in (*OUTPUTS, _PROBE)
        for t in glob.glob(os.path.join(glob.escape(str(out)), glob.escape(name) + ".*.tmp"))
    ]
    for tmp in stale:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
    return stale


def _features(module: nn.Module) -> tuple[int | None, int | None]:
    """``(in_features, out_features)`` of a module, where it has them (None where not)."""
    sizes = getattr(module, "sizes", None)
    n_in, n_out = getattr(module, "in_features", None), getattr(module, "out_features", None)
    if n_in is None and isinstance(sizes, (list, tuple)) and len(sizes) >= 2:
        n_in, n_out = sizes[0], sizes[-1]
    ok = isinstance(n_in, int) and isinstance(n_out, int) and not isinstance(n_in, bool)
    return (int(n_in), int(n_out)) if ok else (None, None)


def _construction(module: nn.Module) -> str | None:
    """What a module was built with that loading a state cannot change: a sparse layer's density, a depth."""
    density = getattr(module, "requested_density", None)
    if isinstance(density, float):
        return f"density {density:.6g}"
    sizes = getattr(module, "sizes", None)
    if isinstance(sizes, (list, tuple)) and len(sizes) >= 2:
        return f"{len(sizes) - 1} layers"
    return None


def _fingerprint_modules(model: nn.Module) -> list:
    return [[name, type(m).__name__, *_features(m), _construction(m)] for name, m in model.named_modules()]


def _fingerprint(model: nn.Module, optimizer: torch.optim.Optimizer, schedule: Sequence[ScheduledRule]) -> dict:
    """What a checkpoint must share with a run that resumes from it: modules, optimizer, rules."""
    return {
        "modules": _fingerprint_modules(model),
        "optimizer": type(optimizer).__name__,
        "rules": [type(r.rule).__name__ for r in schedule],
    }


def _shape(t: torch.Tensor) -> str:
    return f"{t.numel()} entries" if t.dim() == 1 else f"shape {tuple(t.shape)}"


def _module_name(name: str) -> str:
    return "the model" if name == "" else f"module {name!r}"


def _adopting(model: nn.Module) -> list[str]:
    """Prefixes of modules whose state_dict loading adopts other shapes (their wiring or widths)."""
    own = nn.Module._load_from_state_dict
    return [name + "." if name else "" for name, m in model.named_modules() if type(m)._load_from_state_dict is not own]


def _model_mismatch(model: nn.Module, saved: dict, fingerprint: dict | None) -> str | None:
    """Say how the checkpoint's model differs from ``model`` in what loading cannot adopt (None: it does not)."""
    from ..nn.dag_network import DAGNetwork

    if fingerprint is not None:
        here = {name: tuple(rest) for name, *rest in _fingerprint_modules(model)}
        there = {name: (*rest, None)[:4] for name, *rest in fingerprint["modules"]}  # older: no construction
        for name in dict.fromkeys([*there, *here]):
            if name not in here:
                return f"the checkpoint's model has {_module_name(name)} ({there[name][0]}), this one has not"
            if name not in there:
                return f"this model has {_module_name(name)} ({here[name][0]}), the checkpoint's has not"
            if there[name][0] != here[name][0]:
                return f"{_module_name(name)} is a {there[name][0]} there and a {here[name][0]} here"
            if there[name][1:3] != here[name][1:3] and None not in there[name][1:3] + here[name][1:3]:
                (a, b), (c, d) = there[name][1:3], here[name][1:3]
                return (
                    f"{_module_name(name)} ({here[name][0]}) has {a} inputs and {b} outputs there and "
                    f"{c} inputs and {d} outputs here"
                )
            if None not in (there[name][3], here[name][3]) and there[name][3] != here[name][3]:
                return (
                    f"{_module_name(name)} ({here[name][0]}) was built with {there[name][3]} there and "
                    f"{here[name][3]} here"
                )
    for name, m in model.named_modules():
        if isinstance(m, DAGNetwork):
            prefix = name + "." if name else ""
            nodes = saved.get(prefix + "node_index")
            if isinstance(nodes, torch.Tensor) and nodes.numel() != m.node_index.numel():
                return (
                    f"{_module_name(name)} ({type(m).__name__}) has {nodes.numel()} neurons there and "
                    f"{m.node_index.numel()} here"
                )
    adopting = _adopting(model)
    current = model.state_dict()
    for key in dict.fromkeys([*saved, *current]):
        if any(key.startswith(p) for p in adopting):
            continue  # e.g. a rewired DAGNetwork: its wiring and weights load whatever their sizes
        if key not in current:
            return f"the checkpoint holds model state {key!r}, which this model has not"
        if key not in saved:
            return f"this model has state {key!r}, which the checkpoint has not"
        a, b = saved[key], current[key]
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape != b.shape:
            return f"model state {key!r} has {_shape(a)} there and {_shape(b)} here"
    return None


def _optimizer_mismatch(opt: torch.optim.Optimizer, saved: dict, fingerprint: dict | None) -> str | None:
    """Say how the checkpoint's optimizer state differs from what ``opt`` can load (None: it does not)."""
    here = type(opt).__name__
    there = None if fingerprint is None else fingerprint.get("optimizer")
    state_keys = sorted({k for s in saved.get("state", {}).values() for k in s})
    held = f" (state {', '.join(state_keys)})" if state_keys else ""
    if there is not None and there != here:
        return f"the optimizer is {there} there{held} and {here} here"
    groups = saved.get("param_groups", [])
    sizes_there = [len(g["params"]) for g in groups]
    sizes_here = [len(g["params"]) for g in opt.param_groups]
    if sizes_there != sizes_here:
        return (
            f"the optimizer holds {sum(sizes_there)} parameter(s) in {len(sizes_there)} group(s) there and "
            f"{sum(sizes_here)} in {len(sizes_here)} here"
        )
    if there is None and groups:  # a checkpoint without a fingerprint: compare the hyperparameters' names
        only_there = sorted(set(groups[0]) - set(opt.param_groups[0]))
        only_here = sorted(set(opt.param_groups[0]) - set(groups[0]))
        if only_there and only_here:  # (a newer torch may only add some)
            return (
                f"the optimizer there is not this run's {here}: it has the hyperparameters "
                f"{', '.join(only_there)}{held}, {here} has {', '.join(only_here)}"
            )
    return None


def _check_resumable(
    out: Path, state: dict, model: nn.Module, opt: torch.optim.Optimizer, schedule: Sequence[ScheduledRule]
) -> None:
    """Raise a ValueError naming what differs if the checkpoint was written for another configuration."""
    fingerprint = state.get("config")
    problem = None
    if len(state["rules"]) != len(schedule):
        problem = f"it has {len(state['rules'])} rule(s), this run {len(schedule)}"
    elif fingerprint is not None and fingerprint.get("rules") != [type(r.rule).__name__ for r in schedule]:
        there, here = fingerprint.get("rules"), [type(r.rule).__name__ for r in schedule]
        i = next(i for i, (a, b) in enumerate(zip(there, here)) if a != b)
        problem = f"rule {i + 1} is {there[i]} there and {here[i]} here"
    problem = (
        problem
        or _model_mismatch(model, state["model"], fingerprint)
        or _optimizer_mismatch(opt, state["optimizer"], fingerprint)
    )
    if problem:
        raise CheckpointMismatchError(_another(out, problem))


def _unusable(path: Path, what: str) -> FileFormatError:
    return FileFormatError(
        f"{path} is not a checkpoint that fit can resume from: {what}. It was written by "
        "something else than dagnet.train.fit, or damaged; start afresh in another out_dir "
        "(or without resume).",
        path,
    )


def _is_count(v: Any, low: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def _check_checkpoint(path: Path, state: dict) -> None:
    """Raise FileFormatError naming the first entry of a checkpoint that fit cannot resume from."""
    missing = [
        k for k in ("epoch", "model", "optimizer", "generator", "metrics", "rules", "rules_ran") if k not in state
    ]
    if missing:
        raise _unusable(path, f"it has no {', '.join(map(repr, missing))}")
    epoch, metrics = state["epoch"], state["metrics"]
    if not _is_count(epoch, 1):
        raise _unusable(path, f"its epoch is {epoch!r}, not a whole number >= 1")
    if not isinstance(metrics, list) or len(metrics) != epoch or not all(isinstance(r, dict) for r in metrics):
        raise _unusable(path, f"its metrics are not a list of one row (a dict) per epoch ({epoch})")
    model = state["model"]
    if not isinstance(model, dict) or not all(isinstance(k, str) for k in model):
        raise _unusable(path, "its model state is not a state_dict (a dict of names to tensors)")
    opt = state["optimizer"]
    if (
        not isinstance(opt, dict)
        or not isinstance(opt.get("state"), dict)
        or not isinstance(opt.get("param_groups"), list)
        or not all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in opt["param_groups"])
        or not all(isinstance(s, dict) for s in opt["state"].values())
    ):
        raise _unusable(path, "its optimizer state is not an optimizer's state_dict")
    gen = state["generator"]
    if not isinstance(gen, torch.Tensor) or gen.dtype != torch.uint8 or gen.dim() != 1:
        raise _unusable(path, "its generator state is not a 1-D uint8 tensor")
    rules, ran = state["rules"], state["rules_ran"]
    if (
        not isinstance(rules, list)
        or not isinstance(ran, list)
        or len(ran) != len(rules)
        or not all(isinstance(r, bool) for r in ran)
    ):
        raise _unusable(path, "its rules and rules_ran are not lists of one entry per rule")
    degrees = state.get("degrees", {})
    if not isinstance(degrees, dict) or not all(
        (_is_count(e) or (isinstance(e, str) and e.isdigit())) and isinstance(d, dict) for e, d in degrees.items()
    ):
        raise _unusable(path, "its degrees are not a dict of epochs to in-degrees")
    config = state.get("config")
    if config is not None and not (
        isinstance(config, dict)
        and isinstance(config.get("optimizer"), str)
        and isinstance(config.get("rules"), list)
        and all(isinstance(r, str) for r in config["rules"])
        and isinstance(config.get("modules"), list)
        and all(
            isinstance(m, list)
            and len(m) in (4, 5)
            and all(isinstance(x, str) for x in m[:2])
            and all(x is None or _is_count(x) for x in m[2:4])
            and (len(m) == 4 or m[4] is None or isinstance(m[4], str))
            for m in config["modules"]
        )
    ):
        raise _unusable(path, "its configuration record (config) is not one fit writes")


def _another(out: Path, problem: str) -> str:
    return (
        f"The checkpoint in {out} was written for another configuration: {problem}. Resume with the "
        "configuration it was written with, or start afresh in another out_dir (or without resume)."
    )


def _restore_hyperparameters(opt: torch.optim.Optimizer, groups: list[dict]) -> None:
    """Put this run's hyperparameters (lr, momentum, ...) back after loading a checkpoint's optimizer state."""
    for group, mine in zip(opt.param_groups, groups):
        group.update({k: v for k, v in mine.items() if k != "params"})


def _nonfinite_parameter(model: nn.Module) -> str | None:
    """Name of the first parameter holding NaN or infinite values, or None."""
    named = [(n, p) for n, p in model.named_parameters()]
    if not named:
        return None
    finite = torch.stack([torch.isfinite(p.detach()).all() for _, p in named])
    if bool(finite.all()):
        return None
    return named[int((~finite).nonzero()[0])][0]


def _check_outputs(output: torch.Tensor, top_label: int, data: Dataset) -> None:
    """Raise a ValueError if a model's output has fewer classes than the labels of ``data`` need."""
    if output.dim() in (2, 3) and output.shape[-1] <= top_label:  # 3: a population's (batch, member, class)
        raise ValueError(
            f"The model gives {output.shape[-1]} output(s) per sample, but the labels of the data set "
            f"{data.name!r} go up to {top_label} ({data.num_classes} classes): cross_entropy needs "
            f"one output per class. Build the model with {data.num_classes} outputs."
        )


def _diverged(what: str, epoch: int, out: Path | None, saved_epoch: int) -> DivergenceError:
    if out is None:
        kept = "Nothing was saved (no out_dir)."
    elif saved_epoch:
        kept = (
            f"The last checkpoint, after epoch {saved_epoch}, is kept in {out / CHECKPOINT}; the metrics so "
            "far are in metrics.csv and metrics.json."
        )
    else:
        kept = f"No checkpoint was written yet; the metrics so far are in {out}."
    again = " and resume (resume=True)" if out is not None and saved_epoch else ""
    return DivergenceError(
        f"Training diverged in epoch {epoch}: {what}. {kept} Lower the learning rate{again}, check the data for "
        "NaN or infinite values, or set on_nonfinite='continue' to train on regardless."
    )


def fit(
    model: nn.Module,
    data: Dataset | tuple,
    *,
    loss: str | Callable = "cross_entropy",
    optimizer: torch.optim.Optimizer | Callable | None = None,
    epochs: int = 10,
    batch_size: int = 64,
    rules: Sequence = (),
    seed: int | None = 0,
    out_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    progress: bool = True,
    degree_epochs: Sequence[int] = (),
    on_nonfinite: str = "raise",
    cuda_graph: bool = False,
    scheduler: Any = None,
    scheduler_step: str = "epoch",
    callbacks: Sequence[Callable] = (),
    clip_grad_norm: float | None = None,
    autocast: torch.dtype | None = None,
) -> FitResult:
    r"""Train ``model`` on ``data``, evaluating on the test set and applying evolution rules after epochs.

    Each epoch: shuffle the training set with the loop's own generator, take
    one optimizer step per mini-batch, evaluate on the test set, then run the
    rules whose schedule says so, and (with ``out_dir``) rewrite the metrics
    files and, every ``checkpoint_every`` epochs and after the last, the
    checkpoint. At the end ``training.png`` is drawn by :func:`plot_training`.

    Parameters
    ----------
    model : torch.nn.Module
        E.g. a :class:`dagnet.DAGNetwork`; trained in place. A
        :class:`~dagnet.nn.Population` trains on the sum of its members' mean
        losses (each member as it would train alone; ``train_loss`` is that
        sum and ``train_accuracy`` is not recorded); each row then holds the
        mean test loss and accuracy over the members, the ``best_member``
        with its ``best_test_accuracy`` and ``best_test_loss``, and each
        member's figures (``members.test_loss``, ``members.test_accuracy``,
        written to ``members.csv``, one line per epoch and member).
    data : Dataset or (train, test) pair of iterables
        Training and test tensors (see :mod:`dagnet.data`), shuffled by fit's
        own generator in ``batch_size`` batches; or two iterables of ``(x, y)``
        batches, such as ``torch.utils.data.DataLoader``\ s, used as they
        come (``batch_size`` is then theirs). A resumed run repeats its
        batches bit for bit only if the training loader does: give it a
        sampler that draws the same order for the same epoch (a generator
        seeded per epoch, or one with ``set_epoch``, which fit calls before
        each epoch). Step-scheduled rules need a loader with ``len``.
    loss : "cross_entropy" or callable, default "cross_entropy"
        ``loss(output, target)`` returning the batch mean.
    optimizer : torch.optim.Optimizer, callable or None
        An optimizer over ``model``'s parameters, or ``params -> Optimizer``
        (e.g. ``functools.partial(torch.optim.SGD, lr=0.1, momentum=0.9)``).
        Default: Adam with lr 1e-3.
    epochs : int >= 1, default 10
        Total epochs, counting those of a resumed run.
    batch_size : int >= 1, default 64
    rules : sequence
        Evolution rules: objects with ``step(model, optimizer=None) -> dict``
        (and optionally ``attach(model)``, run before the optimizer is made,
        and ``penalty(model)``, added to every batch's loss), or
        ``(rule, when)`` pairs with ``when(epoch) -> bool`` (1-based epoch
        just finished). Default schedule: :class:`every_epoch_but_last`. What
        ``step`` returns is recorded as ``"<name>.<key>"`` in that epoch's row
        (``name``: the rule's ``name`` attribute, else its class name).
    seed : int or None, default 0
        Seed of the shuffling generator (``None``: a fresh one, kept in the result).
    out_dir : str or path-like, optional
        Folder (created if needed) for ``metrics.csv``, ``metrics.json``,
        ``checkpoint.pt`` and ``training.png``. Nothing is written without it.
        It is checked to be a writable folder before the first epoch.
    checkpoint_every : int >= 1, default 1
        Epochs between checkpoints; the last epoch is always saved.
    resume : bool, default False
        Continue from ``out_dir/checkpoint.pt``: model and optimizer state,
        the shuffling generator, each rule's ``state_dict()`` and the metrics
        so far are restored, so the run continues exactly as if never stopped
        (bit for bit on the same machine and backend). Without a checkpoint the
        run starts from scratch, so one command serves a first start and a
        restart. Rules that ran after the saved epoch under the earlier run's
        schedule are not run again; rules that this run's schedule asks for
        there (e.g. the default, when ``epochs`` grew) run before training on.
        The checkpoint must come from the same configuration (modules and
        their input and output sizes, optimizer, rules); the network's wiring
        and widths may differ, as evolution rules change them. The
        optimizer's hyperparameters (``lr``, ``momentum``, ...) are this
        run's, so a run that diverged can go on from its last checkpoint with
        a lower learning rate. Temporary files an interrupted run left in
        ``out_dir`` are removed.
    progress : bool, default True
        Draw a progress bar on stderr; nothing else is ever printed.
    degree_epochs : sequence of int, default ()
        Epochs after which (rules included) the in-degrees of every sparse
        module are recorded (0: before training); kept in ``result.degrees``
        and, with ``out_dir``, in ``in_degrees.json`` and drawn in
        ``in_degrees.png`` by :func:`plot_in_degrees`.
    on_nonfinite : {"raise", "continue"}, default "raise"
        What to do when a batch's training loss is NaN or infinite, or the
        parameters are after an epoch: ``"raise"`` stops with a
        DivergenceError (a FloatingPointError) that names the epoch, before that batch updates
        the model, after writing the metrics so far (the diverged epoch's
        row with ``train_loss`` null) and keeping the last checkpoint;
        ``"continue"`` trains on, recording the values (as null in
        ``metrics.json``, empty cells in ``metrics.csv``). On a device other
        than the CPU the batch losses are read when the epoch ends (see
        Notes), so a NaN or infinite one stops the run then: the error names
        the batch, but the model was updated with it and the batches after it.

    scheduler : LR scheduler or callable, optional
        A ``torch.optim.lr_scheduler`` instance over ``optimizer``, or
        ``optimizer -> scheduler`` (e.g. ``functools.partial(StepLR, step_size=10)``);
        stepped after every epoch or, with ``scheduler_step="step"``, after
        every optimizer step; its state is checkpointed.
    scheduler_step : {"epoch", "step"}, default "epoch"
    callbacks : sequence of callables
        Each is called as ``callback("step", info)`` after every optimizer
        step (``info``: ``epoch``, ``batch``, ``step`` and ``loss``, a tensor
        on the model's device) and ``callback("epoch", row)`` after every
        epoch with its metrics row.
    clip_grad_norm : float, optional
        Clip the gradients' global norm to this before each step.
    autocast : torch.float16 or torch.bfloat16, optional
        Run forward and loss under ``torch.autocast`` on the model's device
        (no loss scaling: bfloat16 is the safer choice).
    cuda_graph : bool, default False
        On a CUDA device, replay each training step (forward, loss,
        backward, optimizer step) as a CUDA graph (:class:`CapturedStep`),
        captured again after every rewiring; the first batch of each epoch
        runs eagerly. The default optimizer is then Adam with
        ``capturable=True``; a given Adam-like optimizer needs it too. Ignored
        on other devices.

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        For a bad argument (the message names it and the value),
        ``resume=True`` without ``out_dir``, or an ``out_dir`` that is a file.
    CheckpointMismatchError
        A ``ValueError``: the checkpoint was written for another
        configuration (the message says which part differs).
    OSError
        If ``out_dir`` cannot be created or written in (e.g. PermissionError).
    DivergenceError
        A ``FloatingPointError``: training diverged and ``on_nonfinite="raise"``.

    Notes
    -----
    Only the generators the loop owns are saved: modules that draw from the
    global RNG (e.g. ``nn.Dropout``) will not resume bit for bit.

    When torch.distributed is initialised (e.g. under ``torchrun``), fit
    trains data-parallel over its default group (:mod:`dagnet.distributed`):
    every rank draws the same order of global batches of ``batch_size`` and
    trains on its slice of each (with loaders, on what its loader yields),
    one all-reduce per step averages the gradients weighted by the ranks'
    samples, the rules take the same steps on every rank (checked after each
    by a checksum of the wiring), and the test set is shared out and the
    figures summed, so the run is one process's to float rounding.
    :class:`dagnet.nn.Dropout` draws from a stream of ``(seed, rank, epoch)``.
    Rank 0 alone writes in ``out_dir`` and draws progress; with ``resume``
    every rank reads the same checkpoint (a folder all of them see). Every
    batch must give each rank one sample at least, and ``cuda_graph`` is not
    available.

    On a device other than the CPU (the model's first parameter says where),
    the data sets are copied there once, each epoch's order crosses once
    (drawn on the CPU from the loop's generator, so it is the same order as
    on the CPU), and per batch nothing is read back: the losses and correct
    predictions stay on the device and are read once at the end of the epoch
    (:class:`~dagnet.train.metrics.BatchTotals`; the totals are the same
    sums as on the CPU), and the progress bar then shows no running loss.
    Rules running after epochs or every n steps do read the device, once
    per rewiring (their docstrings say what crosses).

    Examples
    --------
    >>> import networkx as nx, dagnet
    >>> g = nx.DiGraph([("x1", "h"), ("x2", "h"), ("h", "y1"), ("h", "y2"), ("x1", "y2")])
    >>> X = torch.tensor([[0., 1.], [1., 0.]] * 8)
    >>> ds = Dataset(X, torch.tensor([0, 1] * 8), X, torch.tensor([0, 1] * 8), "toy", 2)
    >>> net = dagnet.DAGNetwork(g, seed=0)
    >>> result = fit(net, ds, epochs=3, batch_size=4, progress=False)
    >>> [row["epoch"] for row in result.metrics], sorted(result.metrics[0])[:3]
    ([1, 2, 3], ['epoch', 'seconds', 'test_accuracy'])
    """
    if not isinstance(model, nn.Module):
        raise invalid("model", "fit", "a torch.nn.Module", model)
    if not is_source(data):
        raise invalid(
            "data", "fit", "a dagnet.data.Dataset or a pair (train, test) of iterables of (x, y) batches", data
        )
    if isinstance(loss, str):
        if loss not in _LOSSES:
            raise invalid("loss", "fit", f"one of {', '.join(map(repr, _LOSSES))} or a callable", loss)
        loss_fn = _LOSSES[loss]
    elif callable(loss):
        loss_fn = loss
    else:
        raise invalid("loss", "fit", f"one of {', '.join(map(repr, _LOSSES))} or a callable", loss)
    population = isinstance(model, Population)
    if population:  # each member's mean loss, summed: every member trains as it would alone
        loss_fn = population_loss(loss)
    epochs = check_int(epochs, "epochs", "fit")
    batch_size = check_int(batch_size, "batch_size", "fit")
    checkpoint_every = check_int(checkpoint_every, "checkpoint_every", "fit")
    resume, progress = check_bool(resume, "resume", "fit"), check_bool(progress, "progress", "fit")
    if resume and out_dir is None:
        raise ValueError(
            "The 'resume' parameter of fit needs out_dir, the folder of the checkpoint. "
            "Got resume=True and out_dir=None."
        )
    check_choice(on_nonfinite, "on_nonfinite", "fit", _NONFINITE)
    cuda_graph = check_bool(cuda_graph, "cuda_graph", "fit")
    check_choice(scheduler_step, "scheduler_step", "fit", ("epoch", "step"))
    if isinstance(callbacks, (str, bytes)) or not all(callable(c) for c in callbacks):
        raise invalid("callbacks", "fit", "a sequence of callables (event, info) -> None", callbacks)
    if clip_grad_norm is not None:
        clip_grad_norm = check_float(clip_grad_norm, "clip_grad_norm", "fit", 0, low_open=True)
    if autocast is not None and autocast not in (torch.float16, torch.bfloat16):
        raise invalid("autocast", "fit", "torch.float16, torch.bfloat16 or None", autocast)
    if cuda_graph and (clip_grad_norm is not None or autocast is not None or scheduler_step == "step" and scheduler):
        raise ValueError(
            "fit's cuda_graph replays a fixed step: it cannot clip gradients, autocast or step a scheduler "
            "every step. Leave those out, or cuda_graph=False."
        )
    if out_dir is not None and not isinstance(out_dir, (str, os.PathLike)):
        raise invalid("out_dir", "fit", "a path (str or os.PathLike) or None", out_dir)
    schedule = _schedule(rules, epochs)
    for r in schedule:  # e.g. learned masks add parameters: before the optimizer is made
        if callable(getattr(r.rule, "attach", None)):
            r.rule.attach(model)
    device = _device(model)
    graphed = cuda_graph and device.type == "cuda"
    replicas = Replicas.current()  # data-parallel over torch.distributed's default group, when initialised
    if replicas is not None and graphed:
        raise ValueError("fit's cuda_graph replays one process's step: it cannot train data-parallel.")
    lead = replicas is None or replicas.lead  # the one process that writes files and draws progress
    opt = _optimizer(optimizer, model, capturable=graphed)
    sched = _scheduler(scheduler, opt)
    penalties = [r.rule.penalty for r in schedule if callable(getattr(r.rule, "penalty", None))]
    trained = {id(p) for group in opt.param_groups for p in group["params"]}
    missed = [name for name, p in model.named_parameters() if p.requires_grad and id(p) not in trained]
    if missed:
        warnings.warn(
            f"The optimizer does not hold {len(missed)} trainable parameter(s) of the model, e.g. "
            f"{missed[0]!r} (a rule's attach() may have added them after the optimizer was made: pass "
            "a factory such as functools.partial(torch.optim.SGD, lr=0.1) instead).",
            stacklevel=2,
        )
    degree_epochs = sorted({check_int(e, "degree_epochs", "fit", low=0) for e in degree_epochs})
    degrees: dict = {}
    seed = resolve_seed(seed)
    gen = torch_generator(seed)
    out = None if out_dir is None else check_path(out_dir, "The 'out_dir' parameter of fit")
    if out is not None:
        _prepare_out_dir(out)
        if resume:
            _sweep_temporary(out)

    metrics: list[dict] = []
    done = 0  # epochs completed
    ran = [False] * len(schedule)  # rules already run after epoch `done`
    saved_epoch = 0  # epoch of the checkpoint in out_dir
    if resume and (out / CHECKPOINT).is_file():
        metrics, done, ran, degrees = _resume(out, model, opt, schedule, gen, epochs, on_nonfinite, sched, replicas)
        saved_epoch = done
    if replicas is not None:
        replicas.check(model, "after resuming" if done else "before training")
    if done == 0 and 0 in degree_epochs:
        degrees[0] = in_degrees(model)
    source = as_source(data, batch_size, device, loss == "cross_entropy")
    if population and not isinstance(source, DatasetSource):
        raise ValueError("fit trains a Population on a dagnet.data.Dataset, not on loaders.")
    sharded = replicas is not None and isinstance(source, DatasetSource)  # each rank takes its slices
    if sharded:
        n = source.X_train.shape[0]
        smallest = min(batch_size, n % batch_size or batch_size)
        if smallest < replicas.world_size:
            raise ValueError(
                f"With {replicas.world_size} ranks every batch needs {replicas.world_size} samples at least, one "
                f"per rank; with batch_size={batch_size} and {n} training samples a batch holds {smallest}. "
                "Choose another batch_size."
            )
    top_label = source.top_label
    stepwise = [per_step(r.when) for r in schedule]
    if any(stepwise) and source.num_batches is None:
        raise ValueError("Rules scheduled in steps need a training loader with a length (len(train)).")
    extras = _Extras(sched if scheduler_step == "step" else None, list(callbacks), clip_grad_norm, autocast, replicas)
    steps = 0  # optimizer steps so far, where the loader has no length
    train_loss = _with_penalties(loss_fn, penalties, model)
    captured = CapturedStep(model, opt, train_loss) if graphed else None
    for epoch in range(done + 1, epochs + 1):
        row: dict = {}
        step = steps if source.num_batches is None else (epoch - 1) * source.num_batches
        start = time.perf_counter()
        model.train()
        bar = ProgressBar(source.num_batches or 0, f"epoch {epoch}/{epochs}", enabled=progress and lead)
        train_batches = source.train_batches(epoch, gen)
        if replicas is not None:
            replicas.seed_dropout(model, seed, epoch)
            train_batches = replicas.shard_batches(train_batches) if sharded else train_batches
        totals, diverged = _train_epoch(
            model,
            opt,
            data,
            train_batches,
            source.num_batches,
            epoch,
            device,
            train_loss,
            schedule,
            stepwise,
            step,
            row,
            bar,
            top_label,
            on_nonfinite,
            captured,
            extras,
        )
        top_label = None  # checked on the first batch
        result = totals.read()  # the epoch's one read of the batches' losses
        if replicas is not None:
            result = replicas.combine_totals(result)
        total, hits, n = result.loss, result.hits, max(result.count, 1)
        steps += len(totals)
        if diverged is None and result.nonfinite is not None and on_nonfinite == "raise":
            b, value = result.nonfinite
            diverged = (
                f"the training loss is {value} in batch {b} of {source.num_batches or len(totals)} (on {device} the "
                "losses are read when the epoch ends: the model was updated with that batch and the ones after it)",
                value,
            )
        if diverged is None and on_nonfinite == "raise":
            bad = _nonfinite_parameter(model)
            if bad is not None:
                diverged = (
                    f"the parameter {bad!r} holds NaN or infinite values after the epoch's last step",
                    total / n,
                )
        if diverged is not None:
            bar.close()
            metrics.append(
                {
                    "epoch": epoch,
                    "train_loss": diverged[1],
                    "train_accuracy": None,
                    "test_loss": None,
                    "test_accuracy": None,
                    "seconds": time.perf_counter() - start,
                    **row,
                }
            )
            if out is not None and lead:
                write_metrics(metrics, out)
            raise _diverged(diverged[0], epoch, out, saved_epoch)
        members = {}
        if population:
            losses, accuracy = evaluate_members(model, source.X_test, source.y_test, loss)
            test_loss, test_acc = float(losses.mean()), None if accuracy is None else float(accuracy.mean())
            best = int(np.argmin(losses) if accuracy is None else np.argmax(accuracy))
            members = {
                "best_member": best,
                "best_test_loss": float(losses[best]),
                "best_test_accuracy": None if accuracy is None else float(accuracy[best]),
                "members.test_loss": losses.tolist(),
                "members.test_accuracy": None if accuracy is None else accuracy.tolist(),
            }
        elif sharded:  # each rank evaluates its share of the test set
            test = batches(replicas.shard(source.X_test), replicas.shard(source.y_test), 1024, shuffle=False)
            test_loss, test_acc = _evaluate_batches(model, test, loss_fn, replicas)
        else:
            test_loss, test_acc = _evaluate_batches(model, source.test_batches(), loss_fn, replicas)
        row = {
            "epoch": epoch,
            "train_loss": total / n,
            "train_accuracy": None if hits is None else hits / n,
            "test_loss": test_loss,
            "test_accuracy": test_acc,
            "seconds": time.perf_counter() - start,
            **members,
            **row,
        }
        ran = [not s and bool(r.when(epoch)) for s, r in zip(stepwise, schedule)]
        _run_rules(schedule, ran, model, opt, row, replicas)
        if sched is not None and scheduler_step == "epoch":
            sched.step()
        for callback in callbacks:
            callback("epoch", row)
        if epoch in degree_epochs:
            degrees[epoch] = in_degrees(model)
        metrics.append(row)
        bar.close(_summary(row))
        if out is not None and lead:
            if epoch % checkpoint_every == 0 or epoch == epochs:
                state = _checkpoint_state(epoch, model, opt, gen, seed, metrics, ran, schedule, degrees)
                if sched is not None:
                    state["scheduler"] = sched.state_dict()
                save_checkpoint(out / CHECKPOINT, state)
                saved_epoch = epoch
            write_metrics(metrics, out)
    if out is not None and lead:
        _write_outputs(out, metrics, degrees)
    return FitResult(metrics, opt, seed, out, degrees)


def _train_epoch(
    model,
    opt,
    data,
    batch_iter,
    total_batches: int | None,
    epoch: int,
    device,
    train_loss: Callable,
    schedule: Sequence[ScheduledRule],
    stepwise: list,
    step: int,
    row: dict,
    bar: ProgressBar,
    top_label: int | None,
    on_nonfinite: str,
    captured: CapturedStep | None = None,
    extras: _Extras | None = None,
) -> tuple[BatchTotals, tuple | None]:
    """One pass over the training batches (on ``device``); return ``(the batches' totals, divergence)``.

    Rules on a schedule in steps run after their optimizer steps, recording in
    ``row``. On the CPU, with ``on_nonfinite="raise"``, a NaN or infinite
    batch loss stops the pass before that batch updates the model: the
    divergence is then ``(what happened, the loss)``; elsewhere nothing is
    read on the host per batch (see :func:`_reads_each_batch`), and the
    totals tell. ``top_label`` (the largest label, for cross-entropy) is
    checked against the model's outputs on the first batch. With ``captured``,
    every batch but the first runs as its replayed CUDA graph.
    """
    extras = extras or _Extras()
    totals = BatchTotals()
    diverged = None
    eager = _reads_each_batch(device)
    opt_params = [p for g in opt.param_groups for p in g["params"]]  # what the all-reduce averages and clipping bounds
    for b, (xb, yb) in enumerate(batch_iter, 1):
        if captured is not None and b > 1:
            batch_loss, output = captured(xb, yb)
            step += 1
            if any(stepwise):
                _run_rules(schedule, [s and r.when(step) for s, r in zip(stepwise, schedule)], model, opt, row)
            totals.add(batch_loss, output, yb)
            extras.after_step(epoch, b, step, batch_loss)
            bar.update()
            continue
        opt.zero_grad(set_to_none=True)
        with extras.autocasting(device):
            output = model(xb)
            if top_label is not None and b == 1:
                _check_outputs(output, top_label, data)
            batch_loss = train_loss(output, yb)
        text = ""
        checked = batch_loss  # the loss checked: with replicas, the whole batch's, after the gradients' all-reduce
        if extras.replicas is not None:
            batch_loss.backward()
            checked = extras.replicas.all_reduce_gradients(opt_params, int(yb.shape[0]), batch_loss)
        if eager:
            value = float(checked.detach())
            if not math.isfinite(value) and on_nonfinite == "raise":
                diverged = (
                    f"the training loss is {value} in batch {b} of {total_batches or '?'} (the "
                    "model was not updated with it)",
                    value,
                )
                break
            text = f"loss {value:.4f}"
        if extras.replicas is None:
            batch_loss.backward()
        if extras.clip is not None:
            torch.nn.utils.clip_grad_norm_(opt_params, extras.clip)
        opt.step()
        step += 1
        if any(stepwise):
            which = [s and r.when(step) for s, r in zip(stepwise, schedule)]
            _run_rules(schedule, which, model, opt, row, extras.replicas)
        totals.add(batch_loss, output, yb)
        extras.after_step(epoch, b, step, batch_loss)
        bar.update(text=text)
    return totals, diverged


def _checkpoint_state(
    epoch: int,
    model: nn.Module,
    opt,
    gen: torch.Generator,
    seed: int,
    metrics: list,
    ran: list,
    schedule: Sequence[ScheduledRule],
    degrees: dict,
) -> dict:
    """Everything a resumed run needs after ``epoch``, as :func:`save_checkpoint` stores it."""
    return {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "generator": gen.get_state(),
        "seed": seed,
        "metrics": metrics,
        "rules_ran": ran,
        "rules": [r.rule.state_dict() if hasattr(r.rule, "state_dict") else None for r in schedule],
        "degrees": {e: to_record(d) for e, d in degrees.items()},
        "config": _fingerprint(model, opt, schedule),
    }


def _write_outputs(out: Path, metrics: list, degrees: dict) -> None:
    """The files of a finished run: metrics, the training plot, and the in-degree snapshots and plot."""
    write_metrics(metrics, out)
    fig = plot_training(metrics)
    atomic_write(out / "training.png", lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    if degrees:
        record = {str(e): to_record(d) for e, d in degrees.items()}
        atomic_write(out / "in_degrees.json", lambda tmp: Path(tmp).write_text(json.dumps(record)))
        fig = plot_in_degrees(degrees)
        atomic_write(out / "in_degrees.png", lambda tmp: fig.savefig(tmp, format="png", dpi=100))


@dataclass
class _Extras:
    """What fit does around each optimizer step besides the step: scheduler, callbacks, clipping, autocast."""

    scheduler: Any = None  # stepped after every optimizer step (None: not per step)
    callbacks: list = field(default_factory=list)
    clip: float | None = None
    autocast: torch.dtype | None = None
    replicas: Replicas | None = None  # data-parallel: the gradients' all-reduce after each backward pass

    def autocasting(self, device: torch.device):
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.autocast)

    def after_step(self, epoch: int, batch: int, step: int, loss: torch.Tensor) -> None:
        if self.scheduler is not None:
            self.scheduler.step()
        for callback in self.callbacks:
            callback("step", {"epoch": epoch, "batch": batch, "step": step, "loss": loss.detach()})


def _scheduler(scheduler: Any, opt: torch.optim.Optimizer):
    """The LR scheduler fit steps: ``scheduler`` itself, or what it makes of ``opt``."""
    if scheduler is None:
        return None
    sched = scheduler if hasattr(scheduler, "step") and hasattr(scheduler, "state_dict") else None
    if sched is None and callable(scheduler):
        sched = scheduler(opt)
    if not (hasattr(sched, "step") and hasattr(sched, "state_dict") and getattr(sched, "optimizer", opt) is opt):
        raise invalid(
            "scheduler",
            "fit",
            "an LR scheduler over fit's optimizer, or a callable optimizer -> scheduler "
            "(e.g. functools.partial(torch.optim.lr_scheduler.StepLR, step_size=10))",
            scheduler,
        )
    return sched


def _resume(
    out: Path,
    model: nn.Module,
    opt,
    schedule: Sequence[ScheduledRule],
    gen: torch.Generator,
    epochs: int,
    on_nonfinite: str,
    sched=None,
    replicas: Replicas | None = None,
) -> tuple[list, int, list, dict]:
    """Restore a run from ``out``'s checkpoint; return ``(metrics, epochs done, rules ran, degrees)``.

    Everything is checked before anything changes: the file, then that it was
    written for this configuration. Rules that were due after the last epoch
    but had not run when the checkpoint was written run now.
    """
    state = load_checkpoint(out / CHECKPOINT)
    _check_checkpoint(out / CHECKPOINT, state)
    _check_resumable(out, state, model, opt, schedule)
    groups = [dict(g) for g in opt.param_groups]
    try:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        detail = "; ".join(lines[1:] if len(lines) > 1 else lines).rstrip(".")
        raise CheckpointMismatchError(_another(out, f"its state does not load into this run's ({detail})")) from err
    _restore_hyperparameters(opt, groups)
    if sched is not None:
        if not isinstance(state.get("scheduler"), dict):
            raise CheckpointMismatchError(_another(out, "it holds no LR scheduler state, and this run has a scheduler"))
        sched.load_state_dict(state["scheduler"])
        for group, lr in zip(opt.param_groups, sched.get_last_lr()):  # where the schedule had got to
            group["lr"] = lr
    try:
        gen.set_state(state["generator"])
    except (RuntimeError, TypeError, ValueError) as err:
        raise _unusable(out / CHECKPOINT, f"its generator state cannot be restored ({err})") from None
    for i, (r, rule_state) in enumerate(zip(schedule, state["rules"]), 1):
        if rule_state is not None and hasattr(r.rule, "load_state_dict"):
            try:
                r.rule.load_state_dict(rule_state)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
                raise CheckpointMismatchError(
                    _another(
                        out,
                        (
                            f"the state of rule {i} ({type(r.rule).__name__}) does not load into this run's "
                            f"({type(err).__name__}: {err})"
                        ),
                    )
                ) from err
    metrics, done, ran = list(state["metrics"]), int(state["epoch"]), list(state["rules_ran"])
    bad = _nonfinite_parameter(model) if on_nonfinite == "raise" and done < epochs else None
    if bad is not None:
        raise DivergenceError(
            f"The checkpoint in {out} (after epoch {done}) holds NaN or infinite values in {bad!r}: the run it "
            "comes from had diverged (it went on with on_nonfinite='continue'). Resuming cannot help; start "
            "afresh in another out_dir (or without resume) with a lower learning rate."
        )
    degrees = {int(e): {k: np.asarray(v) for k, v in d.items()} for e, d in state.get("degrees", {}).items()}
    if 0 < done < epochs:
        missing = [not per_step(r.when) and r.when(done) and not was for r, was in zip(schedule, ran)]
        _run_rules(schedule, missing, model, opt, metrics[-1], replicas)
        ran = [a or b for a, b in zip(ran, missing)]
    return metrics, done, ran, degrees


def _summary(row: dict) -> str:
    parts = [f"loss {row['train_loss']:.4f}"]
    if row["train_accuracy"] is not None:
        parts.append(f"acc {row['train_accuracy']:.2%}")
    parts.append(f"test loss {row['test_loss']:.4f}")
    if row["test_accuracy"] is not None:
        parts.append(f"test acc {row['test_accuracy']:.2%}")
    if row.get("best_member") is not None:
        acc = row.get("best_test_accuracy")
        parts.append(f"best member {row['best_member']}" + ("" if acc is None else f" ({acc:.2%})"))
    if row.get("rules"):
        parts.append("rules: " + ", ".join(row["rules"]))
    return "  ".join(parts) + f"  ({row['seconds']:.1f} s)"
