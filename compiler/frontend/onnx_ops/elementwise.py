"""Converters for ONNX activations, arithmetic, softmax and casts."""

from __future__ import annotations

import numpy as np
import onnx

from ..context import converter

_UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Exp": "exp", "Sqrt": "sqrt", "Neg": "neg",
          "Abs": "abs", "HardSwish": "hard_swish", "Identity": "identity"}
_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div"}
_VARIADIC = {"Sum": "sum", "Max": "maximum", "Min": "minimum"}


@converter(*_UNARY)
def unary(ctx, node, ins, attrs):
    return [ctx.emit(_UNARY[node.op_type], [ins[0]])]


@converter(*_BINARY)
def binary(ctx, node, ins, attrs):
    if ctx.opset < 7 and attrs.get("broadcast"):
        raise ctx.error("legacy (opset < 7) broadcast attribute is not supported")
    return [ctx.emit(_BINARY[node.op_type], ins[:2])]


@converter("Pow")
def pow_(ctx, node, ins, attrs):
    """ONNX lets the exponent's dtype differ from the base's, and allows integer bases: compute
    in float64 then (the exact result for the integer ranges models use) and cast back."""
    base, exponent = ins[:2]
    dtype = ctx.type(base).dtype
    if dtype == ctx.type(exponent).dtype and dtype.startswith("float"):
        return [ctx.emit("pow", [base, exponent])]
    wide = [ctx.emit("cast", [v], {"to": "float64"}) for v in (base, exponent)]
    return [ctx.emit("cast", [ctx.emit("pow", wide)], {"to": dtype})]


@converter(*_VARIADIC)
def variadic(ctx, node, ins, attrs):
    op = _VARIADIC[node.op_type]
    if op == "sum":
        return [ctx.emit("sum", ins) if len(ins) > 1 else ctx.emit("identity", ins)]
    out = ins[0]
    for other in ins[1:]:
        out = ctx.emit(op, [out, other])
    return [out if len(ins) > 1 else ctx.emit("identity", ins)]


@converter("LeakyRelu")
def leaky_relu(ctx, node, ins, attrs):
    return [ctx.emit("leaky_relu", [ins[0]], {"alpha": float(attrs.get("alpha", 0.01))})]


@converter("HardSigmoid")
def hard_sigmoid(ctx, node, ins, attrs):
    return [ctx.emit("hard_sigmoid", [ins[0]], {"alpha": float(attrs.get("alpha", 0.2)),
                                                "beta": float(attrs.get("beta", 0.5))})]


@converter("Clip")
def clip(ctx, node, ins, attrs):
    if ctx.opset < 11:
        lo, hi = attrs.get("min", float("-inf")), attrs.get("max", float("inf"))
    else:
        lo = ctx.const(ins[1], "min").item() if len(ins) > 1 and ins[1] else float("-inf")
        hi = ctx.const(ins[2], "max").item() if len(ins) > 2 and ins[2] else float("inf")
    return [ctx.emit("clip", [ins[0]], {"min": float(lo), "max": float(hi)})]


@converter("Softmax", "LogSoftmax")
def softmax(ctx, node, ins, attrs):
    op = "softmax" if node.op_type == "Softmax" else "log_softmax"
    x = ins[0]
    rank = ctx.type(x).rank
    if ctx.opset >= 13:
        return [ctx.emit(op, [x], {"axis": attrs.get("axis", -1)})]
    # Before opset 13 the input is seen as 2-D [prod(shape[:axis]), prod(shape[axis:])].
    axis = attrs.get("axis", 1) % max(rank, 1)
    if axis == rank - 1:
        return [ctx.emit(op, [x], {"axis": -1})]
    shape = ctx.type(x).shape
    flat = ctx.emit("reshape", [x], {"shape": (int(np.prod(shape[:axis])), int(np.prod(shape[axis:])))})
    return [ctx.emit("reshape", [ctx.emit(op, [flat], {"axis": -1})], {"shape": shape})]


@converter("Cast")
def cast(ctx, node, ins, attrs):
    to = str(onnx.helper.tensor_dtype_to_np_dtype(attrs["to"]))
    return [ctx.emit("cast", [ins[0]], {"to": to})]


@converter("Dropout")
def dropout(ctx, node, ins, attrs):
    """Inference mode: the data passes through; the optional mask is all ones."""
    if ctx.opset < 7 and not attrs.get("is_test", 0):
        raise ctx.error("is in training mode (is_test=0); edgec compiles inference graphs")
    if len(ins) > 2 and ins[2] is not None and ctx.const(ins[2], "training_mode").any():
        raise ctx.error("is in training mode (training_mode is true); edgec compiles inference graphs")
    y = ctx.emit("identity", [ins[0]])
    if len(node.output) > 1 and node.output[1]:
        return [y, ctx.add_const(np.ones(ctx.type(ins[0]).shape, dtype=bool), node.output[1])]
    return [y]
