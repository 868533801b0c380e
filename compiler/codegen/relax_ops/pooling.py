"""Lowering of pooling to Relax.

Relax's ceil_mode and count_include_pad rules differ from ONNX's in edge cases, so windows
are made explicit: ceil-mode overhang becomes end padding, and average pooling is a sum
(an avg_pool that counts padding, times the kernel size) divided by a precomputed divisor map.
"""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax import op as R

from ...ir.ops.pooling import avg_pool_divisor, pool_window
from .nn import spatial_rank
from .registry import lowering

_MAX = {1: R.nn.max_pool1d, 2: R.nn.max_pool2d, 3: R.nn.max_pool3d}
_AVG = {1: R.nn.avg_pool1d, 2: R.nn.avg_pool2d, 3: R.nn.avg_pool3d}


def _explicit(ctx, node, attrs, table: dict):
    """(pool fn, window, keyword args) with every window inside explicit padding, no ceil_mode."""
    nd = spatial_rank(ctx, node, table)
    x = ctx.type(node.inputs[0])
    w = pool_window(x, attrs)
    kwargs = {"pool_size": w.kernel, "strides": w.strides, "dilation": w.dilations,
              "padding": w.pads[:nd] + w.end_pads(x.shape[2:]), "ceil_mode": False}
    return table[nd], w, kwargs


@lowering("max_pool")
def max_pool(ctx, node, args, attrs):
    pool, _, kwargs = _explicit(ctx, node, attrs, _MAX)
    return pool(args[0], **kwargs)


@lowering("avg_pool")
def avg_pool(ctx, node, args, attrs):
    pool, w, kwargs = _explicit(ctx, node, attrs, _AVG)
    x = ctx.type(node.inputs[0])
    y = pool(args[0], count_include_pad=True, **kwargs)  # sum / kernel size everywhere
    divisor = avg_pool_divisor(x.shape[2:], w, bool(attrs["count_include_pad"]))
    size = int(np.prod(w.kernel))
    if np.all(divisor == size):
        return y
    return R.multiply(ctx.emit(y), relax.const((size / divisor).astype(x.dtype), x.dtype))


@lowering("global_avg_pool", "global_max_pool")
def global_pool(ctx, node, args, attrs):
    axes = list(range(2, ctx.type(node.inputs[0]).rank))
    reduce = R.mean if node.op == "global_avg_pool" else R.max
    return reduce(args[0], axis=axes, keepdims=True)
