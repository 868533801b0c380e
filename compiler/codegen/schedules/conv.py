"""Convolution schedules: regular and grouped (``kernels.conv2d_nhwc``) and depthwise
(``kernels.depthwise_nhwc``), with their fused epilogues.

The micro-kernel keeps an (output pixels x output-channel vectors) tile of accumulators in
registers: for each reduction step it loads ``ocr`` weight vectors and broadcasts ``owr``
input scalars (regular conv) or loads ``owr`` input vectors (depthwise), then does
``owr * ocr`` fused multiply-adds. The tile is written back once, through the bias,
activation and residual epilogue, when its reduction is complete. Rows x channel tiles run
in parallel on TVM's thread pool.
"""

from __future__ import annotations

from .common import (SCRATCH, Schedule, extent, find, inline_epilogue, loop_work, parallel, try_inline, vector_width,
                     vectorize_innermost)
from .kernels import CONV, CONV_OUT, DEPTHWISE, PAD
from .knobs import DEFAULT, Knobs, order_choice, tile_variants
from .params import CpuParams


def register_tile(width: int, vectors: int, registers: int, max_pixels: int | None = None) -> tuple[int, int]:
    """(output pixels, channel vectors) per micro-kernel tile: the first of ``tile_choices``."""
    return tile_choices(width, vectors, registers, max_pixels)[0]


def tile_choices(width: int, vectors: int, registers: int, max_pixels: int | None = None) -> list[tuple[int, int]]:
    """Every (output pixels, channel vectors) micro-kernel tile, best first.

    The tile's accumulators plus one row of operand vectors must fit in ``registers``; the
    channel vectors must divide ``vectors`` (no tail in the vector dimension). Pixels need
    not divide the row, but a tail costs a partial tile. Past ~1.5 FMAs per load the kernel is FMA-bound (measured: 8x2,
    7x3, 6x4 and 4x4 AVX-512 tiles within 5%), so tiles are compared on min(FMAs per load,
    1.5) over the pixel waste, then on size.
    """
    return sorted(_tiles(width, vectors, registers, max_pixels), key=lambda t: (_tile_score(width, *t), t[0] * t[1]),
                  reverse=True)


