"""Integer (int8) tensor-expression kernels in the layouts the int8 schedules want.

The integer dot-product instructions add groups of 4 products of 8-bit data and signed 8-bit
weights into int32 lanes; x86 ``vpdpbusd`` takes *unsigned* data, Arm ``sdot`` *signed*. So:

- the activation copy (``qconv_pad``) that pads H and W with the input zero point also shifts
  the data into the intrinsic's type (``data_offset``: int8 +128 into uint8 for ``vpdpbusd`` and
  the fallback, uint8 -128 into int8 for ``sdot``) and pads each group's input channels to a
  multiple of 4;
- weights are packed as [G, OCgp/16, KH, KW, ICg4/4, 16, 4] (16 int32 lanes of 4 int8 each);
- the output stage subtracts ``offset * sum(w[o])`` again, so the kernel returns exactly the
  int32 convolution of the original int8 tensors (all integer, no rounding anywhere).

A convolution on one or two input channels (a grayscale or spectrogram stem) folds its kernel
columns into the channels, so that the 4 products of a dot product are not mostly padding.
Dense is a 1x1 convolution over a [1, 1, M, K] image. Depthwise convolutions have no channel
reduction to feed the dot product: they are the float depthwise kernel with int32 multiply-adds.
"""

from __future__ import annotations

import numpy as np
from tvm import te, tirx

from .kernels import PAD, out_size

QCONV = "qconv2d_nhwc"          # [N, OH, OW, G, OCgp] int32
QCONV_OUT = "qconv2d_nhwc_out"  # [N, OH, OW, OC] int32
QDEPTHWISE = "qdepthwise_nhwc"  # [N, OH, OW, C] int32
LANES, GROUP = 16, 4            # int32 lanes of one vpdpbusd, int8 products summed per lane
SHIFT = 128                     # int8 <-> uint8


