"""Layer ops in the IR: type inference, MAC counts, errors, and the numpy references checked
against naive loop implementations written from the ONNX operator definitions."""

import itertools

import numpy as np
import pytest

from compiler.ir.ops import InferError, get, infer_types
from compiler.ir.types import TensorType
from tests.oracle import rand


def f32(*shape):
    return TensorType(shape, "float32")


def reference(op, xs, **attrs):
    opdef = get(op)
    return opdef.reference(xs, opdef.full_attrs(attrs))[0]


def macs(op, ins, **attrs):
    opdef = get(op)
    full = opdef.full_attrs(attrs)
    return opdef.macs(ins, infer_types(op, ins, full), full)


# -- type inference -----------------------------------------------------------------------
@pytest.mark.parametrize("op,ins,attrs,shape", [
    ("conv", [f32(2, 3, 9, 7), f32(5, 3, 3, 2)], {"strides": (2, 1), "pads": (1, 0, 2, 1)}, (2, 5, 5, 7)),
    ("conv", [f32(1, 6, 7), f32(6, 1, 3)], {"groups": 6, "dilations": (2,)}, (1, 6, 3)),
    ("conv_transpose", [f32(1, 3, 5, 5), f32(3, 2, 3, 3)], {"strides": (2, 2)}, (1, 2, 11, 11)),
    ("conv_transpose", [f32(1, 4, 5), f32(4, 3, 3)], {"groups": 2, "strides": (2,), "pads": (1, 0),
                                                     "output_padding": (1,)}, (1, 6, 11)),
    ("conv_transpose", [f32(1, 2, 4, 4, 4), f32(2, 1, 2, 2, 2)], {"dilations": (2, 1, 1)}, (1, 1, 6, 5, 5)),
    ("max_pool", [f32(1, 2, 7, 7)], {"kernel_shape": (3, 3), "strides": (2, 2), "ceil_mode": 1}, (1, 2, 3, 3)),
    ("max_pool", [f32(1, 2, 6, 6)], {"kernel_shape": (2, 2), "strides": (2, 2), "pads": (1, 1, 1, 1),
                                     "ceil_mode": 1}, (1, 2, 4, 4)),
    # ceil_mode's extra window would start in the end padding: onnxruntime drops it
    ("avg_pool", [f32(1, 1, 5)], {"kernel_shape": (2,), "strides": (2,), "pads": (0, 1), "ceil_mode": 1},
     (1, 1, 3)),
    ("avg_pool", [f32(1, 1, 5)], {"kernel_shape": (2,), "strides": (2,), "pads": (0, 1)}, (1, 1, 3)),
    ("global_avg_pool", [f32(2, 3, 4, 5, 6)], {}, (2, 3, 1, 1, 1)),
    ("global_max_pool", [f32(2, 3, 4)], {}, (2, 3, 1)),
    ("batch_norm", [f32(2, 3, 4, 4)] + [f32(3)] * 4, {}, (2, 3, 4, 4)),
    ("lrn", [f32(1, 5, 2, 2)], {"size": 3}, (1, 5, 2, 2)),
])
def test_infer(op, ins, attrs, shape):
    assert infer_types(op, ins, attrs) == [TensorType(shape, "float32")]


@pytest.mark.parametrize("op,ins,attrs,needle", [
    ("conv_transpose", [f32(1, 3, 5, 5), f32(4, 2, 3, 3)], {}, "weight is [C, M/groups, *K]"),
    ("conv_transpose", [f32(1, 3, 5, 5), f32(3, 2, 3, 3), f32(3)], {}, "bias must have shape [2]"),
    ("conv_transpose", [f32(1, 3, 2, 2), f32(3, 2, 1, 1)], {"pads": (1, 1, 1, 1)}, "empty"),
    ("conv_transpose", [f32(1, 3, 2, 2), f32(3, 2, 1, 1)], {"output_padding": (1,)}, "output_padding"),
    ("max_pool", [f32(1, 3, 4, 4)], {"kernel_shape": (5, 5)}, "does not fit"),
    ("max_pool", [f32(1, 3, 4, 4)], {"kernel_shape": (2,)}, "kernel_shape"),
    ("max_pool", [f32(3, 4)], {"kernel_shape": (2,)}, "[N, C, D1, ...]"),
    ("max_pool", [f32(1, 3, 4, 4)], {}, "needs attribute 'kernel_shape'"),
    ("avg_pool", [TensorType((1, 3, 4, 4), "int8")], {"kernel_shape": (2, 2)}, "float"),
    ("global_avg_pool", [f32(3, 4)], {}, "[N, C, D1, ...]"),
    ("batch_norm", [f32(2, 3, 4)] + [f32(3)] * 3 + [f32(4)], {}, "var must have shape [3]"),
    ("lrn", [f32(1, 3, 4)], {"size": 0}, "size"),
])
def test_infer_errors(op, ins, attrs, needle):
    with pytest.raises(InferError) as err:
        infer_types(op, ins, attrs)
    assert needle in str(err.value)


