"""Lowering of layers to Relax: conv, conv_transpose, dense, matmul, batch_norm, lrn.

Constant weights are pre-transformed with numpy here (a dense weight is stored transposed,
batch_norm becomes a per-channel multiply-add) so the compiled module does no weight work.
"""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax import op as R

from ...errors import LoweringError
from ...ir.ops.nn import batch_norm_affine, lrn_window, spatial_attrs
from .registry import LowerContext, lowering

_CONV = {1: R.nn.conv1d, 2: R.nn.conv2d, 3: R.nn.conv3d}
_CONV_T = {1: R.nn.conv1d_transpose, 2: R.nn.conv2d_transpose, 3: R.nn.conv3d_transpose}


def spatial_rank(ctx: LowerContext, node, supported: dict) -> int:
    """The node's spatial rank, or a LoweringError when Relax has no kernel for it."""
    nd = ctx.type(node.inputs[0]).rank - 2
    if nd not in supported:
        raise LoweringError(f"{nd} spatial dims are not supported by TVM (1 to 3 are)")
    return nd


def per_channel(ctx: LowerContext, name: str, arg: relax.Expr, nd: int) -> relax.Expr:
    """A [C] vector as [C, 1, ..., 1] so it broadcasts over (N, C, *spatial)."""
    shape = (ctx.type(name).shape[0],) + (1,) * nd
    value = ctx.constant(name)
    if value is not None:
        return relax.const(value.reshape(shape), str(value.dtype))
    return ctx.emit(R.reshape(arg, shape))


def _add_bias(ctx: LowerContext, node, y: relax.Expr, args, nd: int) -> relax.Expr:
    if len(args) < 3:
        return y
    return R.add(ctx.emit(y), per_channel(ctx, node.inputs[2], args[2], nd))


@lowering("conv")
def conv(ctx, node, args, attrs):
    nd = spatial_rank(ctx, node, _CONV)
    strides, pads, dilations = spatial_attrs(attrs, nd)
    y = _CONV[nd](args[0], args[1], strides=strides, padding=pads, dilation=dilations, groups=attrs["groups"])
    return _add_bias(ctx, node, y, args, nd)


@lowering("conv_transpose")
def conv_transpose(ctx, node, args, attrs):
    """Relax conv_transpose, with output_padding folded into the end pads and zeros appended.

    Output padding first un-crops the end padding; only what is left past the last input
    pixel must be added, and there the result is zero (before the bias).
    """
    nd = spatial_rank(ctx, node, _CONV_T)
    strides, pads, dilations = spatial_attrs(attrs, nd)
    out_pad = attrs["output_padding"] or (0,) * nd
    used = [min(out_pad[i], pads[nd + i]) for i in range(nd)]
    pads = pads[:nd] + tuple(pads[nd + i] - used[i] for i in range(nd))
    extra = [out_pad[i] - used[i] for i in range(nd)]
    y = _CONV_T[nd](args[0], args[1], strides=strides, padding=pads, output_padding=(0,) * nd,
                    dilation=dilations, groups=attrs["groups"])
    if any(extra):
        y = R.nn.pad(ctx.emit(y), [0, 0, 0, 0] + [v for e in extra for v in (0, e)])
    return _add_bias(ctx, node, y, args, nd)


@lowering("dense")
def dense(ctx, node, args, attrs):
    weight = ctx.constant(node.inputs[1])
    if weight is not None:
        w_t = relax.const(np.ascontiguousarray(weight.T), str(weight.dtype))
    else:
        w_t = ctx.emit(R.permute_dims(args[1]))
    y = R.matmul(args[0], w_t)
    return R.add(ctx.emit(y), args[2]) if len(args) == 3 else y


@lowering("matmul")
def matmul(ctx, node, args, attrs):
    return R.matmul(args[0], args[1])


@lowering("batch_norm")
def batch_norm(ctx, node, args, attrs):
    """y = x * a + b with per-channel a, b (precomputed when the statistics are constants)."""
    x = ctx.type(node.inputs[0])
    nd = x.rank - 2
    values = [ctx.constant(n) for n in node.inputs[1:]]
    if all(v is not None for v in values):
        mul, add = batch_norm_affine(*values, attrs["epsilon"])
        shape = (x.shape[1],) + (1,) * nd
        mul = relax.const(mul.astype(x.dtype).reshape(shape), x.dtype)
        add = relax.const(add.astype(x.dtype).reshape(shape), x.dtype)
    else:
        scale, bias, mean, var = (per_channel(ctx, n, a, nd) for n, a in zip(node.inputs[1:], args[1:]))
        eps = relax.const(attrs["epsilon"], x.dtype)
        mul = ctx.emit(R.divide(scale, R.sqrt(R.add(var, eps))))
        add = ctx.emit(R.subtract(bias, R.multiply(mean, mul)))
    return R.add(ctx.emit(R.multiply(args[0], mul)), add)


@lowering("lrn")
def lrn(ctx, node, args, attrs):
    """Sum of squares over the channel window as an avg_pool2d over (C, flattened spatial)."""
    x = ctx.type(node.inputs[0])
    before, after = lrn_window(attrs["size"])
    flat = (x.shape[0], 1, x.shape[1], int(np.prod(x.shape[2:])))
    sq = ctx.emit(R.reshape(R.multiply(args[0], args[0]), flat))
    mean = ctx.emit(R.nn.avg_pool2d(sq, pool_size=(attrs["size"], 1), strides=(1, 1),
                                    padding=(before, 0, after, 0), count_include_pad=True))
    mean = ctx.emit(R.reshape(mean, x.shape))
    scaled = ctx.emit(R.add(R.multiply(mean, relax.const(attrs["alpha"], x.dtype)),
                            relax.const(attrs["bias"], x.dtype)))
    return R.divide(args[0], ctx.emit(R.power(scaled, relax.const(attrs["beta"], x.dtype))))
