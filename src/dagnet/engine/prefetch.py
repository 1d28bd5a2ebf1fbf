"""A software prefetch of one row of a 2-D array, for the compiled kernels.

The kernels read rows of the activation buffer in an order the hardware
cannot predict (the graph's edges); asking for a row a few edges ahead hides
part of the memory latency (about 30% of the forward pass at 10^6 edges).
Where the LLVM of the installed numba lacks the intrinsic, it is a no-op.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["prefetch_row", "intrinsic_name"]


#: Names the intrinsic has had across LLVM versions (opaque pointers, typed pointers, oldest).
_NAMES = ("llvm.prefetch.p0", "llvm.prefetch.p0i8", "llvm.prefetch")
_SIGNATURE = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer(), *[ir.IntType(32)] * 3])


def _emit(builder, context, sig, args, name: str) -> None:
    ary = context.make_array(sig.args[0])(context, builder, args[0])
    i64, i32 = ir.IntType(64), ir.IntType(32)
    stride = cgutils.unpack_tuple(builder, ary.strides, 2)[0]
    ncols = cgutils.unpack_tuple(builder, ary.shape, 2)[1]
    item = context.get_abi_sizeof(context.get_data_type(sig.args[0].dtype))
    start = builder.add(builder.ptrtoint(ary.data, i64), builder.mul(args[1], stride))
    nbytes = builder.mul(ncols, ir.Constant(i64, item))
    fn = cgutils.get_or_insert_function(builder.module, _SIGNATURE, name)
    with cgutils.for_range_slice(builder, ir.Constant(i64, 0), nbytes, ir.Constant(i64, 64)) as (off, _):
        ptr = builder.inttoptr(builder.add(start, off), _SIGNATURE.args[0])
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])  # read, keep in all caches, data


def _candidate(name: str):
    @intrinsic
    def prefetch(typingctx, arr, row):
        def codegen(context, builder, sig, args):
            _emit(builder, context, sig, args, name)
            return context.get_dummy_value()

        return types.void(arr, types.intp), codegen

    return prefetch


@functools.cache
def intrinsic_name() -> str | None:
    """Return the name of LLVM's prefetch intrinsic that the installed numba compiles, or None.

    Each candidate is tried in a tiny compiled probe. This runs the first time
    a kernel is compiled, not at import (kernels loaded from numba's cache
    never ask).
    """
    probe_args = (np.zeros((2, 4), dtype=np.float32), 1)
    for name in _NAMES:
        fn = _candidate(name)

        @numba.njit
        def probe(a, r):
            fn(a, r)  # noqa: B023 (compiled and called in this iteration)

        try:
            probe(*probe_args)
        except Exception:  # noqa: BLE001 - any compile failure means: not this name
            continue
        return name
    return None


@intrinsic
def prefetch_row(typingctx, arr, row):
    """Prefetch row ``row`` of the C-contiguous 2-D array ``arr`` into every cache level (a hint only)."""

    def codegen(context, builder, sig, args):
        name = intrinsic_name()
        if name is not None:
            _emit(builder, context, sig, args, name)
        return context.get_dummy_value()

    return types.void(arr, types.intp), codegen
