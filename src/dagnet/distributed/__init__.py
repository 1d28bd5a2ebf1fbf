"""Data-parallel training over ``torch.distributed``, the wiring identical on every rank.

Each rank (process) holds a copy of the model and takes its slice of every
global batch; after the backward pass one flattened all-reduce leaves on
every rank the gradient of the whole batch's mean loss, weighted by each
rank's samples (:func:`all_reduce_gradients`), so the optimizers take the
same step. dagnet does this all-reduce itself rather than
``DistributedDataParallel``, whose buckets are laid out for the parameters'
shapes when it wraps the model: rewiring changes the shape of a sparse
layer's ``weight``. Rules (SET, RigL, pruning, ...) run on every rank with
the same seeds on the same weights, and choose alike; the activity that
RigL grows from is gathered over the ranks first (:func:`gather_activity`),
and a checksum of the wiring, compared across the ranks after each step
(:func:`check_replicas`), raises :class:`~dagnet.errors.ReplicaMismatchError`
naming the ranks that differ. :class:`Replicas` holds these steps together.

:func:`dagnet.train.fit` trains data-parallel by itself when
torch.distributed is initialised, and ``dagnet train`` under ``torchrun``
joins the group (:func:`join_from_env`)::

    torchrun --nproc_per_node=2 -m dagnet train config.toml

A training loop of one's own (rank ``r`` of ``n``, every rank with the same
model seed and data order)::

    import torch.distributed as dist
    from dagnet.distributed import Replicas
    dist.init_process_group("gloo")                 # or join_from_env() under torchrun
    replicas = Replicas()
    for epoch in range(epochs):
        for xb, yb in batches(X, y, batch_size, seed=gen):
            xb, yb = replicas.shard(xb), replicas.shard(yb)
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            replicas.all_reduce_gradients(model, len(yb), loss)
            optimizer.step()
        replicas.rule_step(rule, model, optimizer)  # the same rewiring on every rank, checked

To use ``DistributedDataParallel`` instead, wrap the model again after every
rewiring (``ddp = DistributedDataParallel(model)``: its buckets are then
laid out for the new shapes) and step the rules on ``ddp.module`` through
:meth:`Replicas.rule_step`, which checks the wirings. DDP does not tell
:class:`Replicas` the ranks' shares of the batch, so the activity of
gradient-based growth (RigL) is not gathered then and the ranks' choices
part (the check says so): with RigL, use :meth:`Replicas.all_reduce_gradients`.
"""

from .activity import gather_activity
from .dropout_streams import seed_dropout
from .gradients import all_reduce_gradients, gradient_bytes
from .process_group import backend_for, is_distributed, join_from_env, rank_and_world_size
from .replicas import Replicas
from .slices import rank_slice, slice_sizes
from .wiring_checks import check_replicas, values_digest, wiring_digest

__all__ = [
    "Replicas",
    "all_reduce_gradients",
    "gradient_bytes",
    "gather_activity",
    "check_replicas",
    "wiring_digest",
    "values_digest",
    "seed_dropout",
    "rank_slice",
    "slice_sizes",
    "is_distributed",
    "rank_and_world_size",
    "join_from_env",
    "backend_for",
]
