"""Topology changes during training: rules that remove and grow connections or neurons.

Every rule is an object whose ``step(model, optimizer=None)`` applies one
update to each :class:`~dagnet.DAGNetwork` and :class:`~dagnet.SparseLinear`
inside ``model`` (:class:`Neuroadaptation`: to each
:class:`~dagnet.nn.IsotropicMLP`) and returns what it changed per module, so
any training loop can call it; :func:`dagnet.train.fit` runs rules on a
schedule. Removed weights take their optimizer state with them; new ones
start with zero state. New edges always keep the graph acyclic.
"""

from ._base import EvolutionRule, sparse_modules
from .dropconnect import DropConnect, DropConnectMask
from .learned_masks import LearnedMasks, ScoreMask, masked_weight, step_ste
from .neuroadaptation import Neuroadaptation
from .neuron_pruning import NeuronPruning, neuron_importance
from .pruning import IterativeMagnitudePruning, MagnitudePruning, magnitude_removal
from .rigl import RigL, top_gradient_pairs
from .schedules import ScheduledRule, every_epoch_but_last, every_epochs, every_steps
from .set import SET, set_removal

__all__ = [
    "EvolutionRule",
    "sparse_modules",
    "SET",
    "set_removal",
    "RigL",
    "top_gradient_pairs",
    "MagnitudePruning",
    "IterativeMagnitudePruning",
    "magnitude_removal",
    "NeuronPruning",
    "neuron_importance",
    "DropConnect",
    "DropConnectMask",
    "LearnedMasks",
    "ScoreMask",
    "masked_weight",
    "step_ste",
    "Neuroadaptation",
    "every_epoch_but_last",
    "every_steps",
    "every_epochs",
    "ScheduledRule",
]
