"""A software prefetch of one row of a 2-D array, for the compiled kernels.

The kernels read rows of the activation buffer in an order the hardware
cannot predict (the graph's edges); asking for a row a few edges ahead hides
part of the memory latency (about 30% of the forward pass at 10^6 edges).
Where the LLVM of the installed numba lacks the intrinsic, it is a no-op.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["prefetch_row"]


def _make(name: str):
    @intrinsic
    def prefetch(typingctx, arr, row):
        def codegen(context, builder, sig, args):
            ary = context.make_array(sig.args[0])(context, builder, args[0])
            i64, i32 = ir.IntType(64), ir.IntType(32)
            i8p = ir.IntType(8).as_pointer()
            stride = cgutils.unpack_tuple(builder, ary.strides, 2)[0]
            ncols = cgutils.unpack_tuple(builder, ary.shape, 2)[1]
            item = context.get_abi_sizeof(context.get_data_type(sig.args[0].dtype))
            start = builder.add(builder.ptrtoint(ary.data, i64), builder.mul(args[1], stride))
            nbytes = builder.mul(ncols, ir.Constant(i64, item))
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, name)
            with cgutils.for_range_slice(builder, ir.Constant(i64, 0), nbytes, ir.Constant(i64, 64)) as (off, _):
                ptr = builder.inttoptr(builder.add(start, off), i8p)
                builder.call(fn, [ptr, i32(0), i32(3), i32(1)])  # read, keep in all caches, data
            return context.get_dummy_value()

        return types.void(arr, types.intp), codegen

    return prefetch


@numba.njit(inline="always")
def _noop(arr, row):  # pragma: no cover - compiled
    pass


def _choose():
    probe_args = (np.zeros((2, 4), dtype=np.float32), 1)
    for name in ("llvm.prefetch.p0", "llvm.prefetch.p0i8", "llvm.prefetch"):
        fn = _make(name)

        @numba.njit
        def probe(a, r):
            fn(a, r)

        try:
            probe(*probe_args)
            return fn
        except Exception:  # noqa: BLE001 - any compile failure means: not this name
            continue
    return _noop


prefetch_row = _choose()
