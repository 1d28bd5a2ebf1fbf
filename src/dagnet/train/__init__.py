"""Training: a plain loop with test evaluation, evolution rules, metrics, checkpoints and resume.

An evolution rule (SET, RigL, ...) is any object with
``step(model, optimizer=None) -> dict`` returning what it changed, and
optionally ``state_dict()``/``load_state_dict()`` for the random generator and
counters it owns; :func:`fit` runs it on a schedule and records its returns.

Examples
--------
>>> import networkx as nx, torch, dagnet
>>> from dagnet.data import Dataset
>>> X = torch.tensor([[0., 1.], [1., 0.]] * 4)
>>> ds = Dataset(X, torch.tensor([0, 1] * 4), X, torch.tensor([0, 1] * 4), "toy", 2)
>>> net = dagnet.DAGNetwork(nx.DiGraph([("a", "y1"), ("b", "y2"), ("a", "y2")]), seed=0)
>>> fit(net, ds, epochs=2, batch_size=4, progress=False).metrics[-1]["epoch"]
2
"""

from ..evolve.schedules import ScheduledRule, every_epoch_but_last, every_epochs, every_steps
from .captured_step import CapturedStep
from .checkpoints import load_checkpoint, save_checkpoint
from .degrees import in_degrees, plot_in_degrees
from .loop import FitResult, evaluate, fit
from .metrics import write_metrics
from .optim import SGDW
from .plots import plot_training
from .progress import ProgressBar

__all__ = [
    "fit",
    "CapturedStep",
    "evaluate",
    "FitResult",
    "ScheduledRule",
    "every_epoch_but_last",
    "every_steps",
    "every_epochs",
    "plot_training",
    "in_degrees",
    "plot_in_degrees",
    "write_metrics",
    "SGDW",
    "save_checkpoint",
    "load_checkpoint",
    "ProgressBar",
]
