"""Export of the quantized ops as ONNX QDQ patterns (DequantizeLinear -> float op -> QuantizeLinear).

The IR keeps only integer parameters: a layer knows its per-channel multipliers
``M[c] = mult[c] / 2^shift[c] = x_scale * w_scale[c] / out_scale``, not ``w_scale`` itself.
The export picks scales that make the float pattern compute the same thing:

    DQ(x, x_scale, x_zp)                           x_scale from the input's type (1.0 if unknown)
    DQ(w, s_w[c] = M[c] * out_scale / x_scale)     int8 weights, per channel (axis 0)
    DQ(bias, x_scale * s_w[c])                     int32 bias on the accumulator's grid
    conv  = x_scale * s_w[c] * acc = out_scale * M[c] * acc
    Q(out_scale, out_zp)  ->  round(M[c] * acc) + out_zp

so onnxruntime's result differs from the IR's only where the two roundings (half to even in
float vs. half away from zero in fixed point) disagree: at most one output step. Clamps
(``act_min``/``act_max``) become a Relu or Clip before the QuantizeLinear; ``lut`` is an exact
integer Gather.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from ...ir.graph import Node
from ...ir.ops.fixed_point import dtype_range
from ...ir.ops.quantized import clamp_range
from ...ir.types import TensorType
from .nn import window_kwargs
from .registry import EXPORTERS, ExportContext, exporter


def real_multiplier(mult, shift) -> np.ndarray:
    return np.asarray(mult, np.float64) / np.exp2(np.asarray(shift, np.float64))


def input_scale(ctx: ExportContext, value: str) -> float:
    quant = ctx.graph.types[value].quant
    return float(quant.scale[0]) if quant is not None and quant.axis is None else 1.0


def dequantize(ctx: ExportContext, value: str, scale, zp, hint: str, axis: int | None = None) -> str:
    """A DequantizeLinear of ``value`` (per tensor, or along ``axis``); returns the float value."""
    t = ctx.graph.types[value]
    zp = np.broadcast_to(np.asarray(zp), np.shape(scale)).astype(t.dtype)
    inputs = [value, ctx.const(np.asarray(scale, np.float32), f"{hint}_scale"), ctx.const(zp, f"{hint}_zero_point")]
    out = float_value(ctx, f"{hint}_dq", t.shape)
    ctx.add("DequantizeLinear", inputs, [out], f"{hint}_dequantize", **({} if axis is None else {"axis": axis}))
    return out


def clamp(ctx: ExportContext, value: str, node: Node, attrs: dict) -> str:
    """The op's act range as a Relu or a Clip in real units (nothing when it is the dtype's range)."""
    scale, zp = float(attrs["out_scale"]), int(attrs["out_zp"])
    lo, hi = clamp_range(attrs)
    qmin, qmax = dtype_range(attrs["out_dtype"])
    if (lo, hi) == (qmin, qmax):
        return value
    out = ctx.fresh(f"{node.outputs[0]}_clamped")
    if (lo, hi) == (zp, qmax):
        ctx.add("Relu", [value], [out], f"{node.name}_relu")
    else:
        bounds = [ctx.const(np.float32((b - zp) * scale), f"{out}_{which}") for b, which in ((lo, "min"), (hi, "max"))]
        ctx.add("Clip", [value] + bounds, [out], f"{node.name}_clip")
    return out


def quantize(ctx: ExportContext, value: str, node: Node, attrs: dict) -> None:
    """Clamp to the op's act range, then QuantizeLinear to its output grid."""
    out, dtype = node.outputs[0], attrs["out_dtype"]
    inputs = [clamp(ctx, value, node, attrs), ctx.const(np.float32(attrs["out_scale"]), f"{out}_scale"),
              ctx.const(np.array(attrs["out_zp"], dtype), f"{out}_zero_point")]
    ctx.add("QuantizeLinear", inputs, [out], f"{node.name}_quantize")


def typed_const(ctx: ExportContext, array: np.ndarray, hint: str) -> str:
    """An initializer that later rules read like a graph constant (``ctx.const`` records neither
    its type nor its value in the context's graph copy)."""
    name = ctx.const(array, hint)
    ctx.graph.types[name] = TensorType.of(np.asarray(array))
    ctx.graph.constants[name] = np.asarray(array)
    return name


