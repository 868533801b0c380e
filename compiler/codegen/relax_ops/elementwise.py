"""Lowering of elementwise ops to Relax."""

from __future__ import annotations

from tvm import relax
from tvm.relax import op as R

from .registry import lowering


def scalar(value: float, dtype: str) -> relax.Constant:
    return relax.const(value, dtype)


_UNARY = {"relu": R.nn.relu, "sigmoid": R.sigmoid, "tanh": R.tanh, "exp": R.exp, "sqrt": R.sqrt,
          "neg": R.negative, "abs": R.abs}
_BINARY = {"add": R.add, "sub": R.subtract, "mul": R.multiply, "maximum": R.maximum, "minimum": R.minimum,
           "pow": R.power}


@lowering(*_UNARY)
def unary(ctx, node, args, attrs):
    return _UNARY[node.op](args[0])


@lowering(*_BINARY)
def binary(ctx, node, args, attrs):
    return _BINARY[node.op](args[0], args[1])


@lowering("div")
def div(ctx, node, args, attrs):
    if ctx.type(node.inputs[0]).dtype.startswith("float"):
        return R.divide(args[0], args[1])
    # integers truncate toward zero like C (Relax's divide on ints floors)
    dtype = ctx.type(node.inputs[0]).dtype
    q = ctx.emit(R.divide(R.astype(args[0], "float64"), R.astype(args[1], "float64")))
    return R.astype(R.trunc(q), dtype)


@lowering("identity")
def identity(ctx, node, args, attrs):
    return args[0]


@lowering("sum")
def sum_(ctx, node, args, attrs):
    total = args[0]
    for arg in args[1:]:
        total = ctx.emit(R.add(total, arg))
    return total


@lowering("leaky_relu")
def leaky_relu(ctx, node, args, attrs):
    return R.nn.leakyrelu(args[0], attrs["alpha"])


@lowering("clip")
def clip(ctx, node, args, attrs):
    dtype = ctx.type(node.inputs[0]).dtype
    x = args[0]
    if attrs["min"] != float("-inf"):
        x = ctx.emit(R.maximum(x, scalar(attrs["min"], dtype)))
    if attrs["max"] != float("inf"):
        x = ctx.emit(R.minimum(x, scalar(attrs["max"], dtype)))
    return x


@lowering("hard_sigmoid")
def hard_sigmoid(ctx, node, args, attrs):
    dtype = ctx.type(node.inputs[0]).dtype
    y = ctx.emit(R.add(R.multiply(args[0], scalar(attrs["alpha"], dtype)), scalar(attrs["beta"], dtype)))
    return R.minimum(R.maximum(y, scalar(0.0, dtype)), scalar(1.0, dtype))


@lowering("hard_swish")
def hard_swish(ctx, node, args, attrs):
    dtype = ctx.type(node.inputs[0]).dtype
    x = args[0]
    gate = ctx.emit(R.add(R.divide(x, scalar(6.0, dtype)), scalar(0.5, dtype)))
    gate = ctx.emit(R.minimum(R.maximum(gate, scalar(0.0, dtype)), scalar(1.0, dtype)))
    return R.multiply(x, gate)


@lowering("softmax")
def softmax(ctx, node, args, attrs):
    return R.nn.softmax(args[0], axis=attrs["axis"])


@lowering("log_softmax")
def log_softmax(ctx, node, args, attrs):
    return R.nn.log_softmax(args[0], axis=attrs["axis"])


@lowering("cast")
def cast(ctx, node, args, attrs):
    return R.astype(args[0], attrs["to"])
