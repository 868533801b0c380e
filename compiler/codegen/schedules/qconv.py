"""The int8 convolution / dense schedule (``qkernels.qconv2d_nhwc``), with its requantize epilogue.

Same structure as the float ``conv.schedule_conv``: an (output pixels x 16-lane channel
vectors) tile of int32 accumulators in registers, rows x channel tiles in parallel, the
epilogue (zero-point correction, fixed-point requantize, clamp, narrow) applied per tile while
the accumulators are in registers. The innermost step is one 16x4 dot product: with the
target's intrinsic (VNNI ``vpdpbusd``) it is tensorized, otherwise the 16 lanes are vectorized
and the 4 products unrolled.
"""

from __future__ import annotations

from .common import (Schedule, extent, find, inline_epilogue, inline_producers, loop_work, parallel, try_inline,
                     vectorize_innermost)
from .conv import _grouped_output, _schedule_pad, schedule_depthwise
from .kernels import PAD
from .params import CpuParams
from .qkernels import LANES, QCONV, QCONV_OUT, QDEPTHWISE


def exact_register_tile(width: int, vectors: int, registers: int) -> tuple[int, int]:
    """(output pixels, channel vectors) per tile, like ``conv.register_tile``, but the pixels
    must divide the row: a tail tile puts a predicate on the block, which tensorize rejects."""
    best, best_score = (1, 1), (-1.0, 0)
    for ocr in (c for c in (6, 5, 4, 3, 2, 1) if vectors % c == 0):
        for owr in (p for p in range(1, min(width, registers // ocr - 1) + 1) if width % p == 0):
            score = (round(min(owr * ocr / (owr + ocr), 1.5), 6), owr * ocr)
            if score > best_score:
                best, best_score = (owr, ocr), score
    return best


def flatten_epilogue(sch: Schedule, keep: set[str]) -> None:
    """Inline every elementwise stage but the last into its consumers. The requantize epilogue
    is a DAG (``p`` feeds both ``|p|`` and ``p < 0``), which ``inline_epilogue``'s chain walk
    stops at; inlined into one final stage it becomes a chain of one."""
    inline_producers(sch, keep=keep | {PAD})


def schedule_qdepthwise(sch: Schedule, params: CpuParams) -> None:
    flatten_epilogue(sch, {QDEPTHWISE})
    schedule_depthwise(sch, params, QDEPTHWISE)


def schedule_qconv(sch: Schedule, params: CpuParams) -> None:
    flatten_epilogue(sch, {QCONV, QCONV_OUT})
    main, out = find(sch, QCONV), find(sch, QCONV_OUT)
    work = loop_work(sch, main)
    b, y, x, g, o, ry, rx, rco, rci = sch.get_loops(main)
    groups, ocgp = extent(sch, g), extent(sch, o)
    per_tile = groups == 1 and ocgp == extent(sch, sch.get_loops(out)[-1])
    owr, ocr = exact_register_tile(extent(sch, x), ocgp // LANES, params.tile_registers)
    oo, oj, ol = sch.split(o, [None, ocr, LANES])
    xo, xi = sch.split(x, [None, owr])
    weight_bytes = groups * ocgp * extent(sch, ry) * extent(sch, rx) * extent(sch, rco) * extent(sch, rci)
    outer = [b, g, oo, y] if weight_bytes > params.l2_bytes // 2 else [b, y, g, oo]
    inner = [xi, oj, ol, rci] if params.int8_dot else [xi, oj, rci, ol]
    sch.reorder(*outer, xo, ry, rx, rco, *inner)
    write_back = sch.cache_write(main, 0, "local")
    if per_tile:
        try_inline(sch, write_back)
        inline_epilogue(sch, out)
        sch.reverse_compute_at(out, xo)
        vectorize_innermost(sch, out, params.lanes)
    else:
        sch.reverse_compute_at(write_back, xo)
        vectorize_innermost(sch, write_back, params.lanes)
        _grouped_output(sch, out, groups, params)
    sch.unroll(xi)
    sch.unroll(oj)
    parallel(sch, outer, work, params.cores)
    if not params.int8_dot:
        sch.unroll(rci)
        sch.vectorize(ol)
    sch.decompose_reduction(main, ry)
    if params.int8_dot:
        sch.tensorize(ol, params.int8_dot)
    _schedule_pad(sch, params)