def float_value(ctx: ExportContext, hint: str, shape: tuple[int, ...]) -> str:
    """A fresh float32 intermediate, typed so that other exporters can read its shape."""
    name = ctx.fresh(hint)
    ctx.graph.types[name] = TensorType(shape, "float32")
    return name


# -- boundaries -----------------------------------------------------------------------------
@exporter("quantize")
def quantize_(ctx, node, attrs):
    quantize(ctx, node.inputs[0], node, attrs)


@exporter("dequantize")
def dequantize_(ctx, node, attrs):
    t = ctx.graph.types[node.inputs[0]]
    inputs = [node.inputs[0], ctx.const(np.float32(attrs["scale"]), f"{node.outputs[0]}_scale"),
              ctx.const(np.array(attrs["zero_point"], t.dtype), f"{node.outputs[0]}_zero_point")]
    ctx.add("DequantizeLinear", inputs, node.outputs, node.name)


@exporter("requantize")
def requantize(ctx, node, attrs):
    m = float(real_multiplier(attrs["mult"], attrs["shift"]))
    x = dequantize(ctx, node.inputs[0], m * attrs["out_scale"], attrs["in_zp"], node.outputs[0])
    quantize(ctx, x, node, attrs)


# -- layers ---------------------------------------------------------------------------------
@dataclass
class _Layer:
    """What a qconv/qdense exports with: the input scale, weights, per-channel weight scales, bias."""

    x_scale: float
    weight: str
    w_scales: np.ndarray
    bias: str | None


def _layer(ctx: ExportContext, node: Node, attrs: dict) -> _Layer:
    """A channel with multiplier 0 always outputs out_zp: its weights and bias are zeroed."""
    consts = ctx.graph.constants
    weight, bias = node.inputs[1], (node.inputs[2] if len(node.inputs) == 5 else None)
    w = consts[weight]
    m = np.broadcast_to(real_multiplier(*(consts[name] for name in node.inputs[-2:])), (w.shape[0],))
    x_scale = input_scale(ctx, node.inputs[0])
    if np.any(m == 0):
        dead = (m == 0).reshape((-1,) + (1,) * (w.ndim - 1))
        weight = typed_const(ctx, np.where(dead, 0, w).astype(np.int8), f"{weight}_live")
        if bias is not None:
            bias = typed_const(ctx, np.where(m == 0, 0, consts[bias]).astype(np.int32), f"{bias}_live")
    return _Layer(x_scale, weight, np.where(m > 0, m * attrs["out_scale"] / x_scale, 1.0), bias)


def _inputs(ctx: ExportContext, node: Node, attrs: dict, layer: _Layer, w_axis: int) -> tuple[str, str, list[str]]:
    """The dequantized x, weight and (if any) bias of a layer."""
    out = node.outputs[0]
    x = dequantize(ctx, node.inputs[0], layer.x_scale, attrs["x_zp"], f"{out}_x")
    w = dequantize(ctx, layer.weight, layer.w_scales, 0, f"{out}_w", axis=w_axis)
    if layer.bias is None:
        return x, w, []
    scales = np.float32(layer.x_scale) * layer.w_scales.astype(np.float32)  # the accumulator's grid
    return x, w, [dequantize(ctx, layer.bias, scales, 0, f"{out}_bias", axis=0)]


@exporter("qconv")
def qconv(ctx, node, attrs):
    x, w, bias = _inputs(ctx, node, attrs, _layer(ctx, node, attrs), 0)
    pre = ctx.fresh(f"{node.outputs[0]}_acc")
    ctx.add("Conv", [x, w] + bias, [pre], node.name, group=attrs["groups"], **window_kwargs(ctx, node, attrs))
    quantize(ctx, pre, node, attrs)


@exporter("qdense")
def qdense(ctx, node, attrs):
    """Gemm (transB) for 2-D inputs, else MatMul with the transposed weight and an Add of the bias."""
    layer = _layer(ctx, node, attrs)
    pre = ctx.fresh(f"{node.outputs[0]}_acc")
    if ctx.graph.types[node.inputs[0]].rank == 2:
        x, w, bias = _inputs(ctx, node, attrs, layer, 0)
        ctx.add("Gemm", [x, w] + bias, [pre], node.name, transB=1)
    else:
        transposed = np.ascontiguousarray(ctx.graph.constants[layer.weight].T)
        layer.weight = typed_const(ctx, transposed, f"{layer.weight}_t")
        x, w, bias = _inputs(ctx, node, attrs, layer, 1)
        product = ctx.fresh(f"{node.outputs[0]}_mm") if bias else pre
        ctx.add("MatMul", [x, w], [product], node.name)
        if bias:
            ctx.add("Add", [product] + bias, [pre], f"{node.name}_bias")
    quantize(ctx, pre, node, attrs)


