"""3x3 convolutions by Winograd's minimal filtering, F(2x2, 3x3) (Lavin & Gray, 2016).

A direct 3x3 conv does 9 multiply-adds per output and input channel. Winograd's algorithm
computes a 2x2 block of outputs from a 4x4 input tile with 16, not 36: the input tile and the
filter are both transformed into a 4x4 "frequency" tile, multiplied there elementwise, and
transformed back:

    Y = A^T [ (G g G^T) * (B^T d B) ] A

Summed over input channels, the elementwise products become 16 independent matrix
products (tiles x in-channels times in-channels x out-channels), which run on the same register-tiled
micro-kernel as ``dense``. The filter transform ``G g G^T`` is done once, at compile time
(``pack_winograd_weight``); B and A hold only 0 and +-1, so the data and output transforms are
additions. The kernel is three stages in one function:

- ``winograd_data``  V[e, p, c]  = (B^T d B)[e] of input tile p (parallel over tiles, vectorized over c);
- ``winograd_gemm``  M[e, p, k]  = sum_c V[e, p, c] * U[e, c, k]  (the register-tiled product);
- ``winograd_out``   Y[n, y, x, k] = (A^T M A) of the tile holding (y, x), with the conv's bias,
  activation and residual add fused in.

Used for stride-1, undilated, ungrouped fp32 3x3 convs with enough channels (``applies``);
the GEMM needs channels to amortize the transforms, which cost O(tiles x channels).
"""

from __future__ import annotations

import numpy as np
from tvm import te, tirx

from .common import (SCRATCH, Schedule, extent, find, inline_epilogue, loop_work, parallel, try_inline, vector_width,
                     vectorize_innermost)
from .conv import tile_choices
from .kernels import PAD, out_size, pad_nhwc
from .knobs import DEFAULT, Knobs, tile_variants
from .params import CpuParams

WINO_DATA = "winograd_data"   # [16, P, C]: the transformed input tiles
WINO_GEMM = "winograd_gemm"   # [16, P, Kp]: their products with the transformed filters
WINO_OUT = "winograd_out"     # [N, OH, OW, K]

M, R = 2, 3                   # outputs per tile side, filter size
ALPHA = M + R - 1             # input tile side: 4
BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]])

# Conservative floors: the transforms cost O(tiles x channels) and the transformed filters are
# 16/9 the conv's, so few channels or few tiles leave little to save. ``python -m bench.winograd``
# times both kernels per layer: at 1 thread, 16->64 channels at 55x55 took 0.85 of the direct conv,
# 128->128 at 28x28 0.56; 512->512 at 7x7 (16 tiles, 16 MB of filters) 0.90, in another run 0.98,
# which is why layers of fewer than 32 tiles stay direct until measured more.
MIN_CHANNELS = 16
MIN_TILES = 32