def _tiles(width: int, vectors: int, registers: int, max_pixels: int | None):
    for ocr in (c for c in (6, 5, 4, 3, 2, 1) if vectors % c == 0):
        for owr in range(1, min(width, registers // ocr - 1, max_pixels or width) + 1):
            yield owr, ocr


def _tile_score(width: int, owr: int, ocr: int) -> float:
    waste = -(-width // owr) * owr / width
    return round(min(owr * ocr / (owr + ocr), 1.5) / waste, 6)


def aliasing_pixels(row_bytes: int, params: CpuParams) -> int | None:
    """Pixels a tile may span when its output rows are ``row_bytes`` apart: rows a multiple of
    4 KiB apart share one L1 set, and more of them than the set has ways evict each other
    (measured: a 13x2 tile over 1024 channels ran at 160 GFLOP/s, over 992 at 200)."""
    return params.l1_ways - 1 if row_bytes % 4096 == 0 else None


def padded_channel_vectors(channels: int, width: int, params: CpuParams) -> int:
    """Channel vectors to pad an ungrouped conv's output channels to: a few more than needed
    when that gives a tile better by more than the extra work (1000 channels over a 13-pixel
    row: 63 vectors allow only a 7x3 tile with a wasted pixel, 66 allow 13x2). At most 1/16
    more; not for rows under 4 pixels, whose kernels stream their weights once (memory-bound)."""
    need = -(-channels // params.lanes)
    if width < 4:
        return need

    def value(vectors: int) -> float:
        tile = register_tile(width, vectors, params.tile_registers, aliasing_pixels(vectors * params.lanes * 4, params))
        return _tile_score(width, *tile) * need / vectors

    return max(range(need, need + need // 16 + 1), key=lambda v: (round(value(v), 3), -v))


def _schedule_pad(sch: Schedule, params: CpuParams) -> None:
    """The zero-padded input copy: parallel over rows, vectorized over channels."""
    pad = find(sch, PAD)
    if pad is None:
        return
    loops = sch.get_loops(pad)
    parallel(sch, loops[:2], loop_work(sch, pad), params.cores)
    vectorize_innermost(sch, pad, params.lanes)


def _grouped_output(sch: Schedule, out, groups: int, params: CpuParams, inline: bool = True) -> None:
    """The output stage of a grouped or channel-padded conv, as its own loop nest: channel
    ``o`` is split into (group, channel in group), which makes the read of the padded result
    affine again, and the channel-in-group loop is vectorized as wide as it divides."""
    if inline:
        inline_epilogue(sch, out)
    *outer, o = sch.get_loops(out)
    per_group = extent(sch, o) // groups
    g, j = sch.split(o, [groups, per_group])
    width = vector_width(per_group, params.lanes)
    if width > 1:
        j, lane = sch.split(j, [None, width])
        sch.vectorize(lane)
    parallel(sch, outer, loop_work(sch, out), params.cores)


def _conv_tiles(sch: Schedule, params: CpuParams) -> list[tuple[int, int]]:
    _, _, x, g, o, *_ = sch.get_loops(find(sch, CONV))
    return tile_choices(extent(sch, x), extent(sch, o) // params.lanes, params.tile_registers,
                        aliasing_pixels(extent(sch, g) * extent(sch, o) * 4, params))


def conv_variants(sch: Schedule, params: CpuParams) -> list[Knobs]:
    """The best tiles in both loop orders (``knobs.py``)."""
    return tile_variants(_conv_tiles(sch, params), (False, True))


def schedule_conv(sch: Schedule, params: CpuParams, knobs: Knobs = DEFAULT) -> None:
    main, out = find(sch, CONV), find(sch, CONV_OUT)
    work = loop_work(sch, main)
    owr, ocr = knobs.tile or _conv_tiles(sch, params)[0]
    b, y, x, g, o, ry, rx, rc = sch.get_loops(main)
    groups, ocgp, lanes = extent(sch, g), extent(sch, o), params.lanes
    # The output stage reads acc[..., o // OCg, o % OCg]; only without groups and channel
    # padding is that the identity, so that it can run per tile on the register tile.
    per_tile = groups == 1 and ocgp == extent(sch, sch.get_loops(out)[-1])
    oo, oj, ol = sch.split(o, [None, ocr, lanes])
    xo, xi = sch.split(x, [None, owr])
    weight_bytes = 4 * groups * ocgp * extent(sch, ry) * extent(sch, rx) * extent(sch, rc)
    if order_choice(knobs, weight_bytes, params.l2_bytes):
        # Weight-stationary: each output-channel slab of the weight is read from cache for
        # every row, instead of the whole weight being streamed from L3 once per row.
        outer = [b, g, oo, y]
    else:
        outer = [b, y, g, oo]
    sch.reorder(*outer, xo, ry, rx, rc, xi, oj, ol)
    write_back = sch.cache_write(main, 0, SCRATCH)
    if per_tile:
        try_inline(sch, write_back)  # the output stage reads the register tile directly
        inline_epilogue(sch, out)
        sch.reverse_compute_at(out, xo)
        vectorize_innermost(sch, out, lanes)
    else:
        sch.reverse_compute_at(write_back, xo)
        vectorize_innermost(sch, write_back, lanes)
        _grouped_output(sch, out, groups, params)
    sch.unroll(xi)
    sch.unroll(oj)
    sch.vectorize(ol)
    parallel(sch, outer, work, params.cores)
    sch.decompose_reduction(main, ry)
    _schedule_pad(sch, params)


def _depthwise_tiles(sch: Schedule, params: CpuParams, block_name: str) -> list[tuple[int, int]]:
    _, _, x, c, *_ = sch.get_loops(find(sch, block_name))
    channels = extent(sch, c)
    return tile_choices(extent(sch, x), channels // vector_width(channels, params.lanes), params.tile_registers)


def depthwise_variants(sch: Schedule, params: CpuParams, block_name: str = DEPTHWISE) -> list[Knobs]:
    return tile_variants(_depthwise_tiles(sch, params, block_name))


def schedule_depthwise(sch: Schedule, params: CpuParams, knobs: Knobs = DEFAULT, block_name: str = DEPTHWISE,
                       inline: bool = True):
    """Returns the tile loop (under which the caller may compute further epilogue stages);
    ``inline=False`` leaves the epilogue after the kernel's own output alone."""
    main = find(sch, block_name)
    work = loop_work(sch, main)
    owr, ocr = knobs.tile or _depthwise_tiles(sch, params, block_name)[0]
    b, y, x, c, ry, rx = sch.get_loops(main)
    lanes = vector_width(extent(sch, c), params.lanes)
    co, cj, cl = sch.split(c, [None, ocr, lanes])
    xo, xi = sch.split(x, [None, owr])
    sch.reorder(b, y, co, xo, ry, rx, xi, cj, cl)
    write_back = sch.cache_write(main, 0, SCRATCH)
    if inline:
        inline_epilogue(sch, write_back)
    sch.reverse_compute_at(write_back, xo)
    vectorize_innermost(sch, write_back, lanes)
    sch.unroll(ry)
    sch.unroll(rx)
    sch.unroll(xi)
    sch.unroll(cj)
    sch.vectorize(cl)
    parallel(sch, [b, y, co], work, params.cores)
    sch.decompose_reduction(main, ry)
    _schedule_pad(sch, params)
    return xo
