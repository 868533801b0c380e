"""Neural-network layers: convolution, dense/matmul, normalization (pooling is in ``pooling.py``).

Layout is channels-first (N, C, spatial...) as in ONNX; spatial rank is taken from the
input, so 1-D, 2-D and 3-D variants share one op. ``pads`` follow ONNX order:
(begin_1, ..., begin_n, end_1, ..., end_n). References accumulate in float64 (int64 for
integers) and round once, so they are the most accurate result the kernels can aim for.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..types import TensorType
from .registry import REQUIRED, InferError, define, same_dtype


def _acc_dtype(dtype) -> type:
    return np.float64 if np.dtype(dtype).kind == "f" else np.int64


def spatial_attrs(attrs: dict, nd: int) -> tuple[tuple, tuple, tuple]:
    """Strides, pads and dilations of a windowed op, defaults filled in for ``nd`` dims."""
    strides = tuple(attrs.get("strides") or (1,) * nd)
    pads = tuple(attrs.get("pads") or (0,) * (2 * nd))
    dilations = tuple(attrs.get("dilations") or (1,) * nd)
    if len(strides) != nd or len(pads) != 2 * nd or len(dilations) != nd:
        raise InferError(f"strides/pads/dilations {strides}/{pads}/{dilations} do not fit {nd} spatial dims")
    if min(strides + dilations) < 1 or min(pads) < 0:
        raise InferError(f"strides and dilations must be >= 1 and pads >= 0, got {strides}/{dilations}/{pads}")
    return strides, pads, dilations


def window_out_size(size: int, k: int, s: int, pb: int, pe: int, d: int = 1, ceil: bool = False) -> int:
    span = size + pb + pe - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= size + pb:  # the last window must start inside the input or left pad
        out -= 1
    if out < 1:
        raise InferError(f"window of size {k} (dilation {d}) does not fit input size {size} with pads {pb},{pe}")
    return out


# -- conv ---------------------------------------------------------------------------------
def _conv_infer(types, attrs):
    x, w = types[0], types[1]
    if x.rank < 3 or w.rank != x.rank:
        raise InferError(f"conv needs input and weight of the same rank >= 3, got {x} and {w}")
    nd = x.rank - 2
    strides, pads, dilations = spatial_attrs(attrs, nd)
    groups = attrs["groups"]
    n, c = x.shape[:2]
    m, cg = w.shape[:2]
    if groups < 1 or c % groups or m % groups or cg * groups != c:
        raise InferError(f"conv with groups={groups}: input channels {c} and weight {list(w.shape)} disagree")
    if len(types) == 3 and types[2].shape != (m,):
        raise InferError(f"conv bias must have shape [{m}], got {list(types[2].shape)}")
    spatial = [window_out_size(x.shape[2 + i], w.shape[2 + i], strides[i], pads[i], pads[nd + i], dilations[i])
               for i in range(nd)]
    return [TensorType((n, m, *spatial), same_dtype(types))]


def conv_reference(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, strides, pads, dilations,
                   groups: int) -> np.ndarray:
    nd = x.ndim - 2
    acc = _acc_dtype(x.dtype)
    xp = np.pad(x.astype(acc), [(0, 0), (0, 0)] + [(pads[i], pads[nd + i]) for i in range(nd)])
    n, c = x.shape[:2]
    m, cg = w.shape[:2]
    ksize = w.shape[2:]
    out_sp = [(xp.shape[2 + i] - dilations[i] * (ksize[i] - 1) - 1) // strides[i] + 1 for i in range(nd)]
    xg = xp.reshape(n, groups, cg, *xp.shape[2:])
    wg = w.astype(acc).reshape(groups, m // groups, cg, *ksize)
    out = np.zeros((n, groups, m // groups, *out_sp), dtype=acc)
    for k in itertools.product(*(range(s) for s in ksize)):
        window = tuple(slice(k[i] * dilations[i], k[i] * dilations[i] + (out_sp[i] - 1) * strides[i] + 1,
                             strides[i]) for i in range(nd))
        patch = xg[(slice(None), slice(None), slice(None)) + window]  # n, g, cg, *out_sp
        out += np.einsum("ngc...,gmc->ngm...", patch, wg[(Ellipsis,) + k])
    out = out.reshape(n, m, *out_sp)
    if b is not None:
        out += b.astype(acc).reshape(m, *([1] * nd))
    return out.astype(x.dtype)


def _conv_ref(xs, a):
    x, w = xs[0], xs[1]
    strides, pads, dilations = spatial_attrs(a, x.ndim - 2)
    return [conv_reference(x, w, xs[2] if len(xs) == 3 else None, strides, pads, dilations, a["groups"])]


def _conv_macs(ins, outs, a):
    w = ins[1]
    return outs[0].size * int(np.prod(w.shape[1:]))


define("conv", infer=_conv_infer, reference=_conv_ref, inputs=(2, 3), macs=_conv_macs, fusable=True,
       attrs={"strides": (), "pads": (), "dilations": (), "groups": 1},
       doc="y = conv(x, w) + b; x [N,C,*S], w [M,C/groups,*K], bias [M] optional")


# -- conv_transpose -----------------------------------------------------------------------
def _conv_transpose_geometry(attrs: dict, nd: int) -> tuple[tuple, ...]:
    """Strides, pads, dilations and output_padding of a conv_transpose with ``nd`` spatial dims."""
    strides, pads, dilations = spatial_attrs(attrs, nd)
    out_pad = tuple(attrs["output_padding"] or (0,) * nd)
    if len(out_pad) != nd or min(out_pad) < 0:
        raise InferError(f"output_padding {out_pad} does not fit {nd} spatial dims")
    return strides, pads, dilations, out_pad


def _conv_transpose_infer(types, attrs):
    x, w = types[0], types[1]
    if x.rank < 3 or w.rank != x.rank:
        raise InferError(f"conv_transpose needs input and weight of the same rank >= 3, got {x} and {w}")
    nd = x.rank - 2
    strides, pads, dilations, out_pad = _conv_transpose_geometry(attrs, nd)
    groups = attrs["groups"]
    n, c = x.shape[:2]
    m = w.shape[1] * groups
    if groups < 1 or c % groups or w.shape[0] != c:
        raise InferError(f"conv_transpose with groups={groups}: input channels {c} and weight {list(w.shape)} "
                         "disagree (weight is [C, M/groups, *K])")
    if len(types) == 3 and types[2].shape != (m,):
        raise InferError(f"conv_transpose bias must have shape [{m}], got {list(types[2].shape)}")
    spatial = [strides[i] * (x.shape[2 + i] - 1) + out_pad[i] + dilations[i] * (w.shape[2 + i] - 1) + 1
               - pads[i] - pads[nd + i] for i in range(nd)]
    if min(spatial) < 1:
        raise InferError(f"conv_transpose output size {spatial} is empty (pads {list(pads)} too large)")
    return [TensorType((n, m, *spatial), same_dtype(types))]


def _conv_transpose_ref(xs, a):
    """Scatter form: input pixel i adds x[i] * w[k] to output pixel i*s + k*d - pad_begin."""
    x, w = xs[0], xs[1]
    nd = x.ndim - 2
    strides, pads, dilations, out_pad = _conv_transpose_geometry(a, nd)
    groups = a["groups"]
    acc = _acc_dtype(x.dtype)
    n, c = x.shape[:2]
    mg, ksize = w.shape[1], w.shape[2:]
    full = [strides[i] * (x.shape[2 + i] - 1) + dilations[i] * (ksize[i] - 1) + 1 for i in range(nd)]
    out_sp = [full[i] + out_pad[i] - pads[i] - pads[nd + i] for i in range(nd)]
    size = [max(full[i], pads[i] + out_sp[i]) for i in range(nd)]  # output_padding may reach past `full`
    buf = np.zeros((n, groups, mg, *size), dtype=acc)
    xg = x.astype(acc).reshape(n, groups, c // groups, *x.shape[2:])
    wg = w.astype(acc).reshape(groups, c // groups, mg, *ksize)
    for k in itertools.product(*(range(s) for s in ksize)):
        window = tuple(slice(k[i] * dilations[i], k[i] * dilations[i] + (x.shape[2 + i] - 1) * strides[i] + 1,
                             strides[i]) for i in range(nd))
        buf[(slice(None),) * 3 + window] += np.einsum("ngc...,gcm->ngm...", xg, wg[(Ellipsis,) + k])
    out = buf[(slice(None),) * 3 + tuple(slice(pads[i], pads[i] + out_sp[i]) for i in range(nd))]
    out = out.reshape(n, groups * mg, *out_sp)
    if len(xs) == 3:
        out = out + xs[2].astype(acc).reshape(groups * mg, *([1] * nd))
    return [out.astype(x.dtype)]


define("conv_transpose", infer=_conv_transpose_infer, reference=_conv_transpose_ref, inputs=(2, 3), fusable=True,
       macs=lambda ins, outs, a: ins[0].size * int(np.prod(ins[1].shape[1:])),
       attrs={"strides": (), "pads": (), "dilations": (), "groups": 1, "output_padding": ()},
       doc="transposed (fractionally strided) conv; x [N,C,*S], w [C,M/groups,*K], bias [M] optional; "
           "output size s*(in-1) + output_padding + d*(k-1) + 1 - pad_begin - pad_end")


# -- dense / matmul -----------------------------------------------------------------------
def _dense_infer(types, attrs):
    x, w = types[0], types[1]
    if w.rank != 2 or x.rank < 1 or x.shape[-1] != w.shape[1]:
        raise InferError(f"dense needs x [..., K] and weight [N, K], got {x} and {w}")
    if len(types) == 3 and types[2].shape != (w.shape[0],):
        raise InferError(f"dense bias must have shape [{w.shape[0]}], got {list(types[2].shape)}")
    return [TensorType((*x.shape[:-1], w.shape[0]), same_dtype(types))]


def _dense_ref(xs, a):
    acc = _acc_dtype(xs[0].dtype)
    y = xs[0].astype(acc) @ xs[1].astype(acc).T
    if len(xs) == 3:
        y = y + xs[2].astype(acc)
    return [y.astype(xs[0].dtype)]


define("dense", infer=_dense_infer, reference=_dense_ref, inputs=(2, 3), fusable=True,
       macs=lambda ins, outs, a: outs[0].size * ins[1].shape[1],
       doc="y = x @ w.T + b; x [..., K], w [N, K], bias [N] optional (ONNX Gemm, Linear)")


def _matmul_infer(types, attrs):
    a, b = types
    try:
        shape = np.matmul(np.empty(a.shape, np.int8), np.empty(b.shape, np.int8)).shape
    except ValueError:
        raise InferError(f"matmul shapes {list(a.shape)} and {list(b.shape)} do not match") from None
    return [TensorType(shape, same_dtype(types))]


def _matmul_ref(xs, a):
    acc = _acc_dtype(xs[0].dtype)
    return [np.matmul(xs[0].astype(acc), xs[1].astype(acc)).astype(xs[0].dtype)]


define("matmul", infer=_matmul_infer, reference=_matmul_ref, inputs=2, fusable=True,
       macs=lambda ins, outs, a: max(outs[0].size, 1) * ins[0].shape[-1],
       doc="numpy matmul semantics: batched, broadcasting, 1-D operands promoted")


# -- normalization ------------------------------------------------------------------------
def _batch_norm_infer(types, attrs):
    x = types[0]
    if x.rank < 2:
        raise InferError(f"batch_norm needs an input [N, C, ...], got {x}")
    for name, t in zip(("scale", "bias", "mean", "var"), types[1:]):
        if t.shape != (x.shape[1],):
            raise InferError(f"batch_norm {name} must have shape [{x.shape[1]}], got {list(t.shape)}")
    if not x.dtype.startswith("float"):
        raise InferError(f"batch_norm input must be a float tensor, got {x.dtype}")
    return [TensorType(x.shape, same_dtype(types))]


def batch_norm_affine(scale, bias, mean, var, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (a, b) in float64 with batch_norm(x) = a * x + b (also used to fold it into convs)."""
    a = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + epsilon)
    return a, bias.astype(np.float64) - mean.astype(np.float64) * a


