"""Lowering of the quantized ops to integer Relax compute.

Everything follows ``compiler/ir/ops/fixed_point.py`` exactly: int32 accumulation, then the
round-half-away-from-zero requantize (in int64, or in int32 where ``high_word_shifts`` or
``split_sum_fits`` proves that equal), zero point, clamp and narrowing, so TVM's
kernels give the same integers as the numpy reference. Per-channel constants (multipliers,
shifts, rounding halves, zero-point corrections) are computed here with numpy.
"""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax import op as R

from ...ir.ops.fixed_point import dtype_range, high_word_shifts, split_sum_fits
from ...ir.ops.nn import spatial_attrs
from ...ir.ops.pooling import avg_pool_divisor, pool_window
from ...ir.ops.quantized import clamp_range
from ...ir.types import TensorType
from .nn import _CONV, spatial_rank
from .registry import LowerContext, lowering


def const(value, dtype: str) -> relax.Constant:
    return relax.const(np.asarray(value, dtype=dtype), dtype)


def rounding_shift(ctx: LowerContext, p: relax.Expr, shift: np.ndarray) -> relax.Expr:
    """round_half_away_from_zero(p / 2^shift) on int64 ``p``; ``shift`` broadcasts against it."""
    shift = np.asarray(shift, dtype=np.int64)
    half = np.left_shift(np.int64(1), shift - 1)
    magnitude = ctx.emit(R.right_shift(R.add(R.abs(p), const(half, "int64")), const(shift, "int64")))
    return ctx.emit(R.where(R.less(p, const(0, "int64")), R.negative(magnitude), magnitude))


def requantize(ctx: LowerContext, acc: relax.Expr, mult: np.ndarray, shift: np.ndarray) -> relax.Expr:
    """round_half_away_from_zero(acc * mult / 2^shift), acc of any integer dtype, result int64."""
    p = ctx.emit(R.multiply(R.astype(acc, "int64"), const(mult, "int64")))
    return rounding_shift(ctx, p, shift)


def finish(ctx: LowerContext, y: relax.Expr, attrs: dict, dtype: str = "int64") -> relax.Expr:
    """+ out_zp, clamp (dtype range and fused activation), narrow to the output dtype."""
    lo, hi = clamp_range(attrs)
    y = ctx.emit(R.add(y, const(attrs["out_zp"], dtype)))
    y = ctx.emit(R.minimum(R.maximum(y, const(lo, dtype)), const(hi, dtype)))
    return R.astype(y, attrs["out_dtype"])


def requantize_accumulator(ctx: LowerContext, acc: relax.Expr, offset: np.ndarray | None, bound: np.ndarray,
                           mult: np.ndarray, shift: np.ndarray, attrs: dict) -> relax.Expr:
    """finish(requantize(acc + offset)), ``bound`` >= |acc| + |offset| per channel; ``acc`` is
    int32 (int64 only where the bound exceeds int32). Where ``high_word_shifts`` proves 32 bits
    enough, in 32-bit lanes with a multiply-high: twice the lanes per vector of the int64 form,
    and no 64-bit multiply on a Cortex-M; else in int64."""
    shifts = high_word_shifts(bound, mult, shift)
    if shifts is None:
        p = acc if offset is None else ctx.emit(R.add(R.astype(acc, "int64"), const(offset, "int64")))
        return finish(ctx, requantize(ctx, p, mult, shift), attrs)
    pre, post = shifts
    p = acc if offset is None else ctx.emit(R.add(acc, const(offset, "int32")))
    a = ctx.emit(R.abs(p))
    if np.any(pre):
        a = ctx.emit(R.left_shift(a, const(pre, "int32")))
    # unsigned 32 x 32 -> 64 bits, both widened in the kernel: one pmuludq on x86, umull on Arm
    product = R.multiply(R.astype(R.astype(a, "uint32"), "uint64"), const(mult, "uint64"))
    high = ctx.emit(R.astype(R.right_shift(product, const(32, "uint64")), "int32"))
    magnitude = ctx.emit(R.right_shift(R.add(high, const(np.left_shift(1, post - 1), "int32")), const(post, "int32")))
    y = ctx.emit(R.where(R.less(p, const(0, "int32")), R.negative(magnitude), magnitude))
    return finish(ctx, y, attrs, "int32")


