"""Quantized ops: integer kernels on int8/uint8 tensors with affine scales.

A quantized value ``q`` stands for ``scale * (q - zero_point)``; its type carries the scale
and zero point (``TensorType.quant``). Layers compute in integers only:

    acc = sum((x - x_zp) * w) + bias                      int32 accumulation, w symmetric (zp 0)
    y   = clamp(requantize(acc, mult[c], shift[c]) + out_zp, act_min, act_max)

where ``requantize`` is the single round-half-away-from-zero fixed-point multiply of
``fixed_point.py`` and ``act_min``/``act_max`` also carry a fused ReLU/ReLU6. Per-channel
multipliers and shifts are int32 constant inputs; scalar parameters are attributes.
``out_scale`` only documents the output's real scale (it is in the output type).
"""

from __future__ import annotations

import numpy as np

from ..types import QuantParams, TensorType
from .fixed_point import dtype_range, requantize, rounded_divide, rounding_shift, saturate
from .nn import _conv_infer, _dense_infer, conv_reference, spatial_attrs
from .pooling import _WINDOW_ATTRS, _pad_for, _windows, avg_pool_divisor, pool_window
from .registry import REQUIRED, InferError, broadcast_shapes, define

QDTYPES = ("int8", "uint8")
_OUT = {"out_scale": REQUIRED, "out_zp": 0, "out_dtype": "int8", "act_min": None, "act_max": None}


def out_type(shape: tuple[int, ...], attrs: dict) -> TensorType:
    if attrs["out_dtype"] not in QDTYPES:
        raise InferError(f"quantized output dtype must be int8 or uint8, got {attrs['out_dtype']}")
    lo, hi = dtype_range(attrs["out_dtype"])
    if not lo <= attrs["out_zp"] <= hi:
        raise InferError(f"out_zp {attrs['out_zp']} is outside {attrs['out_dtype']}")
    if not attrs["out_scale"] > 0:
        raise InferError(f"out_scale must be > 0, got {attrs['out_scale']}")
    return TensorType(shape, attrs["out_dtype"], QuantParams((float(attrs["out_scale"]),), (int(attrs["out_zp"]),)))


def clamp_range(attrs: dict) -> tuple[int, int]:
    """The output clamp: the dtype's range narrowed by a fused activation's act_min/act_max."""
    lo, hi = dtype_range(attrs["out_dtype"])
    return (lo if attrs["act_min"] is None else max(lo, attrs["act_min"]),
            hi if attrs["act_max"] is None else min(hi, attrs["act_max"]))


def finish(values: np.ndarray, attrs: dict) -> np.ndarray:
    """Add the output zero point, clamp, narrow to the output dtype."""
    lo, hi = clamp_range(attrs)
    return saturate(values + attrs["out_zp"], lo, hi, attrs["out_dtype"])


def _check_quantized(t: TensorType, zp: int | None, what: str) -> None:
    if t.dtype not in QDTYPES:
        raise InferError(f"{what} must be int8 or uint8, got {t.dtype}")
    if zp is not None and t.quant is not None and t.quant.zero_point[0] != zp:
        raise InferError(f"{what} has zero point {t.quant.zero_point[0]} but the op uses {zp}")


def _check_channel_params(types, n: int, first: int) -> None:
    for t, what in zip(types[first:first + 2], ("mult", "shift")):
        if t.dtype != "int32" or t.shape not in ((n,), (1,)):
            raise InferError(f"{what} must be int32 of shape [{n}] or [1], got {t}")


# -- quantize / dequantize / requantize -----------------------------------------------------
def _quantize_ref(xs, a):
    x = xs[0].astype(np.float32)
    q = np.rint(x / np.float32(a["out_scale"])).astype(np.float64)  # ties to even, like ONNX
    return [finish(np.clip(q, -2.0 ** 31, 2.0 ** 31 - 1).astype(np.int64), a)]


