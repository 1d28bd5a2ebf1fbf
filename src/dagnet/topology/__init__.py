"""Where wirings come from: random graphs, paths, connectomes, and their statistics."""

from .erdos_renyi import erdos_renyi_dag

__all__ = ["erdos_renyi_dag"]
