"""Helpers shared by the schedule families: finding blocks, loop extents, vector widths and the
epilogue handling every main kernel uses."""

from __future__ import annotations

import math

import tvm
from tvm import s_tir, tirx

Schedule = s_tir.Schedule

# Below this much work (multiply-adds, or elements moved) a kernel runs on one thread: waking
# the pool's workers costs microseconds, more than such a kernel takes.
PARALLEL_MIN = 64 * 1024
# Storage scope of register tiles and per-tile scratch: "global", which TVM 0.27 itself keeps on the
# stack below 1 KiB (and ``codegen/stack_scratch.py`` up to 16 KiB), where LLVM keeps it in
# registers; TVM takes every "local" buffer from its workspace pool unless that pass intervenes.
SCRATCH = "global"


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
    broadcasts), so that no scratch buffer is written and read back, as far as the consumers'
    expressions stay small (``inline_bounded``)."""
    inline_bounded(sch, keep)


# Largest expression (in IR nodes) a block may reach by inlining its producers into it.
INLINE_NODES = 64
Load = tvm.ir.expr.TensorLoad  # what tirx.BufferLoad makes in TVM 0.27
_OPERANDS = ("a", "b", "value", "condition", "true_value", "false_value", "base", "stride")


def _walk(expr, visit) -> None:
    """Call ``visit`` on every node of a TIR expression (buffer indices excepted)."""
    visit(expr)
    if isinstance(expr, Load):
        return
    for field in _OPERANDS:
        child = getattr(expr, field, None)
        if isinstance(child, tvm.ir.expr.Expr):
            _walk(child, visit)
    for child in getattr(expr, "args", None) or ():
        if isinstance(child, tvm.ir.expr.Expr):
            _walk(child, visit)


def _stored(sch: Schedule, block):
    """(buffer, value) of a block whose body is one store, else None."""
    body = sch.get(block).body
    return (body.buffer, body.value) if isinstance(body, tirx.BufferStore) else None


def _size_and_reads(value, buffer) -> tuple[int, int]:
    """(nodes in ``value``, loads of ``buffer`` among them)."""
    counts = [0, 0]

    def visit(node) -> None:
        counts[0] += 1
        if isinstance(node, Load) and node.source.same_as(buffer):
            counts[1] += 1

    _walk(value, visit)
    return counts[0], counts[1]


def inline_is_small(sch: Schedule, block, limit: int = INLINE_NODES) -> bool:
    """Would inlining ``block`` keep every consumer's expression under ``limit`` nodes?
    Inlining copies the producer's expression once per read: the requantize epilogue reads
    each intermediate up to four times (``|p|`` is ``p >= 0 ? p : -p``, then ``p < 0``), so a
    chain of them inlined blindly grows exponentially (ResNet-50's conv + requantize + qadd +
    requantize became a 95,000-character expression that LLVM took minutes to compile)."""
    own = _stored(sch, block)
    if own is None:
        return True
    size = _size_and_reads(own[1], own[0])[0]
    for consumer in sch.get_consumers(block):
        theirs = _stored(sch, consumer)
        if theirs is None:
            return False
        total, reads = _size_and_reads(theirs[1], own[0])
        if reads > 1 and total + reads * (size - 1) > limit:
            return False
    return True


def inline_bounded(sch: Schedule, keep: set[str], limit: int = INLINE_NODES) -> list:
    """``inline_producers`` that leaves a block in place where inlining it would make a
    consumer's expression bigger than ``limit`` nodes; returns the blocks left, in order."""
    for block in reversed(blocks(sch)):
        if name(sch, block) not in keep and not is_reduction(sch, block) and inline_is_small(sch, block, limit):
            try_inline(sch, block)
    return [b for b in blocks(sch) if name(sch, b) not in keep and not is_reduction(sch, b)]


def _reverse_inline_is_small(sch: Schedule, block, consumer, limit: int = INLINE_NODES) -> bool:
    """Would ``consumer`` inlined into ``block`` stay under ``limit`` nodes? (It copies the
    block's expression once per read, like ``inline_is_small``.)"""
    own, theirs = _stored(sch, block), _stored(sch, consumer)
    if own is None or theirs is None:
        return True  # not a single store: the primitive decides
    total, reads = _size_and_reads(theirs[1], own[0])
    return reads <= 1 or total + reads * (_size_and_reads(own[1], own[0])[0] - 1) <= limit


def inline_epilogue(sch: Schedule, block) -> None:
    """Pull the elementwise consumers (bias, activation, residual add) into ``block``, so the
    result is written once, in its final form, while it is still in registers."""
    while True:
        consumers = sch.get_consumers(block)
        if len(consumers) != 1 or not _reverse_inline_is_small(sch, block, consumers[0]):
            return
        try:
            sch.reverse_compute_inline(consumers[0])
        except s_tir.ScheduleError:
            return


def parallel(sch: Schedule, loops: list, work: int, cores: int, minimum: int = PARALLEL_MIN) -> None:
    """Fuse ``loops`` and run them on the thread pool, if the kernel is big enough to gain
    (``work`` iterations, at least ``minimum``)."""
    if loops and work >= minimum and cores > 1:
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