def _quantize_infer(types, attrs):
    if not types[0].dtype.startswith("float"):
        raise InferError(f"quantize needs a float input, got {types[0].dtype}")
    return [out_type(types[0].shape, attrs)]


define("quantize", infer=_quantize_infer, reference=_quantize_ref, attrs=dict(_OUT),
       doc="q = clamp(round_half_even(x / out_scale) + out_zp) (ONNX QuantizeLinear, per tensor)")


def _dequantize_infer(types, attrs):
    _check_quantized(types[0], attrs["zero_point"], "dequantize input")
    return [TensorType(types[0].shape, "float32")]


define("dequantize", infer=_dequantize_infer,
       reference=lambda xs, a: [(xs[0].astype(np.int32) - a["zero_point"]).astype(np.float32)
                                * np.float32(a["scale"])],
       attrs={"scale": REQUIRED, "zero_point": 0}, doc="x = (q - zero_point) * scale in float32 (ONNX DequantizeLinear)")


def _requantize_infer(types, attrs):
    _check_quantized(types[0], attrs["in_zp"], "requantize input")
    return [out_type(types[0].shape, attrs)]


define("requantize", infer=_requantize_infer,
       reference=lambda xs, a: [finish(requantize(xs[0].astype(np.int64) - a["in_zp"], a["mult"], a["shift"]), a)],
       attrs={"in_zp": 0, "mult": REQUIRED, "shift": REQUIRED, **_OUT},
       doc="change scale/zero point: y = requantize(q - in_zp, mult, shift) + out_zp")


# -- layers ---------------------------------------------------------------------------------
def _bias_and_params(types, n: int) -> None:
    if len(types) == 5 and (types[2].dtype != "int32" or types[2].shape != (n,)):
        raise InferError(f"bias must be int32 of shape [{n}], got {types[2]}")
    _check_channel_params(types, n, len(types) - 2)


def _qconv_infer(types, attrs):
    x, w = types[0], types[1]
    _check_quantized(x, attrs["x_zp"], "qconv input")
    if w.dtype != "int8":
        raise InferError(f"qconv weight must be int8 (symmetric), got {w.dtype}")
    float_types = [TensorType(x.shape, "float32"), TensorType(w.shape, "float32")]
    (y,) = _conv_infer(float_types, attrs)
    _bias_and_params(types, w.shape[0])
    return [out_type(y.shape, attrs)]


def _qconv_ref(xs, a):
    x, w = xs[0], xs[1]
    bias, mult, shift = (xs[2], xs[3], xs[4]) if len(xs) == 5 else (None, xs[2], xs[3])
    strides, pads, dilations = spatial_attrs(a, x.ndim - 2)
    acc = conv_reference(x.astype(np.int64) - a["x_zp"], w.astype(np.int64), bias, strides, pads, dilations,
                         a["groups"])
    per_channel = (1, -1) + (1,) * (x.ndim - 2)
    return [finish(requantize(acc, mult.reshape(per_channel), shift.reshape(per_channel)), a)]


define("qconv", infer=_qconv_infer, reference=_qconv_ref, inputs=(4, 5),
       attrs={"strides": (), "pads": (), "dilations": (), "groups": 1, "x_zp": 0, **_OUT},
       macs=lambda ins, outs, a: outs[0].size * int(np.prod(ins[1].shape[1:])),
       doc="int8 conv: inputs x, w (int8), [bias int32], mult, shift (int32 per output channel)")


def _qdense_infer(types, attrs):
    x, w = types[0], types[1]
    _check_quantized(x, attrs["x_zp"], "qdense input")
    if w.dtype != "int8":
        raise InferError(f"qdense weight must be int8 (symmetric), got {w.dtype}")
    (y,) = _dense_infer([TensorType(x.shape, "float32"), TensorType(w.shape, "float32")], attrs)
    _bias_and_params(types, w.shape[0])
    return [out_type(y.shape, attrs)]