def test_macs():
    assert macs("conv", [f32(1, 4, 8, 8), f32(6, 2, 3, 3)], groups=2, pads=(1, 1, 1, 1)) == 6 * 64 * 2 * 9
    assert macs("conv_transpose", [f32(1, 4, 5, 5), f32(4, 3, 3, 3)], groups=2) == 4 * 25 * 3 * 9
    assert macs("dense", [f32(2, 7), f32(5, 7)]) == 2 * 5 * 7
    assert macs("matmul", [f32(3, 2, 7), f32(7, 4)]) == 3 * 2 * 4 * 7
    assert macs("batch_norm", [f32(2, 3, 4)] + [f32(3)] * 4) == 24


# -- references vs naive loops ------------------------------------------------------------
def naive_conv_transpose(x, w, strides, pads, dilations, groups, out_pad):
    """Every input pixel i adds x[i] * w[k] to output pixel i*s + k*d - pad_begin (ONNX ConvTranspose)."""
    nd = x.ndim - 2
    n, c = x.shape[:2]
    mg, ksize = w.shape[1], w.shape[2:]
    out_sp = [strides[i] * (x.shape[2 + i] - 1) + out_pad[i] + dilations[i] * (ksize[i] - 1) + 1 - pads[i]
              - pads[nd + i] for i in range(nd)]
    out = np.zeros((n, mg * groups, *out_sp))
    for b, ci, m in itertools.product(range(n), range(c), range(mg)):
        g = ci // (c // groups)
        for pos in itertools.product(*(range(s) for s in x.shape[2:])):
            for k in itertools.product(*(range(s) for s in ksize)):
                o = tuple(pos[i] * strides[i] + k[i] * dilations[i] - pads[i] for i in range(nd))
                if all(0 <= o[i] < out_sp[i] for i in range(nd)):
                    out[(b, g * mg + m) + o] += x[(b, ci) + pos] * w[(ci, m) + k]
    return out


@pytest.mark.parametrize("x_shape,w_shape,attrs", [
    ((1, 2, 4), (2, 3, 3), {"strides": (2,), "pads": (1, 0), "output_padding": (1,)}),
    ((2, 4, 3), (4, 1, 2), {"groups": 4, "strides": (3,), "dilations": (2,), "output_padding": (2,)}),
    ((1, 2, 3, 4), (2, 2, 3, 2), {"strides": (2, 1), "pads": (1, 0, 0, 1), "dilations": (1, 2)}),
    ((1, 4, 3, 3), (4, 1, 2, 2), {"groups": 2, "strides": (2, 2), "output_padding": (1, 0)}),
])
def test_conv_transpose_reference(x_shape, w_shape, attrs):
    x, w = rand(*x_shape), rand(*w_shape, seed=1)
    full = get("conv_transpose").full_attrs(attrs)
    nd = len(x_shape) - 2
    want = naive_conv_transpose(x, w, full["strides"] or (1,) * nd, full["pads"] or (0,) * 2 * nd,
                                full["dilations"] or (1,) * nd, full["groups"], full["output_padding"] or (0,) * nd)
    np.testing.assert_allclose(reference("conv_transpose", [x, w], **attrs), want, rtol=1e-5, atol=1e-5)


