"""Benchmarks of dagnet and the baselines they measure against.

* :mod:`dagnet.bench.baselines`: :class:`FourWardNet` (4Ward's dense masked
  matmul per layer) and :class:`SequentialNet` (one neuron at a time).
* :mod:`dagnet.bench.engine`: the ``dagnet bench engine`` harness.
* :mod:`dagnet.cli.bench`: the ``dagnet bench`` command that runs it.
"""

from .baselines import FourWardNet, SequentialNet, fourward_dense_size

__all__ = ["FourWardNet", "SequentialNet", "fourward_dense_size"]