def _qdense_ref(xs, a):
    x, w = xs[0], xs[1]
    bias, mult, shift = (xs[2], xs[3], xs[4]) if len(xs) == 5 else (None, xs[2], xs[3])
    acc = (x.astype(np.int64) - a["x_zp"]) @ w.astype(np.int64).T
    if bias is not None:
        acc = acc + bias
    return [finish(requantize(acc, mult, shift), a)]


define("qdense", infer=_qdense_infer, reference=_qdense_ref, inputs=(4, 5), attrs={"x_zp": 0, **_OUT},
       macs=lambda ins, outs, a: outs[0].size * ins[1].shape[1],
       doc="int8 dense: y = requantize((x - x_zp) @ w.T + bias); w [N, K] int8, per-channel mult/shift")


# -- elementwise ----------------------------------------------------------------------------
def _binary_infer(types, attrs):
    _check_quantized(types[0], attrs["a_zp"], "first input")
    _check_quantized(types[1], attrs["b_zp"], "second input")
    return [out_type(broadcast_shapes(types[0].shape, types[1].shape), attrs)]


def _qadd_ref(xs, a):
    total = ((xs[0].astype(np.int64) - a["a_zp"]) * a["a_mult"] + (xs[1].astype(np.int64) - a["b_zp"]) * a["b_mult"])
    return [finish(rounding_shift(total, a["shift"]), a)]


define("qadd", infer=_binary_infer, reference=_qadd_ref, inputs=2,
       attrs={"a_zp": 0, "b_zp": 0, "a_mult": REQUIRED, "b_mult": REQUIRED, "shift": REQUIRED, **_OUT},
       doc="y = round((a - a_zp) * a_mult + (b - b_zp) * b_mult, shift) + out_zp: both inputs rescaled "
           "to the output scale with one common shift, one rounding")


def _qmul_ref(xs, a):
    product = (xs[0].astype(np.int64) - a["a_zp"]) * (xs[1].astype(np.int64) - a["b_zp"])
    return [finish(requantize(product, a["mult"], a["shift"]), a)]


define("qmul", infer=_binary_infer, reference=_qmul_ref, inputs=2,
       attrs={"a_zp": 0, "b_zp": 0, "mult": REQUIRED, "shift": REQUIRED, **_OUT},
       doc="y = requantize((a - a_zp) * (b - b_zp), mult, shift) + out_zp")


def _lut_infer(types, attrs):
    x, table = types
    _check_quantized(x, None, "lut input")
    if table.shape != (256,) or table.dtype != attrs["out_dtype"]:
        raise InferError(f"lut table must be {attrs['out_dtype']}[256], got {table}")
    return [out_type(x.shape, attrs)]


define("lut", infer=_lut_infer, inputs=2, attrs=dict(_OUT),
       reference=lambda xs, a: [xs[1][xs[0].astype(np.int64) - dtype_range(str(xs[0].dtype))[0]]],
       doc="y = table[q - dtype_min]: any int8 -> int8 elementwise function (sigmoid, tanh, hard-swish)")


# -- pooling --------------------------------------------------------------------------------
def _qavg_infer(types, attrs):
    x = types[0]
    _check_quantized(x, attrs["out_zp"], "qavg_pool input")
    window = pool_window(TensorType(x.shape, "float32"), attrs)
    return [out_type((*x.shape[:2], *window.out), attrs)]


def _qavg_ref(xs, a):
    x = xs[0].astype(np.int64) - a["out_zp"]
    w = pool_window(TensorType(xs[0].shape, "float32"), a)
    total = sum(_windows(_pad_for(x, w, 0), w))  # padding stands for real zero, i.e. q == zp
    return [finish(rounded_divide(total, avg_pool_divisor(x.shape[2:], w, bool(a["count_include_pad"]))), a)]


define("qavg_pool", infer=_qavg_infer, reference=_qavg_ref,
       attrs={**_WINDOW_ATTRS, "count_include_pad": 0, **_OUT},
       doc="int8 average pool, same scale in and out: round_half_away(sum(q - zp) / count) + zp "
           "(global pooling is a window over all spatial dims)")