def _batch_norm_ref(xs, a):
    x = xs[0]
    mul, add = batch_norm_affine(*xs[1:], a["epsilon"])
    shape = (x.shape[1],) + (1,) * (x.ndim - 2)
    return [(x.astype(np.float64) * mul.reshape(shape) + add.reshape(shape)).astype(x.dtype)]


define("batch_norm", infer=_batch_norm_infer, reference=_batch_norm_ref, inputs=5, attrs={"epsilon": 1e-5},
       macs=lambda ins, outs, a: outs[0].size,
       doc="inference batch norm over axis 1: (x - mean) / sqrt(var + epsilon) * scale + bias")


def _lrn_infer(types, attrs):
    x = types[0]
    if x.rank < 3 or not x.dtype.startswith("float"):
        raise InferError(f"lrn needs a float input [N, C, D1, ...], got {x}")
    if attrs["size"] < 1:
        raise InferError(f"lrn size must be >= 1, got {attrs['size']}")
    return [x]


def lrn_window(size: int) -> tuple[int, int]:
    """Channels before and after c in the LRN window (ONNX: floor((size-1)/2), ceil((size-1)/2))."""
    return (size - 1) // 2, size // 2


def _lrn_ref(xs, a):
    x = xs[0].astype(np.float64)
    before, after = lrn_window(a["size"])
    sq = np.pad(x * x, [(0, 0), (before, after)] + [(0, 0)] * (x.ndim - 2))
    total = sum(sq[:, i:i + x.shape[1]] for i in range(a["size"]))
    return [(x / (a["bias"] + a["alpha"] / a["size"] * total) ** a["beta"]).astype(xs[0].dtype)]


define("lrn", infer=_lrn_infer, reference=_lrn_ref,
       attrs={"size": REQUIRED, "alpha": 1e-4, "beta": 0.75, "bias": 1.0},
       doc="local response norm across channels: x / (bias + alpha/size * sum of x^2 in window)^beta")
