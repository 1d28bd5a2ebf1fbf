"""Where wirings come from: random graphs, paths, connectomes, files; their statistics are in :mod:`dagnet.analysis`.

Every generator returns an acyclic ``networkx.DiGraph``, or with
``as_wiring=True`` the array form :class:`dagnet.Wiring` for graphs too big for
networkx; randomness comes only from its ``seed=`` argument.
"""

from .connectome import connectome
from .erdos_renyi import erdos_renyi_dag, random_io_dag
from .feedback import FeedforwardCut, feedforward_cut
from .io import from_adjacency, read_edgelist, read_graphml, to_adjacency, write_edgelist, write_graphml
from .layered import layered_sparse
from .orient import to_dag
from .paths import path_network, random_walk_paths, sobol_paths
from .scale_free import scale_free_dag
from .small_world import small_world_dag
from .with_io import with_io

__all__ = [
    # generators
    "erdos_renyi_dag",
    "random_io_dag",
    "with_io",
    "scale_free_dag",
    "small_world_dag",
    "layered_sparse",
    "random_walk_paths",
    "sobol_paths",
    "path_network",
    "connectome",
    # turning graphs into DAGs
    "to_dag",
    "feedforward_cut",
    "FeedforwardCut",
    # reading and writing
    "read_edgelist",
    "write_edgelist",
    "read_graphml",
    "write_graphml",
    "to_adjacency",
    "from_adjacency",
]
