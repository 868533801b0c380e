"""Dense (``kernels.dense_packed``): rows x output-feature vectors in registers, the whole K
reduction streamed from the packed weight (one contiguous stream per vector column), output
feature tiles in parallel. With one row this is a GEMV, bound by reading the weight once."""

from __future__ import annotations

from .common import SCRATCH, Schedule, extent, find, inline_epilogue, loop_work, parallel, try_inline, vectorize_innermost
from .conv import register_tile
from .kernels import DENSE, DENSE_OUT
from .params import CpuParams


def schedule_dense(sch: Schedule, params: CpuParams) -> None:
    main, out = find(sch, DENSE), find(sch, DENSE_OUT)
    work = loop_work(sch, main)
    *batch, j, rk = sch.get_loops(main)
    m = sch.fuse(*batch) if len(batch) > 1 else (batch[0] if batch else sch.add_unit_loop(main))
    features, lanes = extent(sch, j), params.lanes
    padded = features != extent(sch, sch.get_loops(out)[-1])
    mr, jr = register_tile(extent(sch, m), features // lanes, params.tile_registers)
    mo, mi = sch.split(m, [None, mr])
    jo, jj, jl = sch.split(j, [None, jr, lanes])
    sch.reorder(mo, jo, rk, mi, jj, jl)
    try_inline(sch, sch.cache_write(main, 0, SCRATCH))
    inline_epilogue(sch, out)
    sch.reverse_compute_at(out, jo)
    if not padded:
        vectorize_innermost(sch, out, lanes)
    sch.unroll(mi)
    sch.unroll(jj)
    sch.vectorize(jl)
    parallel(sch, [mo, jo], work, params.cores)
    sch.decompose_reduction(main, rk)
