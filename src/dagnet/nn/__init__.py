"""The modules users touch: networks, layers and neuron models."""

from .active_dendrites import ActiveDendrites, k_winners_take_all
from .dag_network import DAGNetwork
from .dendrite_activated import DendriteActivatedLinear
from .dendritic_tree import DendriticTree
from .dropout import Dropout
from .isotropic import IsotropicMLP, check_isotropic
from .path_linear import PathLinear
from .population import Population, member_losses
from .preferential_attachment import rewire_pa_
from .randomly_wired import RandomlyWiredBlocks
from .rbm import SparseRBM
from .sparse_linear import SparseLinear
from .sparse_mlp import erk_densities, sparse_mlp
from .sparsify import sparse_from_dense, sparsify
from .to_torch import TorchDAG

__all__ = [
    "DAGNetwork",
    "Population",
    "member_losses",
    "DendriticTree",
    "DendriteActivatedLinear",
    "ActiveDendrites",
    "k_winners_take_all",
    "RandomlyWiredBlocks",
    "rewire_pa_",
    "SparseLinear",
    "PathLinear",
    "SparseRBM",
    "Dropout",
    "IsotropicMLP",
    "check_isotropic",
    "sparse_mlp",
    "sparsify",
    "TorchDAG",
    "sparse_from_dense",
    "erk_densities",
]
