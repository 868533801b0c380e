"""Export of elementwise ops to ONNX."""

from __future__ import annotations

import numpy as np
import onnx

from .registry import exporter

_SIMPLE = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "sqrt": "Sqrt", "neg": "Neg",
           "abs": "Abs", "hard_swish": "HardSwish", "identity": "Identity", "add": "Add", "sub": "Sub",
           "mul": "Mul", "div": "Div", "maximum": "Max", "minimum": "Min", "pow": "Pow", "sum": "Sum"}


@exporter(*_SIMPLE)
def simple(ctx, node, attrs):
    ctx.add(_SIMPLE[node.op], node.inputs, node.outputs, node.name)


@exporter("leaky_relu")
def leaky_relu(ctx, node, attrs):
    ctx.add("LeakyRelu", node.inputs, node.outputs, node.name, alpha=attrs["alpha"])


@exporter("hard_sigmoid")
def hard_sigmoid(ctx, node, attrs):
    ctx.add("HardSigmoid", node.inputs, node.outputs, node.name, alpha=attrs["alpha"], beta=attrs["beta"])


@exporter("clip")
def clip(ctx, node, attrs):
    dtype = ctx.graph.types[node.inputs[0]].dtype
    lo = ctx.const(np.array(attrs["min"], dtype=dtype), f"{node.outputs[0]}_min")
    hi = ctx.const(np.array(attrs["max"], dtype=dtype), f"{node.outputs[0]}_max")
    ctx.add("Clip", [node.inputs[0], lo, hi], node.outputs, node.name)


@exporter("softmax", "log_softmax")
def softmax(ctx, node, attrs):
    ctx.add("Softmax" if node.op == "softmax" else "LogSoftmax", node.inputs, node.outputs, node.name,
            axis=attrs["axis"])


@exporter("cast")
def cast(ctx, node, attrs):
    ctx.add("Cast", node.inputs, node.outputs, node.name, to=onnx.helper.np_dtype_to_tensor_dtype(np.dtype(attrs["to"])))