def applies(data_shape: tuple[int, ...], weight_shape: tuple[int, ...], strides, pads, dilation,
            groups: int) -> bool:
    """Whether an NCHW fp32 conv runs as Winograd F(2x2, 3x3)."""
    n, _, h, w = data_shape
    out_channels, in_channels, kh, kw = weight_shape
    if (kh, kw) != (R, R) or tuple(strides) != (1, 1) or tuple(dilation) != (1, 1) or groups != 1:
        return False
    oh, ow = out_size(h, R, 1, 1, pads[0], pads[2]), out_size(w, R, 1, 1, pads[1], pads[3])
    tiles = n * -(-oh // M) * -(-ow // M)
    return min(in_channels, out_channels) >= MIN_CHANNELS and tiles >= MIN_TILES


def pack_winograd_weight(weight: np.ndarray, block: int) -> np.ndarray:
    """OIHW 3x3 -> U = G g G^T as [16, Kp/block, C, block], out channels zero-padded to ``block``."""
    out_channels, in_channels = weight.shape[:2]
    u = np.einsum("ai,ocij,bj->aboc", G, weight.astype(np.float64), G).reshape(ALPHA * ALPHA, out_channels, in_channels)
    padded = -(-out_channels // block) * block
    u = np.pad(u, [(0, 0), (0, padded - out_channels), (0, 0)])
    u = u.reshape(ALPHA * ALPHA, padded // block, block, in_channels).transpose(0, 1, 3, 2)
    return np.ascontiguousarray(u.astype(weight.dtype))


def _combination(coefficients, terms):
    """sum(c * t) without the zero terms; +-1 become additions and subtractions."""
    total = None
    for c, t in zip(coefficients, terms):
        if c == 0:
            continue
        term = t if abs(c) == 1 else t * float(abs(c))
        if total is None:
            total = term if c > 0 else -term
        else:
            total = total + term if c > 0 else total - term
    return total


def _select(index, values):
    """values[index] for a loop index the schedule unrolls (the Selects then fold away)."""
    out = values[-1]
    for i in reversed(range(len(values) - 1)):
        out = tirx.Select(index == i, values[i], out)
    return out


def winograd_nhwc(data: te.Tensor, packed: te.Tensor, out_channels: int, pads) -> te.Tensor:
    """NHWC 3x3 stride-1 convolution on a ``pack_winograd_weight`` weight."""
    n, h, w, c = (int(d) for d in data.shape)
    _, blocks, _, block = (int(d) for d in packed.shape)
    oh, ow = out_size(h, R, 1, 1, pads[0], pads[2]), out_size(w, R, 1, 1, pads[1], pads[3])
    th, tw = -(-oh // M), -(-ow // M)
    tiles = n * th * tw
    # Pad so that every tile's 4x4 window exists (the last tile of an odd size reads one row more).
    bottom = pads[2] + th * M + R - 1 - (h + pads[0] + pads[2])
    right = pads[3] + tw * M + R - 1 - (w + pads[1] + pads[3])
    x = pad_nhwc(data, (pads[0], pads[1], bottom, right))

    def window(p, ch):
        b, ty, tx = p // (th * tw), p // tw % th, p % tw
        return [x[b, ty * M + i, tx * M + j, ch] for i in range(ALPHA) for j in range(ALPHA)]

    def transform_tile(e, p, ch):
        d = window(p, ch)
        return _select(e, [_combination(np.outer(BT[e1], BT[e2]).ravel(), d)
                           for e1 in range(ALPHA) for e2 in range(ALPHA)])

    v = te.compute((ALPHA * ALPHA, tiles, c), transform_tile, name=WINO_DATA)
    rc = te.reduce_axis((0, c), "rc")
    gemm = te.compute((ALPHA * ALPHA, tiles, blocks * block),
                      lambda e, p, k: te.sum(v[e, p, rc] * packed[e, k // block, rc, k % block], axis=rc),
                      name=WINO_GEMM)

    def inverse(b, y, xx, k):
        p = b * th * tw + y // M * tw + xx // M
        tile = [gemm[e, p, k] for e in range(ALPHA * ALPHA)]
        return _select(y % M * M + xx % M, [_combination(np.outer(AT[i], AT[j]).ravel(), tile)
                                           for i in range(M) for j in range(M)])

    return te.compute((n, oh, ow, out_channels), inverse, name=WINO_OUT)


# -- schedule ---------------------------------------------------------------------------------
def _gemm_tiles(sch: Schedule, params: CpuParams) -> list[tuple[int, int]]:
    _, p, k, _ = sch.get_loops(find(sch, WINO_GEMM))
    return tile_choices(extent(sch, p), extent(sch, k) // params.lanes, params.tile_registers)


def winograd_variants(sch: Schedule, params: CpuParams) -> list[Knobs]:
    return tile_variants(_gemm_tiles(sch, params))


def _schedule_data(sch: Schedule, params: CpuParams) -> None:
    """All 16 transformed values of a tile from one read of its window, vectorized over channels."""
    pad = find(sch, PAD)
    if pad is not None:
        try_inline(sch, pad)
    data = find(sch, WINO_DATA)
    e, p, c = sch.get_loops(data)
    width = vector_width(extent(sch, c), params.lanes)
    co, ci = sch.split(c, [None, width])
    sch.reorder(p, co, e, ci)
    sch.unroll(e)
    if width > 1:
        sch.vectorize(ci)
    parallel(sch, [p], loop_work(sch, data), params.cores)


def _schedule_gemm(sch: Schedule, params: CpuParams, knobs: Knobs) -> None:
    """``dense``'s micro-kernel per frequency: tiles x out-channel vectors in registers, each
    filter slab read from cache for every row of tiles."""
    gemm = find(sch, WINO_GEMM)
    work = loop_work(sch, gemm)
    pr, kr = knobs.tile or _gemm_tiles(sch, params)[0]
    e, p, k, rc = sch.get_loops(gemm)
    po, pi = sch.split(p, [None, pr])
    ko, kj, kl = sch.split(k, [None, kr, params.lanes])
    sch.reorder(e, ko, po, rc, pi, kj, kl)
    write_back = sch.cache_write(gemm, 0, SCRATCH)
    sch.reverse_compute_at(write_back, po)
    vectorize_innermost(sch, write_back, params.lanes)
    sch.unroll(pi)
    sch.unroll(kj)
    sch.vectorize(kl)
    parallel(sch, [e, ko, po], work, params.cores)
    sch.decompose_reduction(gemm, rc)


def _schedule_output(sch: Schedule, params: CpuParams) -> None:
    """Each 2x2 block of outputs from its tile's 16 products, with the fused epilogue."""
    out = find(sch, WINO_OUT)
    inline_epilogue(sch, out)
    b, y, x, k = sch.get_loops(out)
    ty, yi = sch.split(y, [None, M])
    tx, xi = sch.split(x, [None, M])
    width = vector_width(extent(sch, k), params.lanes)
    ko, ki = sch.split(k, [None, width])
    sch.reorder(b, ty, tx, ko, yi, xi, ki)
    sch.unroll(yi)
    sch.unroll(xi)
    if width > 1:
        sch.vectorize(ki)
    parallel(sch, [b, ty], loop_work(sch, out), params.cores)


def schedule_winograd(sch: Schedule, params: CpuParams, knobs: Knobs = DEFAULT) -> None:
    _schedule_data(sch, params)
    _schedule_gemm(sch, params, knobs)
    _schedule_output(sch, params)