def accumulator_bound(x_dtype: str, w: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """max |sum(x * w[m])| + |offset[m]| per output channel m, over every ``x_dtype`` input: when
    below 2^31, neither the int32 accumulator nor the int32 sum with the offset can overflow."""
    lo, hi = dtype_range(x_dtype)
    weight_sums = np.abs(w.reshape(w.shape[0], -1).astype(np.int64)).sum(axis=1)
    return max(-lo, hi) * weight_sums + np.abs(offset.reshape(-1).astype(np.int64))


def channel_params(ctx: LowerContext, node, rank: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The node's mult and shift constants, shaped to broadcast along ``axis`` of a rank-``rank`` tensor."""
    shape = [1] * rank
    shape[axis] = -1
    mult, shift = (ctx.constant(name) for name in node.inputs[-2:])
    if mult is None or shift is None:
        raise ValueError("mult and shift must be constants")
    return mult.astype(np.int64).reshape(shape), shift.astype(np.int64).reshape(shape)


# -- quantize / dequantize / requantize -----------------------------------------------------
@lowering("quantize")
def quantize(ctx, node, args, attrs):
    dtype = ctx.type(node.inputs[0]).dtype
    lo, hi = clamp_range(attrs)
    q = ctx.emit(R.round(R.divide(args[0], const(attrs["out_scale"], dtype))))  # ties to even
    q = ctx.emit(R.add(q, const(attrs["out_zp"], dtype)))
    q = ctx.emit(R.minimum(R.maximum(q, const(lo, dtype)), const(hi, dtype)))
    return R.astype(q, attrs["out_dtype"])


@lowering("dequantize")
def dequantize(ctx, node, args, attrs):
    centered = ctx.emit(R.subtract(R.astype(args[0], "int32"), const(attrs["zero_point"], "int32")))
    return R.multiply(R.astype(centered, "float32"), const(attrs["scale"], "float32"))


@lowering("requantize")
def requantize_(ctx, node, args, attrs):
    bound = _centered_bound(ctx.type(node.inputs[0]).dtype, attrs["in_zp"])
    centered = _centered(ctx, args[0], attrs["in_zp"], "int32" if bound < 2**31 else "int64")
    return requantize_accumulator(ctx, centered, None, bound, np.int64(attrs["mult"]), np.int64(attrs["shift"]), attrs)


# -- layers ---------------------------------------------------------------------------------
def _zero_point_correction(w: np.ndarray, x_zp: int) -> np.ndarray:
    """x_zp * sum(w[m]) per output channel: conv(x, w) - this == conv(x - x_zp, w)."""
    return (x_zp * w.reshape(w.shape[0], -1).astype(np.int64).sum(axis=1)).astype(np.int32)


def _bias_minus_correction(ctx: LowerContext, node, x_zp: int) -> np.ndarray:
    w = ctx.constant(node.inputs[1])
    bias = ctx.constant(node.inputs[2]) if len(node.inputs) == 5 else np.zeros(w.shape[0], np.int32)
    if w is None or bias is None:
        raise ValueError("quantized weights and bias must be constants")
    return bias.astype(np.int64) - _zero_point_correction(w, x_zp)


@lowering("qconv")
def qconv(ctx, node, args, attrs):
    """Pad with the input zero point (padding means real zero), int8 conv into int32, subtract
    the zero-point correction folded into the bias, requantize per output channel."""
    x = ctx.type(node.inputs[0])
    nd = spatial_rank(ctx, node, _CONV)
    strides, pads, dilations = spatial_attrs(attrs, nd)
    data = args[0]
    if any(pads):
        width = [0, 0, 0, 0] + [p for i in range(nd) for p in (pads[i], pads[nd + i])]
        data = ctx.emit(R.nn.pad(data, width, pad_value=float(attrs["x_zp"])))
    if x.dtype not in ("int8", "uint8"):  # what the kernels take (u/int8 x int8 -> int32); widen anything else
        data = ctx.emit(R.astype(data, "int32"))
        weight = R.astype(args[1], "int32")
    else:
        weight = args[1]
    acc = ctx.emit(_CONV[nd](data, weight, strides=strides, padding=[0] * (2 * nd), dilation=dilations,
                             groups=attrs["groups"], out_dtype="int32"))
    offset = _bias_minus_correction(ctx, node, attrs["x_zp"])
    bound = accumulator_bound(x.dtype, ctx.constant(node.inputs[1]), offset)
    mult, shift = channel_params(ctx, node, x.rank, 1)
    return requantize_accumulator(ctx, acc, offset.reshape(mult.shape), bound.reshape(mult.shape), mult, shift, attrs)


@lowering("qdense")
def qdense(ctx, node, args, attrs):
    x = ctx.type(node.inputs[0])
    w = ctx.constant(node.inputs[1])
    narrow = x.dtype in ("int8", "uint8")
    weight_t = const(np.ascontiguousarray(w.T), "int8") if narrow else const(w.T, "int32")
    data = args[0] if narrow else ctx.emit(R.astype(args[0], "int32"))
    acc = ctx.emit(R.matmul(data, weight_t, out_dtype="int32"))
    offset = _bias_minus_correction(ctx, node, attrs["x_zp"])
    mult, shift = channel_params(ctx, node, x.rank, x.rank - 1)
    bound = accumulator_bound(x.dtype, w, offset)
    return requantize_accumulator(ctx, acc, offset.reshape(mult.shape), bound.reshape(mult.shape), mult, shift, attrs)


# -- elementwise ----------------------------------------------------------------------------
def _centered(ctx: LowerContext, arg: relax.Expr, zp: int, dtype: str = "int64") -> relax.Expr:
    return ctx.emit(R.subtract(R.astype(arg, dtype), const(zp, dtype)))


def _centered_bound(dtype: str, zp: int) -> int:
    """max |q - zp| over every ``dtype`` value q."""
    lo, hi = dtype_range(dtype)
    return max(abs(lo - zp), abs(hi - zp))


@lowering("qadd")
def qadd(ctx, node, args, attrs):
    """In int32 lanes with the multipliers split at bit 16 where ``split_sum_fits`` (int8 inputs,
    usual scales), else in int64: the same integers either way."""
    a_mult, b_mult, shift = attrs["a_mult"], attrs["b_mult"], attrs["shift"]
    bounds = [_centered_bound(ctx.type(name).dtype, attrs[zp]) for name, zp in zip(node.inputs, ("a_zp", "b_zp"))]
    if not split_sum_fits(*bounds, a_mult, b_mult, shift):
        a = ctx.emit(R.multiply(_centered(ctx, args[0], attrs["a_zp"]), const(a_mult, "int64")))
        b = ctx.emit(R.multiply(_centered(ctx, args[1], attrs["b_zp"]), const(b_mult, "int64")))
        return finish(ctx, rounding_shift(ctx, ctx.emit(R.add(a, b)), np.int64(shift)), attrs)
    a, b = _centered(ctx, args[0], attrs["a_zp"], "int32"), _centered(ctx, args[1], attrs["b_zp"], "int32")

    def weighted(high: bool) -> relax.Expr:
        part = (lambda m: m >> 16) if high else (lambda m: m & 0xFFFF)
        return ctx.emit(R.add(R.multiply(a, const(part(a_mult), "int32")), R.multiply(b, const(part(b_mult), "int32"))))

    high, low = weighted(True), weighted(False)
    sixteen = const(16, "int32")
    negative = ctx.emit(R.astype(R.less(R.add(high, R.right_shift(low, sixteen)), const(0, "int32")), "int32"))
    total = ctx.emit(R.add(R.add(high, const(1 << (shift - 17), "int32")), R.right_shift(R.subtract(low, negative), sixteen)))
    return finish(ctx, ctx.emit(R.right_shift(total, const(shift - 16, "int32"))), attrs, "int32")


@lowering("qmul")
def qmul(ctx, node, args, attrs):
    a, b = (ctx.type(name).dtype for name in node.inputs[:2])
    bound = _centered_bound(a, attrs["a_zp"]) * _centered_bound(b, attrs["b_zp"])
    dtype = "int32" if bound < 2**31 else "int64"  # int64 for int32 inputs
    product = ctx.emit(R.multiply(_centered(ctx, args[0], attrs["a_zp"], dtype),
                                  _centered(ctx, args[1], attrs["b_zp"], dtype)))
    return requantize_accumulator(ctx, product, None, bound, np.int64(attrs["mult"]), np.int64(attrs["shift"]), attrs)


@lowering("lut")
def lut(ctx, node, args, attrs):
    offset = -dtype_range(ctx.type(node.inputs[0]).dtype)[0]
    index = ctx.emit(R.add(R.astype(args[0], "int32"), const(offset, "int32")))
    return R.take(args[1], index, axis=0)


# -- pooling --------------------------------------------------------------------------------
@lowering("qavg_pool")
def qavg_pool(ctx, node, args, attrs):
    """Window sums of (q - zp) by a depthwise int32 conv with a kernel of ones (exact), then a
    rounded division by each window's element count, in int32 where the sums fit, by a constant
    where every window has the same count. (The digits CNN's global pool, int64 and divided by
    a tensor: 0.18 us; now 0.04 us, since x86 has no vector division.)"""
    x = ctx.type(node.inputs[0])
    nd = spatial_rank(ctx, node, _CONV)
    w = pool_window(TensorType(x.shape, "float32"), attrs)
    centered = _centered(ctx, args[0], attrs["out_zp"], "int32")
    channels = x.shape[1]
    ones = const(np.ones((channels, 1, *w.kernel)), "int32")
    total = ctx.emit(_CONV[nd](centered, ones, strides=w.strides, padding=w.pads[:nd] + w.end_pads(x.shape[2:]),
                               dilation=w.dilations, groups=channels, out_dtype="int32"))
    divisor = avg_pool_divisor(x.shape[2:], w, bool(attrs["count_include_pad"])).astype(np.int64)
    bound = int(np.prod(w.kernel)) * _centered_bound(x.dtype, attrs["out_zp"]) + int(divisor.max()) // 2
    dtype = "int32" if bound < 2**31 else "int64"
    if dtype == "int64":
        total = ctx.emit(R.astype(total, "int64"))
    if np.all(divisor == divisor.flat[0]):  # a scalar: LLVM divides by a constant with a multiply and shifts
        divisor = divisor.flat[0]
    magnitude = ctx.emit(R.floor_divide(R.add(R.abs(total), const(divisor // 2, dtype)), const(divisor, dtype)))
    y = ctx.emit(R.where(R.less(total, const(0, dtype)), R.negative(magnitude), magnitude))
    return finish(ctx, y, attrs, dtype)
