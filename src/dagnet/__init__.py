"""dagnet: neural networks wired by any directed acyclic graph."""
from .wiring import Wiring
