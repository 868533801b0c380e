"""Export of pooling to ONNX (opset 17)."""

from __future__ import annotations

import numpy as np

from ...ir.ops.pooling import avg_pool_divisor, pool_window
from .nn import window_kwargs
from .registry import exporter


def _pool_kwargs(ctx, node, attrs) -> dict:
    return {"kernel_shape": list(attrs["kernel_shape"]), "ceil_mode": attrs["ceil_mode"],
            **window_kwargs(ctx, node, attrs)}


@exporter("max_pool")
def max_pool(ctx, node, attrs):
    ctx.add("MaxPool", node.inputs, node.outputs, node.name, **_pool_kwargs(ctx, node, attrs))


@exporter("avg_pool")
def avg_pool(ctx, node, attrs):
    kwargs = _pool_kwargs(ctx, node, attrs)
    if any(d != 1 for d in kwargs["dilations"]):
        _dilated_avg_pool(ctx, node, attrs)
        return
    del kwargs["dilations"]  # AveragePool has no dilations before opset 19
    ctx.add("AveragePool", node.inputs, node.outputs, node.name, count_include_pad=attrs["count_include_pad"],
            **kwargs)


def _dilated_avg_pool(ctx, node, attrs) -> None:
    """Opset 17 spelling of a dilated avg_pool: depthwise Conv with ones (a window sum) / divisor."""
    x = ctx.graph.types[node.inputs[0]]
    nd = x.rank - 2
    w = pool_window(x, attrs)
    ones = ctx.const(np.ones((x.shape[1], 1, *w.kernel), dtype=x.dtype), f"{node.outputs[0]}_ones")
    divisor = avg_pool_divisor(x.shape[2:], w, bool(attrs["count_include_pad"]))
    scale = ctx.const((1.0 / divisor).astype(x.dtype), f"{node.outputs[0]}_inv_count")
    total = ctx.fresh(f"{node.outputs[0]}_sum")
    ctx.add("Conv", [node.inputs[0], ones], [total], node.name, group=x.shape[1], kernel_shape=list(w.kernel),
            strides=list(w.strides), dilations=list(w.dilations),
            pads=list(w.pads[:nd] + w.end_pads(x.shape[2:])))
    ctx.add("Mul", [total, scale], node.outputs, f"{node.name}_mean")


@exporter("global_avg_pool", "global_max_pool")
def global_pool(ctx, node, attrs):
    op = "GlobalAveragePool" if node.op == "global_avg_pool" else "GlobalMaxPool"
    ctx.add(op, node.inputs, node.outputs, node.name)