# -- elementwise ----------------------------------------------------------------------------
def _binary_output(ctx: ExportContext, node: Node, attrs: dict, op: str, a: str, b: str) -> None:
    pre = ctx.fresh(f"{node.outputs[0]}_real")
    ctx.add(op, [a, b], [pre], node.name)
    quantize(ctx, pre, node, attrs)


@exporter("qadd")
def qadd(ctx, node, attrs):
    """y = A (a - a_zp) + B (b - b_zp) in output steps: DQ scales |A| and |B| times out_scale, the
    signs make the Add a Sub (a negative multiplier comes from a quantized subtraction)."""
    out = node.outputs[0]
    terms = []
    for value, mult, zp, which in ((node.inputs[0], attrs["a_mult"], attrs["a_zp"], "a"),
                                   (node.inputs[1], attrs["b_mult"], attrs["b_zp"], "b")):
        scale = abs(float(real_multiplier(mult, attrs["shift"]))) * attrs["out_scale"]
        terms.append((dequantize(ctx, value, scale, zp, f"{out}_{which}"), mult < 0))
    (a, a_neg), (b, b_neg) = terms
    if a_neg and b_neg:
        total = ctx.fresh(f"{out}_neg_total")
        ctx.add("Add", [a, b], [total], f"{node.name}_sum")
        neg = ctx.fresh(f"{out}_total")
        ctx.add("Neg", [total], [neg], f"{node.name}_neg")
        quantize(ctx, neg, node, attrs)
    elif a_neg or b_neg:
        _binary_output(ctx, node, attrs, "Sub", *((b, a) if a_neg else (a, b)))
    else:
        _binary_output(ctx, node, attrs, "Add", a, b)


@exporter("qmul")
def qmul(ctx, node, attrs):
    """DQ scales s_a, s_b with s_a * s_b = M * out_scale (s_a the input's own scale when known)."""
    out = node.outputs[0]
    product = float(real_multiplier(attrs["mult"], attrs["shift"])) * attrs["out_scale"]
    known = ctx.graph.types[node.inputs[0]].quant
    s_a = input_scale(ctx, node.inputs[0]) if known is not None else float(np.sqrt(product))
    a = dequantize(ctx, node.inputs[0], s_a, attrs["a_zp"], f"{out}_a")
    b = dequantize(ctx, node.inputs[1], product / s_a, attrs["b_zp"], f"{out}_b")
    _binary_output(ctx, node, attrs, "Mul", a, b)


@exporter("lut")
def lut(ctx, node, attrs):
    """table[q - dtype_min] as Cast -> Add -> Gather: exact, no float involved."""
    out = node.outputs[0]
    wide, index = ctx.fresh(f"{out}_int32"), ctx.fresh(f"{out}_index")
    ctx.add("Cast", [node.inputs[0]], [wide], f"{node.name}_cast", to=onnx.TensorProto.INT32)
    offset = ctx.const(np.int32(-dtype_range(ctx.graph.types[node.inputs[0]].dtype)[0]), f"{out}_offset")
    ctx.add("Add", [wide, offset], [index], f"{node.name}_offset")
    ctx.add("Gather", [node.inputs[1], index], node.outputs, node.name, axis=0)


# -- pooling --------------------------------------------------------------------------------
@exporter("qavg_pool")
def qavg_pool(ctx, node, attrs):
    out = node.outputs[0]
    x = dequantize(ctx, node.inputs[0], attrs["out_scale"], attrs["out_zp"], f"{out}_x")
    pooled = float_value(ctx, f"{out}_real", ctx.graph.types[out].shape)
    window = {k: attrs[k] for k in ("kernel_shape", "strides", "pads", "dilations", "ceil_mode", "count_include_pad")}
    EXPORTERS["avg_pool"](ctx, Node("avg_pool", [x], [pooled], window, node.name), window)
    quantize(ctx, pooled, node, attrs)
