"""Graph-level layout choice: NHWC activations and pre-packed weights for the CPU kernels.

edgec lowers to Relax in ONNX's NCHW. This pass rewrites ``main`` so that convolutions run
in NHWC (the channel dimension innermost, which is what a vectorized micro-kernel wants for
regular, grouped and depthwise convolution alike) on weights packed at compile time, and
propagates NHWC through the ops that do not care about the layout (elementwise, pooling,
channel concat, spatial reductions). A value is transposed back to NCHW only where an op
outside that set (or the function's output) reads it, once per value.

NHWC rather than NCHW[x]c: measured on the zoo models the micro-kernel is the same (a
broadcast input scalar times a vector of output channels), but NHWC needs no channel count
to divide the vector width (ShuffleNet has 34 channels per group) and keeps pooling,
concat and the elementwise ops on stock Relax operators.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import tvm
from tvm import relax
from tvm.relax import op as R

from . import kernels, qlayout, winograd
from .conv import padded_channel_vectors
from .params import CpuParams

TO_NHWC, TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)
SPLIT_TO_NCHW = (0, 3, 4, 1, 2)  # (N, H, W, A, B) -> (N, A, B, H, W)

UNARY = {"relax.nn.relu", "relax.nn.gelu", "relax.nn.silu", "relax.sigmoid", "relax.tanh", "relax.exp",
         "relax.sqrt", "relax.rsqrt", "relax.abs", "relax.negative", "relax.clip", "relax.nn.leakyrelu",
         "relax.astype", "relax.erf", "relax.log", "relax.floor", "relax.ceil", "relax.round"}
BINARY = {"relax.add", "relax.subtract", "relax.multiply", "relax.divide", "relax.maximum", "relax.minimum",
          "relax.power", "relax.right_shift", "relax.less", "relax.where", "relax.floor_divide"}
POOLS = {"relax.nn.max_pool2d": R.nn.max_pool2d, "relax.nn.avg_pool2d": R.nn.avg_pool2d}
REDUCES = {"relax.mean": R.mean, "relax.max": R.max, "relax.sum": R.sum, "relax.min": R.min}


Constant = tvm.ir.expr.GenericConst  # what relax.const makes in TVM 0.27


def _shape(expr: relax.Expr) -> tuple[int, ...] | None:
    ty = expr.ty
    if not isinstance(ty, relax.TensorType) or ty.shape is None:
        return None
    try:
        return tuple(int(d) for d in ty.shape.values)
    except (TypeError, AttributeError):  # symbolic dims
        return None


def _dtype(expr: relax.Expr) -> str:
    return str(expr.ty.dtype)


def _value(const: Constant) -> np.ndarray:
    return const.value.numpy()


class _Rewriter:
    """Walks the bindings of ``main`` once, keeping for each old variable its new value in
    NCHW and/or NHWC (each made at most once; 5-D channel-shuffle values in ``split``)."""

    def __init__(self, bb: relax.BlockBuilder, params: CpuParams) -> None:
        self.bb, self.params = bb, params
        self.nchw: dict[relax.Var, relax.Expr] = {}
        self.nhwc: dict[relax.Var, relax.Expr] = {}
        self.split: dict[relax.Var, relax.Expr] = {}  # (N, A, B, H, W) values stored as (N, H, W, A, B)
        self.pending: dict[relax.Var, relax.Call] = {}  # zero-point pads an int8 conv may fold in
        self.rules: dict[str, Callable] = {"relax.nn.conv2d": self.conv2d, "relax.matmul": self.matmul,
                                           "relax.concat": self.concat, "relax.reshape": self.reshape,
                                           "relax.permute_dims": self.permute_dims,
                                           "relax.nn.pad": lambda call: qlayout.pad(self, call)}
        self.rules.update({name: self.unary for name in UNARY})
        self.rules.update({name: self.binary for name in BINARY})
        self.rules.update({name: self.pool for name in POOLS})
        self.rules.update({name: self.reduce for name in REDUCES})

    # -- values in either layout ---------------------------------------------------------
    def plain(self, expr: relax.Expr) -> relax.Expr:
        """The new expression for ``expr`` in the original layout."""
        qlayout.materialize(self, expr)
        if isinstance(expr, relax.Var) and expr not in self.nchw and expr in self.nhwc:
            self.nchw[expr] = self.bb.emit(R.permute_dims(self.nhwc[expr], TO_NCHW))
        if isinstance(expr, relax.Var) and expr not in self.nchw and expr in self.split:
            self.nchw[expr] = self.bb.emit(R.permute_dims(self.split[expr], SPLIT_TO_NCHW))
        if isinstance(expr, relax.Var):
            return self.nchw.get(expr, expr)
        if isinstance(expr, relax.Tuple):
            return relax.Tuple([self.plain(f) for f in expr.fields])
        return expr

    def is_nhwc(self, expr: relax.Expr) -> bool:
        return isinstance(expr, relax.Var) and expr in self.nhwc

    def channels_last(self, expr: relax.Expr) -> relax.Expr:
        """``expr`` (4-D NCHW, or a constant that broadcasts against one) in NHWC."""
        qlayout.materialize(self, expr)
        if isinstance(expr, Constant):
            value = _value(expr)
            if value.ndim == 0:
                return expr
            value = value.reshape((1,) * (4 - value.ndim) + value.shape).transpose(TO_NHWC)
            return relax.const(np.ascontiguousarray(value), str(value.dtype))
        if self.is_nhwc(expr):
            return self.nhwc[expr]
        new = self.plain(expr)
        self.nhwc[expr] = self.bb.emit(R.permute_dims(new, TO_NHWC))
        return self.nhwc[expr]

    # -- rules: return (new value, True if NHWC / False if plain / "split") or None to keep NCHW --
    def conv2d(self, call: relax.Call):
        a = call.attrs
        weight, data = call.args[1], call.args[0]
        if _dtype(data) != "float32":
            return qlayout.conv2d(self, call)
        if (a.data_layout != "NCHW" or a.kernel_layout != "OIHW" or a.out_layout != "NCHW"
                or not isinstance(weight, Constant) or _dtype(data) != "float32" or _dtype(weight) != "float32"
                or str(a.out_dtype) not in ("", "void", "None", "float32") or _shape(data) is None):
            return None
        w = _value(weight)
        strides, dilation = tuple(int(s) for s in a.strides), tuple(int(d) for d in a.dilation)
        pads = tuple(int(p) for p in a.padding)
        x = self.channels_last(data)
        channels, groups = _shape(data)[1], int(a.groups)
        if groups == channels == w.shape[0] and w.shape[1] == 1:
            packed = relax.const(kernels.pack_depthwise_weight(w), "float32")
            return self.bb.emit_te(kernels.depthwise_nhwc, x, packed, strides, pads, dilation,
                                   primfunc_name_hint="depthwise_conv2d"), True
        if winograd.applies(_shape(data), w.shape, strides, pads, dilation, groups):
            packed = relax.const(winograd.pack_winograd_weight(w, self.params.lanes), "float32")
            return self.bb.emit_te(winograd.winograd_nhwc, x, packed, w.shape[0], pads,
                                   primfunc_name_hint="conv2d_winograd"), True
        vectors = None
        if groups == 1:  # pad the output channels for a better register tile where that pays
            width = kernels.out_size(_shape(data)[3], w.shape[3], strides[1], dilation[1], pads[1], pads[3])
            vectors = padded_channel_vectors(w.shape[0], width, self.params)
        packed = relax.const(kernels.pack_conv_weight(w, groups, self.params.lanes, vectors), "float32")
        return self.bb.emit_te(kernels.conv2d_nhwc, x, packed, w.shape[0], strides, pads, dilation,
                               primfunc_name_hint="conv2d"), True

    def matmul(self, call: relax.Call):
        data, weight = call.args
        shape = _shape(data)
        if _dtype(data) != "float32":
            return qlayout.matmul(self, call)
        if (not isinstance(weight, Constant) or _value(weight).ndim != 2 or shape is None
                or _dtype(data) != "float32" or _dtype(weight) != "float32"):
            return None
        w = _value(weight)
        packed = relax.const(kernels.pack_dense_weight(w, self.params.lanes), "float32")
        return self.bb.emit_te(kernels.dense_packed, self.plain(data), packed, w.shape[1],
                               primfunc_name_hint="dense"), False

    def unary(self, call: relax.Call):
        if not self.is_nhwc(call.args[0]):
            return None
        return self.bb.emit(relax.Call(call.op, [self.nhwc[call.args[0]], *call.args[1:]], call.attrs,
                                       call.ty_args)), True

    def binary(self, call: relax.Call):
        out = _shape(call)
        if out is None or len(out) != 4 or not any(self.is_nhwc(a) for a in call.args):
            return None
        for arg in call.args:  # only 4-D values and constants can be moved to NHWC
            shape = _shape(arg)
            if shape is None or (not isinstance(arg, Constant) and len(shape) != 4):
                return None
        args = [self.channels_last(a) for a in call.args]
        return self.bb.emit(relax.Call(call.op, args, call.attrs, call.ty_args)), True

    def pool(self, call: relax.Call):
        a = call.attrs
        if a.layout != "NCHW" or a.out_layout != "NCHW" or not self.is_nhwc(call.args[0]):
            return None
        y = POOLS[call.op.name](self.nhwc[call.args[0]], pool_size=a.pool_size, strides=a.strides,
                                 padding=a.padding, dilation=a.dilation, ceil_mode=a.ceil_mode,
                                 count_include_pad=a.count_include_pad, layout="NHWC", out_layout="NHWC")
        return self.bb.emit(y), True

    def reduce(self, call: relax.Call):
        x = call.args[0]
        axes = sorted(int(i) % 4 for i in call.attrs.axis) if call.attrs.axis is not None else None
        if not self.is_nhwc(x) or axes != [2, 3]:
            return None
        keep = bool(call.attrs.keepdims)
        return self.bb.emit(REDUCES[call.op.name](self.nhwc[x], axis=[1, 2], keepdims=keep)), keep

    def concat(self, call: relax.Call):
        fields = call.args[0].fields if isinstance(call.args[0], relax.Tuple) else None
        if (fields is None or int(call.attrs.axis) % 4 != 1 or _shape(call) is None or len(_shape(call)) != 4
                or not any(self.is_nhwc(f) for f in fields)):
            return None
        return self.bb.emit(R.concat([self.channels_last(f) for f in fields], axis=3)), True

    def reshape(self, call: relax.Call):
        """Reshapes that are free in NHWC: (N, C, 1, 1) -> (N, C), and the two halves of a
        channel shuffle, (N, C, H, W) <-> (N, A, B, H, W) with A * B = C."""
        x = call.args[0]
        shape, out = _shape(x), _shape(call)
        if shape is None or out is None:
            return None
        if self.is_nhwc(x) and shape[2:] == (1, 1) and out == shape[:2]:
            return self.bb.emit(R.reshape(self.nhwc[x], out)), False
        if self.is_nhwc(x) and len(out) == 5 and out[0] == shape[0] and out[3:] == shape[2:] \
                and out[1] * out[2] == shape[1]:
            n, a, b, h, w = out
            return self.bb.emit(R.reshape(self.nhwc[x], (n, h, w, a, b))), "split"
        if isinstance(x, relax.Var) and x in self.split and len(out) == 4 and out[0] == shape[0] \
                and out[2:] == shape[3:] and out[1] == shape[1] * shape[2]:
            n, c, h, w = out
            return self.bb.emit(R.reshape(self.split[x], (n, h, w, c))), True
        return None

    def permute_dims(self, call: relax.Call):
        """The transpose in the middle of a channel shuffle, (N, A, B, H, W) -> (N, B, A, H, W)."""
        x = call.args[0]
        axes = [int(a) for a in call.attrs.axes] if call.attrs.axes is not None else None
        if not (isinstance(x, relax.Var) and x in self.split and axes == [0, 2, 1, 3, 4]):
            return None
        return self.bb.emit(R.permute_dims(self.split[x], (0, 1, 2, 4, 3))), "split"

    # -- driver ------------------------------------------------------------------------------
    def rebuild(self, value: relax.Expr) -> relax.Expr:
        """``value`` with its variables replaced by their NCHW versions."""
        if isinstance(value, relax.Call):
            return relax.Call(value.op, [self.plain(a) for a in value.args], value.attrs, value.ty_args)
        if isinstance(value, relax.TupleGetItem):
            return relax.TupleGetItem(self.plain(value.tuple_value), value.index)
        return self.plain(value)

    def binding(self, binding: relax.VarBinding) -> None:
        value = binding.value
        rule = self.rules.get(value.op.name) if isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.Op) \
            else None
        result = rule(value) if rule else None
        if result is None:
            self.nchw[binding.var] = self.bb.emit(self.rebuild(value), name_hint=binding.var.name)
        else:
            new, layout = result
            tables = {"split": self.split, "pending": self.pending}
            table = tables.get(layout) if isinstance(layout, str) else (self.nhwc if layout else self.nchw)
            table[binding.var] = new


def convert_layout(mod: tvm.IRModule, params: CpuParams) -> tvm.IRModule:
    """Rewrite ``main`` (one dataflow block, as ``lower.to_relax`` makes it) to NHWC kernels."""
    func = mod["main"]
    body = func.body
    if len(body.blocks) != 1 or not isinstance(body.blocks[0], relax.DataflowBlock):
        return mod
    rest = tvm.IRModule({gv: f for gv, f in mod.functions.items() if gv.name_hint != "main"})
    bb = relax.BlockBuilder(rest)
    rewriter = _Rewriter(bb, params)
    with bb.function("main", list(func.params), attrs=dict(func.attrs) if func.attrs else None):
        with bb.dataflow():
            for binding in body.blocks[0].bindings:
                rewriter.binding(binding)
            out = bb.emit_output(rewriter.plain(body.body))
        bb.emit_func_output(out)
    return bb.get()
