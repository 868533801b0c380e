"""Helpers shared by the schedule families: finding blocks, loop extents, vector widths and the
epilogue handling every main kernel uses."""

from __future__ import annotations

import math

from tvm import s_tir, tirx

Schedule = s_tir.Schedule

# Below this much work (multiply-adds, or elements moved) a kernel runs on one thread: waking
# the pool's workers costs microseconds, more than such a kernel takes.
PARALLEL_MIN = 64 * 1024


def blocks(sch: Schedule) -> list:
    """The function's blocks under the root, in program order."""
    root = sch.get_sblock(sch.mod["main"].body.block.name_hint)
    return list(sch.get_child_blocks(root))


def name(sch: Schedule, block) -> str:
    return sch.get(block).name_hint


def find(sch: Schedule, block_name: str):
    """The block called ``block_name``, or None."""
    return next((b for b in blocks(sch) if name(sch, b) == block_name), None)


def extent(sch: Schedule, loop) -> int:
    return int(sch.get(loop).extent)


def is_reduction(sch: Schedule, block) -> bool:
    return any(iv.iter_type == tirx.IterVar.CommReduce for iv in sch.get(block).iter_vars)


def vector_width(size: int, lanes: int) -> int:
    """The widest power-of-two vector (at most ``lanes``) that divides ``size``: a loop split
    by it has no tail, so it vectorizes without predicates."""
    width = 1
    while width * 2 <= lanes and size % (width * 2) == 0:
        width *= 2
    return width


def try_inline(sch: Schedule, block) -> bool:
    try:
        sch.compute_inline(block)
        return True
    except s_tir.ScheduleError:
        return False


def inline_producers(sch: Schedule, keep: set[str]) -> None:
    """Inline every injective block not named in ``keep`` into its consumers (pads, casts,
    broadcasts), so that no scratch buffer is written and read back."""
    for block in reversed(blocks(sch)):
        if name(sch, block) not in keep and not is_reduction(sch, block):
            try_inline(sch, block)


def inline_epilogue(sch: Schedule, block) -> None:
    """Pull the elementwise consumers (bias, activation, residual add) into ``block``, so the
    result is written once, in its final form, while it is still in registers."""
    while True:
        consumers = sch.get_consumers(block)
        if len(consumers) != 1:
            return
        try:
            sch.reverse_compute_inline(consumers[0])
        except s_tir.ScheduleError:
            return


def parallel(sch: Schedule, loops: list, work: int, cores: int) -> None:
    """Fuse ``loops`` and run them on the thread pool, if the kernel is big enough to gain."""
    if loops and work >= PARALLEL_MIN and cores > 1:
        sch.parallel(sch.fuse(*loops) if len(loops) > 1 else loops[0])


def loop_work(sch: Schedule, block) -> int:
    """Iterations of ``block``'s loop nest (its multiply-adds, for a conv or dense)."""
    return math.prod(extent(sch, l) for l in sch.get_loops(block))


def vectorize_innermost(sch: Schedule, block, lanes: int, parallel_from: int | None = None) -> None:
    """Vectorize the innermost loop of ``block`` by the widest tail-free vector."""
    loops = sch.get_loops(block)
    if parallel_from is not None:
        loops = loops[parallel_from:]
    if not loops:
        return
    inner = loops[-1]
    width = vector_width(extent(sch, inner), lanes)
    if width > 1:
        if extent(sch, inner) != width:
            inner = sch.split(inner, [None, width])[1]
        sch.vectorize(inner)
