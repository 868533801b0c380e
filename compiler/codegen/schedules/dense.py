"""Dense (``kernels.dense_packed``): rows x output-feature vectors in registers, the whole K
reduction streamed from the packed weight (one contiguous stream per vector column), output
feature tiles in parallel. With one row this is a GEMV, bound by reading the weight once."""

from __future__ import annotations

import math

from .common import SCRATCH, Schedule, extent, find, inline_epilogue, loop_work, parallel, try_inline, vectorize_innermost
from .conv import tile_choices
from .kernels import DENSE, DENSE_OUT
from .knobs import DEFAULT, Knobs, tile_variants
from .params import CpuParams


def _dense_tiles(sch: Schedule, params: CpuParams) -> list[tuple[int, int]]:
    *batch, j, _ = sch.get_loops(find(sch, DENSE))
    rows = math.prod(extent(sch, loop) for loop in batch)
    return tile_choices(rows, extent(sch, j) // params.lanes, params.tile_registers)


def dense_variants(sch: Schedule, params: CpuParams) -> list[Knobs]:
    return tile_variants(_dense_tiles(sch, params))


def schedule_dense(sch: Schedule, params: CpuParams, knobs: Knobs = DEFAULT) -> None:
    main, out = find(sch, DENSE), find(sch, DENSE_OUT)
    work = loop_work(sch, main)
    mr, jr = knobs.tile or _dense_tiles(sch, params)[0]
    *batch, j, rk = sch.get_loops(main)
    m = sch.fuse(*batch) if len(batch) > 1 else (batch[0] if batch else sch.add_unit_loop(main))
    features, lanes = extent(sch, j), params.lanes
    padded = features != extent(sch, sch.get_loops(out)[-1])
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
