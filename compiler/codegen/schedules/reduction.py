"""Reductions over outer axes: pooling windows and spatial means in NHWC.

The channel axis is innermost both in the output and in every read, so the reduction loops
move outside it and the channel loop is vectorized: each window step is one vector max/add
per channel vector. Reductions over the innermost axis (softmax over a 1000-wide row) are
small in these models and keep the default loop nest.
"""

from __future__ import annotations

from tvm import tirx

from .common import Schedule, blocks, extent, inline_producers, is_reduction, loop_work, name, parallel, vector_width
from .params import CpuParams


def _channel_last(sch: Schedule, block) -> bool:
    """Is the last spatial iterator the last index of the output and of every read?"""
    stmt = sch.get(block)
    spatial = [iv.var for iv in stmt.iter_vars if iv.iter_type == tirx.IterVar.DataPar]
    if not spatial:
        return False
    last = spatial[-1]
    regions = list(stmt.reads) + list(stmt.writes)
    return all(r.region[-1].min.same_as(last) for r in regions if len(r.region) > 0)


def schedule_channel_reduction(sch: Schedule, block, params: CpuParams) -> bool:
    loops = sch.get_loops(block)
    work = loop_work(sch, block)
    stmt = sch.get(block)
    kinds = [iv.iter_type for iv in stmt.iter_vars]
    if len(loops) != len(kinds) or not _channel_last(sch, block):
        return False
    spatial = [l for l, k in zip(loops, kinds) if k == tirx.IterVar.DataPar]
    reduce = [l for l, k in zip(loops, kinds) if k == tirx.IterVar.CommReduce]
    channel = spatial[-1]
    width = vector_width(extent(sch, channel), params.lanes)
    outer, inner = sch.split(channel, [None, width])
    sch.reorder(*spatial[:-1], outer, *reduce, inner)
    if width > 1:
        sch.vectorize(inner)
    parallel(sch, [*spatial[:-1], outer], work, params.cores)
    return True


def schedule_reductions(sch: Schedule, params: CpuParams) -> None:
    """Schedule each reduction block; the injective rest is left to the caller."""
    reductions = [name(sch, b) for b in blocks(sch) if is_reduction(sch, b)]
    inline_producers(sch, keep=set(reductions))
    for block_name in reductions:
        block = next(b for b in blocks(sch) if name(sch, b) == block_name)
        schedule_channel_reduction(sch, block, params)
