"""The engine benchmark that ``dagnet bench engine`` runs, and the baselines it measures against.

Only what that command needs is shipped here; the evidence scripts (sparse
training, isotropic surgery, neuron models, generators, import time) and the
recorded results live in the repository's ``bench/`` folder.

* :mod:`dagnet.bench.baselines`: :class:`FourWardNet` (4Ward's dense masked
  matmul per layer) and :class:`SequentialNet` (one neuron at a time).
* :mod:`dagnet.bench.workload`: what is run: constants, wiring, batch, models, the training step.
* :mod:`dagnet.bench.spec`: the configuration, the grid and the measured rows.
* :mod:`dagnet.bench.engine`: the timing harness and ``run_benchmark``.
* :mod:`dagnet.bench.memory`: peak memory, each model in a fresh process.
* :mod:`dagnet.bench.device`: the device (CPU or CUDA), its clock and memory, the usable back ends.
* :mod:`dagnet.bench.fourward_code`: 4Ward's own code, driven from a local checkout.
* :mod:`dagnet.bench.report`: the markdown report.
* :mod:`dagnet.cli.bench`: the ``dagnet bench`` command that runs it.
"""

from .baselines import FourWardNet, SequentialNet, fourward_dense_size

__all__ = ["FourWardNet", "SequentialNet", "fourward_dense_size"]
