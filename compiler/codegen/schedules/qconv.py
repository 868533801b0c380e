"""The int8 convolution / dense schedule (``qkernels.qconv2d_nhwc``), with its requantize epilogue.

Same structure as the float ``conv.schedule_conv``: an (output pixels x 16-lane channel
vectors) tile of int32 accumulators in registers, rows x channel tiles in parallel, the
epilogue (zero-point correction, fixed-point requantize, clamp, narrow) applied per tile while
the accumulators are in registers. The innermost step is one 16x4 dot product: with the
target's intrinsic (VNNI ``vpdpbusd``) it is tensorized, otherwise the 16 lanes are vectorized
and the 4 products unrolled.
"""

from __future__ import annotations

from .common import (INLINE_NODES, SCRATCH, Schedule, blocks, extent, find, inline_bounded, inline_epilogue, inline_is_small,
                     is_reduction, loop_work, name, parallel, try_inline, vectorize_innermost)
from .conv import _grouped_output, _schedule_pad, depthwise_variants, schedule_depthwise, tile_choices
from .injective import schedule_loop_nest
from .kernels import PAD
from .knobs import DEFAULT, Knobs, order_choice, tile_variants
from .params import CpuParams
from .qkernels import LANES, QCONV, QCONV_OUT, QDEPTHWISE

# Inlining limit for epilogue stages that do not read the kernel's result (see ``flatten_epilogue``).
INDEPENDENT_NODES = 4 * INLINE_NODES
# Multiply-adds from which an int8 conv runs faster on two threads than on one. Measured with VNNI
# (3x3 convs, 2 threads, Model.benchmark): 295K and 1.2M MACs ran 1.9x and 1.8x slower on the thread
# pool (1.8 vs 3.4 us, 5.5 vs 9.8 us), 4.7M ran 1.3x faster; the digits CNN's int8 kernels took
# 3.0 us in all instead of 4.3 us at 2 threads, and 3.8 us at 1.
QCONV_PARALLEL_MIN = 2 * 1024 * 1024


def exact_tile_choices(width: int, vectors: int, registers: int) -> list[tuple[int, int]]:
    """(output pixels, channel vectors) tiles, best first, like ``conv.tile_choices``, but the pixels
    must divide the row: a tail tile puts a predicate on the block, which tensorize rejects."""
    return [t for t in tile_choices(width, vectors, registers) if width % t[0] == 0]


