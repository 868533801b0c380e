"""Export of reductions to ONNX (opset 17: ReduceSum takes axes as an input, the others as an attribute)."""

from __future__ import annotations

import numpy as np

from .registry import exporter

_REDUCE = {"reduce_mean": "ReduceMean", "reduce_sum": "ReduceSum", "reduce_max": "ReduceMax",
           "reduce_min": "ReduceMin"}


@exporter(*_REDUCE)
def reduce(ctx, node, attrs):
    op, axes, keepdims = _REDUCE[node.op], list(attrs["axes"]), attrs["keepdims"]
    if not axes:  # all axes: the default when none are given
        ctx.add(op, node.inputs, node.outputs, node.name, keepdims=keepdims)
    elif op == "ReduceSum":
        ctx.add(op, [node.inputs[0], ctx.const(np.array(axes, np.int64), f"{node.outputs[0]}_axes")], node.outputs,
                node.name, keepdims=keepdims)
    else:
        ctx.add(op, node.inputs, node.outputs, node.name, axes=axes, keepdims=keepdims)
