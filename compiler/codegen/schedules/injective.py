"""Elementwise and data-movement kernels (bias/activation chains, concat, transpose, pad):
every intermediate stage inlined, the innermost axis vectorized, the rest split over cores.

A concat along the innermost axis (channels, in NHWC) selects its input per element, which
TVM's vectorizer cannot turn into vector code; its loop is partitioned at the input
boundaries instead, so each part is a plain vectorized copy of one input.
"""

from __future__ import annotations

import math

from tvm import s_tir
from tvm.sym import Analyzer

from .common import (Schedule, blocks, extent, inline_is_small, is_reduction, name, parallel, try_inline,
                     vector_width)
from .params import CpuParams

CONCAT = "T_concat"       # TOPI's concatenate block
MAX_VECTOR = 4            # registers; a whole concat part vectorized wider makes LLVM slow (DenseNet: +12 s)


def concat_parts(sch: Schedule, block) -> list[int] | None:
    """Input sizes along the innermost axis, in order, if ``block`` concatenates along it."""
    stmt = sch.get(block)
    if not stmt.iter_vars or len(stmt.reads) < 2:
        return None
    last = stmt.iter_vars[-1].var
    analyzer = Analyzer()
    starts = []
    for read in stmt.reads:
        offset = analyzer.simplify(last - read.region[-1].min)
        if not hasattr(offset, "value"):
            return None
        starts.append(int(offset.value))
    starts = sorted(set(starts))
    total = int(stmt.writes[0].source.shape[-1])
    return [b - a for a, b in zip(starts, starts[1:] + [total])] if len(starts) > 1 else None


def schedule_loop_nest(sch: Schedule, block, params: CpuParams, parts: list[int] | None = None) -> None:
    """Vectorize the innermost axis of ``block`` (each of ``parts`` separately, if given) and
    parallelize the fused outer loops."""
    loops = sch.get_loops(block)
    if not loops:
        return
    total = math.prod(extent(sch, l) for l in loops)
    inner = loops[-1]
    if parts and sum(parts) == extent(sch, inner):
        parallel(sch, list(loops[:-1]), total, params.cores)
        for part in sch.loop_partition(inner, parts[:-1] + [None]):
            if extent(sch, part) <= MAX_VECTOR * params.lanes:
                sch.vectorize(part)  # longer parts are plain copy loops that LLVM vectorizes itself
        return
    width = vector_width(extent(sch, inner), params.lanes)
    outer = list(loops[:-1])
    if width > 1:
        io, ii = sch.split(inner, [None, width])
        sch.vectorize(ii)
        outer.append(io)
    parallel(sch, outer, total, params.cores)


def schedule_injective(sch: Schedule, params: CpuParams) -> None:
    concat = next((concat_parts(sch, b) for b in blocks(sch) if name(sch, b) == CONCAT), None)
    for block in reversed(blocks(sch)):  # inline from the end: producers see their final consumers
        if not is_reduction(sch, block) and inline_is_small(sch, block):
            try_inline(sch, block)
    for block in blocks(sch):
        if not is_reduction(sch, block) and sch.get_loops(block):
            try:
                schedule_loop_nest(sch, block, params, concat)
            except s_tir.ScheduleError:
                pass  # e.g. a block under a loop shared with another: leave it as it is
