"""`IsotropicMLP`: an MLP with isotropic tanh whose hidden layers grow and shrink without changing its function.

An isotropic activation acts on the length of a layer's vector, so it commutes
with every rotation of that vector: a hidden layer has no preferred basis, and
a rotation of its neurons can be absorbed by the weights on both sides. That
freedom gives four function-preserving operations (Bird 2026; ``papers.md``
section 4), all methods of :class:`IsotropicMLP`:

* :meth:`~IsotropicMLP.diagonalise`: take the SVD ``W = U S V^T`` of a layer's
  incoming weights and move ``U`` (and, for ``mode="full"``, ``V``) into the
  neighbouring layers. Exact.
* :meth:`~IsotropicMLP.grow`: add scaffold neurons (zero incoming weights and
  bias, small random outgoing weights). Exact.
* :meth:`~IsotropicMLP.shrink`: remove the directions of the smallest singular
  values. Exact for singular values 0, and off by at most about the removed
  singular value otherwise.
* :meth:`~IsotropicMLP.sparsify`: diagonalise alternate layers and store them
  as their diagonals: toward half the parameters, function unchanged.

Every operation keeps the model's ``nn.Parameter`` objects (only their
``.data`` and ``.grad`` change), and, given the optimizer, rotates, pads or
cuts its per-parameter state to match, so training continues where it was.

On any device, a surgery works in float64 on the CPU: the dense matrices of
the layers it edits (their weights, biases, gradients and optimizer state,
width x width numbers at most) cross to the host, are edited there and cross
back; the SVDs run there too. So the same model gets the same surgery,
exact to float64, on every device, and a model on a GPU pays for the
transfers only when its widths change, never per training step: the forward
and backward passes have no host round trip.
"""

from .model import IsotropicMLP, check_isotropic
from .reports import Diagonalised, Grown, Shrunk, Sparsified

__all__ = ["IsotropicMLP", "check_isotropic", "Diagonalised", "Grown", "Shrunk", "Sparsified"]
