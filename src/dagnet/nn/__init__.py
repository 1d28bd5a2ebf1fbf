"""The modules users touch: networks, layers and neuron models."""

from .active_dendrites import ActiveDendrites, k_winners_take_all
from .dag_network import DAGNetwork
from .dendrite_activated import DendriteActivatedLinear
from .dendritic_tree import DendriticTree
from .randomly_wired import RandomlyWiredBlocks
from .rewiring import rewire_pa_

__all__ = [
    "DAGNetwork",
    "DendriticTree",
    "DendriteActivatedLinear",
    "ActiveDendrites",
    "k_winners_take_all",
    "RandomlyWiredBlocks",
    "rewire_pa_",
]
