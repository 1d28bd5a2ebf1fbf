"""The modules users touch: networks, layers and neuron models."""

from .dag_network import DAGNetwork

__all__ = ["DAGNetwork"]