def naive_pool(x, kind, kernel, strides, pads, dilations, out_shape, count_include_pad=False):
    """Per output pixel: the window's positions, which ones are input, which count for the mean."""
    nd = x.ndim - 2
    out = np.zeros(x.shape[:2] + tuple(out_shape))
    for o in itertools.product(*(range(s) for s in out_shape)):
        values, count = [], 0
        for k in itertools.product(*(range(s) for s in kernel)):
            p = [o[i] * strides[i] - pads[i] + k[i] * dilations[i] for i in range(nd)]
            if all(0 <= p[i] < x.shape[2 + i] for i in range(nd)):
                values.append(x[(slice(None), slice(None)) + tuple(p)])
                count += 1
            elif count_include_pad and all(p[i] < x.shape[2 + i] + pads[nd + i] for i in range(nd)):
                count += 1
        stack = np.stack(values)
        out[(slice(None), slice(None)) + o] = stack.max(0) if kind == "max" else stack.sum(0) / count
    return out


@pytest.mark.parametrize("x_shape,attrs", [
    ((1, 2, 7), {"kernel_shape": (3,), "strides": (2,), "pads": (1, 1), "ceil_mode": 1}),
    ((2, 1, 6, 5), {"kernel_shape": (2, 3), "strides": (2, 2), "pads": (1, 0, 1, 2), "ceil_mode": 1}),
    ((1, 2, 7, 8), {"kernel_shape": (3, 2), "dilations": (2, 3), "strides": (1, 2), "pads": (1, 1, 0, 1)}),
    ((1, 1, 4, 5, 3), {"kernel_shape": (2, 2, 2), "strides": (2, 2, 1), "pads": (0, 1, 1, 1, 0, 0),
                       "ceil_mode": 1}),
])
@pytest.mark.parametrize("kind,count_include_pad", [("max", 0), ("avg", 0), ("avg", 1)])
def test_pool_reference(x_shape, attrs, kind, count_include_pad):
    x = rand(*x_shape)
    op = f"{kind}_pool"
    extra = {"count_include_pad": count_include_pad} if kind == "avg" else {}
    full = get(op).full_attrs({**attrs, **extra})
    nd = len(x_shape) - 2
    out_shape = infer_types(op, [TensorType.of(x)], full)[0].shape[2:]
    want = naive_pool(x, kind, full["kernel_shape"], full["strides"] or (1,) * nd, full["pads"] or (0,) * 2 * nd,
                      full["dilations"] or (1,) * nd, out_shape, bool(count_include_pad))
    np.testing.assert_allclose(reference(op, [x], **attrs, **extra), want, rtol=1e-6, atol=1e-6)


def test_max_pool_int8_ignores_padding():
    x = -np.arange(1, 17, dtype=np.int8).reshape(1, 1, 4, 4)
    y = reference("max_pool", [x], kernel_shape=(2, 2), strides=(2, 2), pads=(1, 1, 1, 1))
    assert y.dtype == np.int8 and y[0, 0, 0, 0] == -1 and y[0, 0, -1, -1] == -16


def test_global_pools_reference():
    x = rand(2, 3, 4, 5)
    np.testing.assert_allclose(reference("global_avg_pool", [x]), x.mean(axis=(2, 3), keepdims=True), rtol=1e-6)
    np.testing.assert_array_equal(reference("global_max_pool", [x]), x.max(axis=(2, 3), keepdims=True))


def test_batch_norm_reference():
    x, scale, bias, mean = rand(2, 3, 4), rand(3, seed=1), rand(3, seed=2), rand(3, seed=3)
    var = np.abs(rand(3, seed=4))
    want = (x - mean[:, None]) / np.sqrt(var[:, None] + 1e-3) * scale[:, None] + bias[:, None]
    np.testing.assert_allclose(reference("batch_norm", [x, scale, bias, mean, var], epsilon=1e-3), want, rtol=1e-5)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_lrn_reference(size):
    x = rand(2, 6, 3)
    want = np.empty_like(x, dtype=np.float64)
    for c in range(6):  # ONNX: channels c - floor((size-1)/2) .. c + ceil((size-1)/2), clipped
        lo, hi = max(0, c - int(np.floor((size - 1) / 2))), min(5, c + int(np.ceil((size - 1) / 2)))
        want[:, c] = x[:, c] / (2.0 + 0.1 / size * (x[:, lo:hi + 1].astype(np.float64) ** 2).sum(1)) ** 0.7
    np.testing.assert_allclose(reference("lrn", [x], size=size, alpha=0.1, beta=0.7, bias=2.0), want, rtol=1e-5)
