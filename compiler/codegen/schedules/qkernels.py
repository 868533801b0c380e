"""Integer (int8) tensor-expression kernels in the layouts the int8 schedules want.

The integer dot-product instructions (x86 ``vpdpbusd``, AVX-512 VNNI) multiply *unsigned* 8-bit
activations by *signed* 8-bit weights and add groups of 4 products into int32 lanes. So:

- the activation copy (``qconv_pad``) that pads H and W with the input zero point also shifts
  int8 values by +128 into uint8 and pads each group's input channels to a multiple of 4;
- weights are packed as [G, OCgp/16, KH, KW, ICg4/4, 16, 4] (16 int32 lanes of 4 int8 each);
- the output stage subtracts ``128 * sum(w[o])`` again, so the kernel returns exactly the
  int32 convolution of the original int8 tensors (all integer, no rounding anywhere).

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
SHIFT = 128                     # int8 -> uint8


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


def shift_correction(weight: np.ndarray, data_dtype: str) -> np.ndarray:
    """What the +128 shift of int8 data adds to each output channel: 128 * sum(w[o])."""
    if data_dtype != "int8":
        return np.zeros(weight.shape[0], np.int32)
    return (SHIFT * weight.reshape(weight.shape[0], -1).astype(np.int64).sum(axis=1)).astype(np.int32)


def _shifted_input(data: te.Tensor, groups: int, icg: int, pads, pad_value: int, min_width: int) -> te.Tensor:
    """uint8 [N, H + pads, W + pads, G * ICg4]: padded with ``pad_value``, int8 shifted by +128,
    channels of each group padded to a multiple of 4 (with anything: their weights are 0), and
    at least ``min_width`` columns wide."""
    top, left, bottom, right = pads
    n, h, w, _ = (int(d) for d in data.shape)
    right = max(right, min_width - (w + left))
    icg4 = _ceil(icg, GROUP)
    offset = SHIFT if data.dtype == "int8" else 0
    fill = tirx.const(pad_value + offset, "int32")

    def value(b, y, x, c):
        g, k = c // icg4, c % icg4
        inside = te.all(y >= top, y < h + top, x >= left, x < w + left, k < icg)
        v = data[b, te.min(te.max(y - top, 0), h - 1), te.min(te.max(x - left, 0), w - 1),
                 g * icg + te.min(k, icg - 1)].astype("int32") + offset
        return te.if_then_else(inside, v, fill).astype("uint8")

    return te.compute((n, h + top + bottom, w + left + right, groups * icg4), value, name=PAD)


def qconv2d_nhwc(data: te.Tensor, packed: te.Tensor, correction: te.Tensor, out_channels: int, strides, pads,
                 dilation, pad_value: int = 0, width_tile: int = 1) -> te.Tensor:
    """int32 NHWC convolution of int8/uint8 ``data`` by a packed int8 weight. The accumulators
    are computed for the output width rounded up to ``width_tile`` (the schedule's register tile):
    tensorized tiles cannot have a tail, so the tail tile computes a few unused columns."""
    n, h, w, c = (int(d) for d in data.shape)
    groups, blocks, kh, kw, icg4q, lanes, group = (int(d) for d in packed.shape)
    ocg, icg = out_channels // groups, c // groups
    (sh, sw), (dh, dw) = strides, dilation
    oh = out_size(h, kh, sh, dh, pads[0], pads[2])
    ow = out_size(w, kw, sw, dw, pads[1], pads[3])
    owp = _ceil(ow, width_tile)
    x = _shifted_input(data, groups, icg, pads, pad_value, (owp - 1) * sw + (kw - 1) * dw + 1)
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


def qdense(data: te.Tensor, packed: te.Tensor, correction: te.Tensor, out_features: int) -> te.Tensor:
    """[M, K] int8 x packed [1, N/16, 1, 1, K4/4, 16, 4] -> [M, N] int32, as a 1x1 convolution."""
    m, k = (int(d) for d in data.shape)
    image = te.compute((1, 1, m, k), lambda a, b, i, j: data[i, j], name="qdense_image")
    y = qconv2d_nhwc(image, packed, correction, out_features, (1, 1), (0, 0, 0, 0), (1, 1))
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
