"""Elementwise ops: activations, arithmetic with numpy broadcasting, softmax, casts.

References compute in the input's dtype (float32 stays float32), as the compiled kernels do.
"""

from __future__ import annotations

import numpy as np

from ..types import DTYPES, TensorType
from .registry import REQUIRED, InferError, broadcast_shapes, define, norm_axis, require_float, same_dtype


def _same(types, attrs):
    return [types[0]]


def _same_float(types, attrs):
    require_float(types[0])
    return [TensorType(types[0].shape, types[0].dtype)]


def _unary(name: str, fn, floats_only: bool = True, attrs=None, doc: str = "") -> None:
    def reference(xs, a):
        return [np.asarray(fn(xs[0], a)).astype(xs[0].dtype, copy=False)]

    define(name, infer=_same_float if floats_only else _same, reference=reference, attrs=attrs, doc=doc)


def _sigmoid(x):
    return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(x.dtype)


_unary("identity", lambda x, a: x, floats_only=False, doc="y = x (Identity, inference-time Dropout)")
_unary("relu", lambda x, a: np.maximum(x, 0), floats_only=False, doc="y = max(x, 0)")
_unary("sigmoid", lambda x, a: _sigmoid(x), doc="y = 1 / (1 + exp(-x))")
_unary("tanh", lambda x, a: np.tanh(x), doc="y = tanh(x)")
_unary("exp", lambda x, a: np.exp(x), doc="y = exp(x)")
_unary("sqrt", lambda x, a: np.sqrt(x), doc="y = sqrt(x)")
_unary("neg", lambda x, a: np.negative(x), floats_only=False, doc="y = -x")
_unary("abs", lambda x, a: np.abs(x), floats_only=False, doc="y = |x|")
_unary("leaky_relu", lambda x, a: np.where(x >= 0, x, x * x.dtype.type(a["alpha"])),
       attrs={"alpha": 0.01}, doc="y = x if x >= 0 else alpha * x")
_unary("clip", lambda x, a: np.clip(x, x.dtype.type(a["min"]), x.dtype.type(a["max"])), floats_only=False,
       attrs={"min": float("-inf"), "max": float("inf")}, doc="y = min(max(x, min), max)")
_unary("hard_sigmoid", lambda x, a: np.clip(x * x.dtype.type(a["alpha"]) + x.dtype.type(a["beta"]), 0, 1),
       attrs={"alpha": 0.2, "beta": 0.5}, doc="y = clip(alpha * x + beta, 0, 1)")
_unary("hard_swish", lambda x, a: x * np.clip(x / x.dtype.type(6) + x.dtype.type(0.5), 0, 1),
       doc="y = x * clip(x / 6 + 1/2, 0, 1)")


def _softmax_infer(types, attrs):
    require_float(types[0])
    norm_axis(attrs["axis"], types[0].rank)
    return [types[0]]


def _softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


define("softmax", infer=_softmax_infer, reference=lambda xs, a: [_softmax(xs[0], a["axis"])],
       attrs={"axis": -1}, doc="softmax along one axis")
define("log_softmax", infer=_softmax_infer, reference=lambda xs, a: [_log_softmax(xs[0], a["axis"])],
       attrs={"axis": -1}, doc="log(softmax(x)) along one axis")


def _cast_infer(types, attrs):
    if attrs["to"] not in DTYPES:
        raise InferError(f"cannot cast to {attrs['to']!r}")
    return [TensorType(types[0].shape, attrs["to"])]


define("cast", infer=_cast_infer, reference=lambda xs, a: [xs[0].astype(a["to"])], attrs={"to": REQUIRED},
       doc="convert to another dtype (float -> int truncates toward zero)")


# -- binary ops with numpy broadcasting ---------------------------------------------------
def _binary_infer(types, attrs):
    return [TensorType(broadcast_shapes(*(t.shape for t in types)), same_dtype(types))]


def _int_div(a, b):
    return np.trunc(np.true_divide(a, b)).astype(a.dtype)


def _binary(name: str, fn, doc: str) -> None:
    define(name, infer=_binary_infer, inputs=2, doc=doc,
           reference=lambda xs, a: [np.asarray(fn(xs[0], xs[1])).astype(xs[0].dtype, copy=False)])


_binary("add", np.add, "a + b")
_binary("sub", np.subtract, "a - b")
_binary("mul", np.multiply, "a * b")
_binary("div", lambda a, b: np.divide(a, b) if a.dtype.kind == "f" else _int_div(a, b),
        "a / b (integers truncate toward zero)")
_binary("maximum", np.maximum, "max(a, b)")
_binary("minimum", np.minimum, "min(a, b)")
_binary("pow", np.power, "a ** b")


def _sum_ref(xs, a):
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return [np.asarray(total).astype(xs[0].dtype, copy=False)]


define("sum", infer=_binary_infer, reference=_sum_ref, inputs=(1, None), doc="a + b + ... (variadic)")
