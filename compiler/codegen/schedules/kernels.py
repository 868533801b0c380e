"""Tensor-expression kernels in the layouts the schedules want: NHWC activations, weights
pre-packed at compile time so the innermost (vectorized) loop reads contiguous memory.

Block names here are what ``schedules`` keys on to pick a schedule; keep them in sync.
"""

from __future__ import annotations

import numpy as np
from tvm import te

CONV = "conv2d_nhwc"            # [N, OH, OW, G, OCgp]: the reduction, group and padded channels explicit
CONV_OUT = "conv2d_nhwc_out"    # [N, OH, OW, OC]: drops the padding channels, merges the groups
DEPTHWISE = "depthwise_nhwc"    # [N, OH, OW, C]
DENSE = "dense_packed"          # [..., Np]: output features padded to the block
DENSE_OUT = "dense_out"         # [..., N]
PAD = "conv_pad"


def out_size(size: int, kernel: int, stride: int, dilation: int, before: int, after: int) -> int:
    return (size + before + after - dilation * (kernel - 1) - 1) // stride + 1


def pad_nhwc(data: te.Tensor, pads: tuple[int, int, int, int]) -> te.Tensor:
    """Zero padding of H and W; pads are (top, left, bottom, right)."""
    top, left, bottom, right = pads
    if not any(pads):
        return data
    n, h, w, c = data.shape
    shape = (n, h + top + bottom, w + left + right, c)

    def value(i, y, x, k):
        inside = te.all(y >= top, y < h + top, x >= left, x < w + left)
        return te.if_then_else(inside, data[i, y - top, x - left, k], te.const(0.0, data.dtype))

    return te.compute(shape, value, name=PAD)


# -- regular and grouped convolution ---------------------------------------------------------
def pack_conv_weight(weight: np.ndarray, groups: int, block: int, vectors: int | None = None) -> np.ndarray:
    """OIHW -> [G, OCgp/block, KH, KW, ICg, block], output channels zero-padded per group to a
    multiple of ``block`` (to ``vectors`` blocks, if given)."""
    oc, icg, kh, kw = weight.shape
    ocg = oc // groups
    ocgp = max(-(-ocg // block), vectors or 0) * block
    w = weight.reshape(groups, ocg, icg, kh, kw)
    w = np.pad(w, [(0, 0), (0, ocgp - ocg), (0, 0), (0, 0), (0, 0)])
    w = w.reshape(groups, ocgp // block, block, icg, kh, kw).transpose(0, 1, 4, 5, 3, 2)
    return np.ascontiguousarray(w)


def conv2d_nhwc(data: te.Tensor, packed: te.Tensor, out_channels: int, strides, pads, dilation) -> te.Tensor:
    """NHWC convolution with a packed weight (see ``pack_conv_weight``); groups come from its shape."""
    n, h, w, c = (int(d) for d in data.shape)
    groups, blocks, kh, kw, icg, block = (int(d) for d in packed.shape)
    ocg = out_channels // groups
    (sh, sw), (dh, dw) = strides, dilation
    oh = out_size(h, kh, sh, dh, pads[0], pads[2])
    ow = out_size(w, kw, sw, dw, pads[1], pads[3])
    x = pad_nhwc(data, pads)
    ry, rx, rc = te.reduce_axis((0, kh), "ry"), te.reduce_axis((0, kw), "rx"), te.reduce_axis((0, icg), "rc")
    acc = te.compute(
        (n, oh, ow, groups, blocks * block),
        lambda b, y, xo, g, o: te.sum(
            x[b, y * sh + ry * dh, xo * sw + rx * dw, g * icg + rc] * packed[g, o // block, ry, rx, rc, o % block],
            axis=[ry, rx, rc]),
        name=CONV)
    return te.compute((n, oh, ow, out_channels), lambda b, y, xo, o: acc[b, y, xo, o // ocg, o % ocg], name=CONV_OUT)


# -- depthwise convolution -------------------------------------------------------------------
def pack_depthwise_weight(weight: np.ndarray) -> np.ndarray:
    """[C, 1, KH, KW] -> [KH, KW, C]."""
    return np.ascontiguousarray(weight[:, 0].transpose(1, 2, 0))


def depthwise_nhwc(data: te.Tensor, packed: te.Tensor, strides, pads, dilation) -> te.Tensor:
    n, h, w, c = (int(d) for d in data.shape)
    kh, kw, _ = (int(d) for d in packed.shape)
    (sh, sw), (dh, dw) = strides, dilation
    oh = out_size(h, kh, sh, dh, pads[0], pads[2])
    ow = out_size(w, kw, sw, dw, pads[1], pads[3])
    x = pad_nhwc(data, pads)
    ry, rx = te.reduce_axis((0, kh), "ry"), te.reduce_axis((0, kw), "rx")
    return te.compute(
        (n, oh, ow, c),
        lambda b, y, xo, k: te.sum(x[b, y * sh + ry * dh, xo * sw + rx * dw, k] * packed[ry, rx, k], axis=[ry, rx]),
        name=DEPTHWISE)


# -- dense -----------------------------------------------------------------------------------
def pack_dense_weight(weight_kn: np.ndarray, block: int) -> np.ndarray:
    """[K, N] -> [Np/block, K, block], N zero-padded to a multiple of ``block``."""
    k, n = weight_kn.shape
    npad = -(-n // block) * block
    w = np.pad(weight_kn, [(0, 0), (0, npad - n)])
    return np.ascontiguousarray(w.reshape(k, npad // block, block).transpose(1, 0, 2))


def dense_packed(data: te.Tensor, packed: te.Tensor, out_features: int) -> te.Tensor:
    """[..., K] x packed [Np/block, K, block] -> [..., N]."""
    *batch, k = (int(d) for d in data.shape)
    blocks, _, block = (int(d) for d in packed.shape)
    rk = te.reduce_axis((0, k), "rk")

    def value(*idx):
        *b, j = idx
        return te.sum(data[(*b, rk)] * packed[j // block, rk, j % block], axis=rk)

    acc = te.compute((*batch, blocks * block), value, name=DENSE)
    return te.compute((*batch, out_features), lambda *idx: acc[idx], name=DENSE_OUT)