def accumulator_registers(params: CpuParams) -> int:
    """How many 16-lane int32 accumulators the tile may hold: one per AVX-512 register, one per
    two AVX2 registers, one per four NEON registers."""
    return max(2, params.tile_registers * params.lanes // LANES)


def _qconv_tiles(sch: Schedule, params: CpuParams) -> list[tuple[int, int]]:
    _, _, x, _, o, *_ = sch.get_loops(find(sch, QCONV))
    return exact_tile_choices(extent(sch, x), extent(sch, o) // LANES, accumulator_registers(params))


def qconv_variants(sch: Schedule, params: CpuParams) -> list[Knobs]:
    return tile_variants(_qconv_tiles(sch, params), (False, True))


def _split_stages(sch: Schedule, keep: set[str]) -> tuple[list, list]:
    """The blocks after the kernel's own, in program order: those that read the kernel's
    result (directly or not), and those that do not (e.g. the other operand of a residual add)."""
    dependent, independent, reached = [], [], set(keep)
    own = tuple(keep | {PAD})  # the kernel's blocks, and the caches named after them
    for stage in (b for b in blocks(sch) if not name(sch, b).startswith(own) and not is_reduction(sch, b)):
        if any(name(sch, p) in reached for p in sch.get_producers(stage)):
            dependent.append(stage)
            reached.add(name(sch, stage))
        else:
            independent.append(stage)
    return dependent, independent


def flatten_epilogue(sch: Schedule, keep: set[str]) -> tuple[list, list]:
    """Inline the elementwise stages into their consumers as far as that keeps expressions
    small (``common.inline_bounded``): the requantize epilogue is a DAG (``p`` feeds both
    ``|p|`` and ``p < 0``), which ``inline_epilogue``'s chain walk stops at. Stages that do not
    read the kernel's result may grow their consumers further (they must be inlined to compute
    the epilogue per tile). Returns ``_split_stages``."""
    inline_bounded(sch, keep=keep | {PAD})
    for stage in reversed(_split_stages(sch, keep)[1]):
        if inline_is_small(sch, stage, INDEPENDENT_NODES):
            try_inline(sch, stage)
    return _split_stages(sch, keep)


def epilogue_at(sch: Schedule, stages: list, loop, params: CpuParams, last_is_output: bool = True) -> None:
    """Compute the epilogue stages per tile, under ``loop``, vectorized."""
    for i, stage in enumerate(stages):
        sch.reverse_compute_at(stage, loop)
        if i < len(stages) - 1 or not last_is_output:
            sch.set_scope(stage, 0, SCRATCH)  # a tile-sized scratch, not a whole tensor
        vectorize_innermost(sch, stage, params.lanes)


def whole_loop_nests(sch: Schedule, stages: list, params: CpuParams) -> None:
    """The fallback for stages a tile cannot compute: each its own parallel, vectorized nest."""
    for stage in stages:
        schedule_loop_nest(sch, stage, params)


def qdepthwise_variants(sch: Schedule, params: CpuParams) -> list[Knobs]:
    return depthwise_variants(sch, params, QDEPTHWISE)


def schedule_qdepthwise(sch: Schedule, params: CpuParams, knobs: Knobs = DEFAULT) -> None:
    dependent, independent = flatten_epilogue(sch, {QDEPTHWISE})
    tile_loop = schedule_depthwise(sch, params, knobs, QDEPTHWISE, inline=not (dependent or independent))
    if independent:
        whole_loop_nests(sch, independent + dependent, params)
    else:
        epilogue_at(sch, dependent, tile_loop, params)


def schedule_qconv(sch: Schedule, params: CpuParams, knobs: Knobs = DEFAULT) -> None:
    stages = flatten_epilogue(sch, {QCONV, QCONV_OUT})
    main, out = find(sch, QCONV), find(sch, QCONV_OUT)
    work = loop_work(sch, main)
    owr, ocr = knobs.tile or _qconv_tiles(sch, params)[0]
    b, y, x, g, o, ry, rx, rco, rci = sch.get_loops(main)
    groups, ocgp = extent(sch, g), extent(sch, o)
    per_tile = groups == 1 and ocgp == extent(sch, sch.get_loops(out)[-1])
    oo, oj, ol = sch.split(o, [None, ocr, LANES])
    xo, xi = sch.split(x, [None, owr])
    weight_bytes = groups * ocgp * extent(sch, ry) * extent(sch, rx) * extent(sch, rco) * extent(sch, rci)
    outer = [b, g, oo, y] if order_choice(knobs, weight_bytes, params.l2_bytes) else [b, y, g, oo]
    inner = [xi, oj, ol, rci] if params.int8_dot else [xi, oj, rci, ol]
    sch.reorder(*outer, xo, ry, rx, rco, *inner)
    write_back = sch.cache_write(main, 0, SCRATCH)
    independent = stages[1]
    if per_tile:
        try_inline(sch, write_back)
        if not independent:
            inline_epilogue(sch, out)
        dependent = _split_stages(sch, {QCONV, QCONV_OUT})[0]
        epilogue_at(sch, [out] + ([] if independent else dependent), xo, params, last_is_output=not independent)
    else:
        sch.reverse_compute_at(write_back, xo)
        vectorize_innermost(sch, write_back, params.lanes)
        _grouped_output(sch, out, groups, params, inline=not any(stages))
        dependent = _split_stages(sch, {QCONV, QCONV_OUT})[0]
    if independent or not per_tile:
        whole_loop_nests(sch, independent + dependent, params)
    sch.unroll(xi)
    sch.unroll(oj)
    parallel(sch, outer, work, params.cores, QCONV_PARALLEL_MIN)
    if not params.int8_dot:
        sch.unroll(rci)
        sch.vectorize(ol)
    sch.decompose_reduction(main, ry)
    if params.int8_dot:
        sch.tensorize(ol, params.int8_dot)
    _schedule_pad(sch, params)
