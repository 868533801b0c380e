"""The integer rules of the layout pass (``layout._Rewriter``): int8 convolutions and dense onto
the packed ``qkernels``, and the zero-point pad that ``relax_ops/quantized.qconv`` emits before
each padded convolution folded into the kernel's own input copy."""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax
from tvm.relax import op as R

from . import kernels, qkernels
from .conv import register_tile
from .intrinsics import signed_data
from .qconv import accumulator_registers

INTEGER = ("int8", "uint8", "int32")
Constant = tvm.ir.expr.GenericConst


def _dtype(expr: relax.Expr) -> str:
    return str(expr.ty.dtype)


def _shape(expr: relax.Expr) -> tuple[int, ...] | None:
    ty = expr.ty
    try:
        return tuple(int(d) for d in ty.shape.values)
    except (TypeError, AttributeError):
        return None


def _spatial_pad(call: relax.Call) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) of a constant NCHW pad of H and W only, else None."""
    width = [int(w) for w in call.attrs.pad_width]
    if str(call.attrs.pad_mode) != "constant" or len(width) != 8 or any(width[:4]):
        return None
    return width[4], width[6], width[5], width[7]


def pad(rw, call: relax.Call):
    """An integer H/W pad of a 4-D value: kept pending, so a convolution can fold it."""
    shape = _shape(call)
    if _dtype(call) not in INTEGER or shape is None or len(shape) != 4 or _spatial_pad(call) is None:
        return None
    return call, "pending"


def materialize(rw, expr: relax.Expr) -> None:
    """Emit a pending pad (in NHWC) once something other than a convolution reads it."""
    if not isinstance(expr, relax.Var) or expr not in rw.pending or expr in rw.nhwc:
        return
    call = rw.pending[expr]
    top, left, bottom, right = _spatial_pad(call)
    src = rw.channels_last(call.args[0])
    rw.nhwc[expr] = rw.bb.emit(R.nn.pad(src, [0, 0, top, bottom, left, right, 0, 0],
                                        pad_value=float(call.attrs.pad_value)))


def _input(rw, data: relax.Expr, conv_pads: tuple[int, ...]):
    """(NHWC input, pads, pad value): a pending pad of ``data`` is folded into the kernel."""
    if isinstance(data, relax.Var) and data in rw.pending and data not in rw.nhwc and not any(conv_pads):
        call = rw.pending[data]
        return rw.channels_last(call.args[0]), _spatial_pad(call), int(call.attrs.pad_value)
    return rw.channels_last(data), conv_pads, 0


def conv2d(rw, call: relax.Call):
    a = call.attrs
    data, weight = call.args
    if (a.data_layout != "NCHW" or a.kernel_layout != "OIHW" or a.out_layout != "NCHW"
            or not isinstance(weight, Constant) or _dtype(data) not in INTEGER or str(a.out_dtype) != "int32"
            or _shape(data) is None or len(_shape(data)) != 4):
        return None
    w = weight.value.numpy()
    strides, dilation = tuple(int(s) for s in a.strides), tuple(int(d) for d in a.dilation)
    p = [int(v) for v in a.padding]
    conv_pads = (p[0], p[1], p[2], p[3])
    channels, groups = _shape(data)[1], int(a.groups)
    if groups == channels == w.shape[0] and w.shape[1] == 1:
        x, pads, value = _input(rw, data, conv_pads)
        packed = relax.const(kernels.pack_depthwise_weight(w), str(w.dtype))
        return rw.bb.emit_te(qkernels.qdepthwise_nhwc, x, packed, strides, pads, dilation, value,
                             primfunc_name_hint="qdepthwise_conv2d"), True
    if _dtype(data) == "int32" or w.dtype != np.int8:
        return None
    x, pads, value = _input(rw, data, conv_pads)
    folded, signed = qkernels.folded_width(w, groups), signed_data(rw.params.int8_dot)
    packed = qkernels.pack_qconv_weight(qkernels.fold_width(w) if folded > 1 else w, groups)
    correction = relax.const(qkernels.shift_correction(w, _dtype(data), signed), "int32")
    # x (NHWC) and pads, not data: where _input took over a separate pad, data is the padded tensor
    width = kernels.out_size(_shape(x)[2], w.shape[3], strides[1], dilation[1], pads[1], pads[3])
    tile = register_tile(width, packed.shape[1], accumulator_registers(rw.params))[0]
    return rw.bb.emit_te(qkernels.qconv2d_nhwc, x, relax.const(packed, "int8"), correction, w.shape[0], strides,
                         pads, dilation, value, tile, folded, signed, primfunc_name_hint="qconv2d"), True


def matmul(rw, call: relax.Call):
    data, weight = call.args
    shape = _shape(data)
    if (not isinstance(weight, Constant) or shape is None or len(shape) != 2 or _dtype(data) not in ("int8", "uint8")
            or _dtype(weight) != "int8" or str(call.attrs.out_dtype) != "int32"):
        return None
    w = np.ascontiguousarray(weight.value.numpy().T)  # [N, K]
    if w.ndim != 2:
        return None
    oihw = w.reshape(w.shape[0], w.shape[1], 1, 1)
    signed = signed_data(rw.params.int8_dot)
    packed = relax.const(qkernels.pack_qconv_weight(oihw, 1), "int8")
    correction = relax.const(qkernels.shift_correction(oihw, _dtype(data), signed), "int32")
    return rw.bb.emit_te(qkernels.qdense, rw.plain(data), packed, correction, w.shape[0], signed,
                         primfunc_name_hint="qdense"), False