def _ceil(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def pack_qconv_weight(weight: np.ndarray, groups: int) -> np.ndarray:
    """int8 OIHW -> [G, OCgp/16, KH, KW, ICg4/4, 16, 4], zero-padded output and input channels."""
    oc, icg, kh, kw = weight.shape
    ocg = oc // groups
    ocgp, icg4 = _ceil(ocg, LANES), _ceil(icg, GROUP)
    w = weight.reshape(groups, ocg, icg, kh, kw)
    w = np.pad(w, [(0, 0), (0, ocgp - ocg), (0, icg4 - icg), (0, 0), (0, 0)])
    w = w.reshape(groups, ocgp // LANES, LANES, icg4 // GROUP, GROUP, kh, kw).transpose(0, 1, 5, 6, 3, 2, 4)
    return np.ascontiguousarray(w.astype(np.int8))


def folded_width(weight: np.ndarray, groups: int) -> int:
    """The kernel width to fold into the input channels (1: none). One or two input channels
    fill only a quarter or half of each 4-byte dot product; folding the kernel's columns into
    the channels (im2col along the width) fills it: a 3x3 conv on one channel then takes 3 dot
    products per output instead of 9."""
    _, icg, _, kw = weight.shape
    return kw if groups == 1 and kw > 1 and _ceil(kw * icg, GROUP) < kw * _ceil(icg, GROUP) else 1


def fold_width(weight: np.ndarray) -> np.ndarray:
    """OIHW -> [O, KW * I, KH, 1], input channel rx * I + i: the weight of the folded conv."""
    o, i, kh, kw = weight.shape
    return np.ascontiguousarray(weight.transpose(0, 3, 1, 2).reshape(o, kw * i, kh, 1))


def data_offset(data_dtype: str, signed: bool) -> int:
    """What the kernel adds to ``data_dtype`` values to give the dot product's data type: int8
    if ``signed`` (Arm ``sdot``), else uint8."""
    if signed:
        return -SHIFT if data_dtype == "uint8" else 0
    return SHIFT if data_dtype == "int8" else 0


def shift_correction(weight: np.ndarray, data_dtype: str, signed: bool = False) -> np.ndarray:
    """What shifting the data by ``data_offset`` adds to each output channel: offset * sum(w[o])."""
    offset = data_offset(data_dtype, signed)
    return (offset * weight.reshape(weight.shape[0], -1).astype(np.int64).sum(axis=1)).astype(np.int32)


def _shifted_input(data: te.Tensor, groups: int, icg: int, pads, pad_value: int, min_width: int,
                   signed: bool) -> te.Tensor:
    """u/int8 [N, H + pads, W + pads, G * ICg4]: padded with ``pad_value``, shifted by
    ``data_offset``, channels of each group padded to a multiple of 4 (with anything: their
    weights are 0), and at least ``min_width`` columns wide."""
    top, left, bottom, right = pads
    n, h, w, _ = (int(d) for d in data.shape)
    right = max(right, min_width - (w + left))
    icg4 = _ceil(icg, GROUP)
    offset, dtype = data_offset(data.dtype, signed), "int8" if signed else "uint8"
    fill = tirx.const(pad_value + offset, "int32")

    def value(b, y, x, c):
        g, k = c // icg4, c % icg4
        inside = te.all(y >= top, y < h + top, x >= left, x < w + left, k < icg)
        v = data[b, te.min(te.max(y - top, 0), h - 1), te.min(te.max(x - left, 0), w - 1),
                 g * icg + te.min(k, icg - 1)].astype("int32") + offset
        return te.if_then_else(inside, v, fill).astype(dtype)

    return te.compute((n, h + top + bottom, w + left + right, groups * icg4), value, name=PAD)


def _folded_input(data: te.Tensor, kw: int, sw: int, dw: int, pads, pad_value: int, width: int,
                  channels: int, signed: bool) -> te.Tensor:
    """u/int8 [N, H + pads, width, channels]: column ``xo`` holds, as channel rx * C + c, the
    (shifted, padded) input that output column ``xo`` reads at kernel column ``rx``; channels
    past KW * C are padding (their weights are 0)."""
    top, left, bottom, _ = pads
    n, h, w, c = (int(d) for d in data.shape)
    offset, dtype = data_offset(data.dtype, signed), "int8" if signed else "uint8"
    fill = tirx.const(pad_value + offset, "int32")

    def value(b, y, xo, k):
        col = xo * sw + (k // c) * dw - left
        inside = te.all(y >= top, y < h + top, col >= 0, col < w, k < kw * c)
        v = data[b, te.min(te.max(y - top, 0), h - 1), te.min(te.max(col, 0), w - 1), k % c].astype("int32") + offset
        return te.if_then_else(inside, v, fill).astype(dtype)

    return te.compute((n, h + top + bottom, width, channels), value, name=PAD)


def qconv2d_nhwc(data: te.Tensor, packed: te.Tensor, correction: te.Tensor, out_channels: int, strides, pads,
                 dilation, pad_value: int = 0, width_tile: int = 1, folded: int = 1,
                 signed: bool = False) -> te.Tensor:
    """int32 NHWC convolution of int8/uint8 ``data`` by a packed int8 weight. The accumulators
    are computed for the output width rounded up to ``width_tile`` (the schedule's register tile):
    tensorized tiles cannot have a tail, so the tail tile computes a few unused columns.
    ``folded``: the kernel width folded into the channels (``folded_width``; ``packed`` is then
    the packed ``fold_width`` weight). ``signed``: the data goes to the dot product as int8."""
    n, h, w, c = (int(d) for d in data.shape)
    groups, blocks, kh, kw, icg4q, lanes, group = (int(d) for d in packed.shape)
    ocg, icg = out_channels // groups, c // groups
    (sh, sw), (dh, dw) = strides, dilation
    oh = out_size(h, kh, sh, dh, pads[0], pads[2])
    ow = out_size(w, folded if folded > 1 else kw, sw, dw, pads[1], pads[3])
    owp = _ceil(ow, width_tile)
    if folded > 1:  # the columns are in the channels: the conv steps one column per output
        x, sw, dw = _folded_input(data, folded, sw, dw, pads, pad_value, owp, icg4q * group, signed), 1, 1
    else:
        x = _shifted_input(data, groups, icg, pads, pad_value, (owp - 1) * sw + (kw - 1) * dw + 1, signed)
    ry, rx = te.reduce_axis((0, kh), "ry"), te.reduce_axis((0, kw), "rx")
    rco, rci = te.reduce_axis((0, icg4q), "rco"), te.reduce_axis((0, group), "rci")
    stride = icg4q * group
    acc = te.compute(
        (n, oh, owp, groups, blocks * lanes),
        lambda b, y, xo, g, o: te.sum(
            x[b, y * sh + ry * dh, xo * sw + rx * dw, g * stride + rco * group + rci].astype("int32")
            * packed[g, o // lanes, ry, rx, rco, o % lanes, rci].astype("int32"),
            axis=[ry, rx, rco, rci]),
        name=QCONV)
    return te.compute((n, oh, ow, out_channels),
                      lambda b, y, xo, o: acc[b, y, xo, o // ocg, o % ocg] - correction[o], name=QCONV_OUT)


def qdense(data: te.Tensor, packed: te.Tensor, correction: te.Tensor, out_features: int,
           signed: bool = False) -> te.Tensor:
    """[M, K] int8 x packed [1, N/16, 1, 1, K4/4, 16, 4] -> [M, N] int32, as a 1x1 convolution."""
    m, k = (int(d) for d in data.shape)
    image = te.compute((1, 1, m, k), lambda a, b, i, j: data[i, j], name="qdense_image")
    y = qconv2d_nhwc(image, packed, correction, out_features, (1, 1), (0, 0, 0, 0), (1, 1), signed=signed)
    return te.compute((m, out_features), lambda i, j: y[0, 0, i, j], name="qdense_out")


def qdepthwise_nhwc(data: te.Tensor, packed: te.Tensor, strides, pads, dilation, pad_value: int = 0) -> te.Tensor:
    """Depthwise int32 convolution (int8/uint8/int32 data, [KH, KW, C] weight), pad by ``pad_value``."""
    n, h, w, c = (int(d) for d in data.shape)
    kh, kw, _ = (int(d) for d in packed.shape)
    (sh, sw), (dh, dw) = strides, dilation
    oh = out_size(h, kh, sh, dh, pads[0], pads[2])
    ow = out_size(w, kw, sw, dw, pads[1], pads[3])
    top, left, bottom, right = pads
    x = data
    if any(pads):
        def value(b, y, xx, k):
            inside = te.all(y >= top, y < h + top, xx >= left, xx < w + left)
            v = data[b, te.min(te.max(y - top, 0), h - 1), te.min(te.max(xx - left, 0), w - 1), k]
            return te.if_then_else(inside, v, tirx.const(pad_value, data.dtype))
        x = te.compute((n, h + top + bottom, w + left + right, c), value, name=PAD)
    ry, rx = te.reduce_axis((0, kh), "ry"), te.reduce_axis((0, kw), "rx")
    return te.compute(
        (n, oh, ow, c),
        lambda b, y, xo, k: te.sum(x[b, y * sh + ry * dh, xo * sw + rx * dw, k].astype("int32")
                                   * packed[ry, rx, k].astype("int32"), axis=[ry, rx]),
        name=QDEPTHWISE)
