"""Converters for ONNX layers: Conv, ConvTranspose, Gemm, MatMul, BatchNormalization, LRN.

ONNX's conveniences are resolved here so IR ops carry plain numbers: ``auto_pad`` and
``output_shape`` become explicit pads, a missing ``kernel_shape`` comes from the weight, and
Gemm's transposes and alpha/beta fold into constants where the weights are constant.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..context import ImportContext, converter


def window_attrs(ctx: ImportContext, attrs: dict[str, Any], nd: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Strides and dilations of a windowed ONNX op, defaults filled in for ``nd`` spatial dims."""
    strides = tuple(attrs.get("strides") or (1,) * nd)
    dilations = tuple(attrs.get("dilations") or (1,) * nd)
    if len(strides) != nd or len(dilations) != nd:
        raise ctx.error(f"strides {list(strides)} / dilations {list(dilations)} do not fit {nd} spatial dims")
    return strides, dilations


def auto_pads(ctx: ImportContext, attrs: dict[str, Any], spatial: Sequence[int], kernel: Sequence[int],
              strides: Sequence[int], dilations: Sequence[int]) -> tuple[int, ...]:
    """Explicit ONNX pads (begins then ends) for a forward windowed op, resolving ``auto_pad``."""
    nd = len(spatial)
    mode = attrs.get("auto_pad", "NOTSET") or "NOTSET"
    if mode == "NOTSET":
        pads = tuple(attrs.get("pads") or (0,) * (2 * nd))
        if len(pads) != 2 * nd:
            raise ctx.error(f"pads {list(pads)} do not fit {nd} spatial dims (need {2 * nd} values)")
        return pads
    if mode == "VALID":
        return (0,) * (2 * nd)
    if mode not in ("SAME_UPPER", "SAME_LOWER"):
        raise ctx.error(f"unknown auto_pad '{mode}' (expected NOTSET, SAME_UPPER, SAME_LOWER or VALID)")
    totals = [max(0, (-(-spatial[i] // strides[i]) - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1
                  - spatial[i]) for i in range(nd)]
    return split_pads(totals, more_at_end=mode == "SAME_UPPER")


def split_pads(totals: Sequence[int], more_at_end: bool) -> tuple[int, ...]:
    """Split total paddings into (begins..., ends...); an odd pixel goes to the end or the begin."""
    small = [t // 2 for t in totals]
    large = [t - t // 2 for t in totals]
    return tuple(small + large) if more_at_end else tuple(large + small)


def kernel_of(ctx: ImportContext, attrs: dict[str, Any], weight: str) -> tuple[int, ...]:
    """The kernel shape: the weight's spatial dims, which ``kernel_shape`` (if given) must match."""
    kernel = ctx.type(weight).shape[2:]
    given = attrs.get("kernel_shape")
    if given is not None and tuple(given) != kernel:
        raise ctx.error(f"kernel_shape {list(given)} does not match weight shape {list(ctx.type(weight).shape)}")
    return kernel


def _conv_inputs(ctx: ImportContext, ins: list[str | None]) -> tuple[str, str, list[str]]:
    x, w = ins[0], ins[1]
    if ctx.type(x).rank < 3 or ctx.type(w).rank != ctx.type(x).rank:
        raise ctx.error(f"needs input [N, C, D1, ...] and weight of the same rank, got {ctx.type(x)} "
                        f"and {ctx.type(w)}")
    bias = [ins[2]] if len(ins) > 2 and ins[2] else []
    return x, w, [x, w] + bias


@converter("Conv")
def conv(ctx, node, ins, attrs):
    x, w, inputs = _conv_inputs(ctx, ins)
    spatial = ctx.type(x).shape[2:]
    kernel = kernel_of(ctx, attrs, w)
    strides, dilations = window_attrs(ctx, attrs, len(spatial))
    pads = auto_pads(ctx, attrs, spatial, kernel, strides, dilations)
    return [ctx.emit("conv", inputs, {"strides": strides, "pads": pads, "dilations": dilations,
                                      "groups": int(attrs.get("group", 1))})]


@converter("ConvTranspose")
def conv_transpose(ctx, node, ins, attrs):
    x, w, inputs = _conv_inputs(ctx, ins)
    spatial = ctx.type(x).shape[2:]
    nd = len(spatial)
    kernel = kernel_of(ctx, attrs, w)
    strides, dilations = window_attrs(ctx, attrs, nd)
    out_pad = list(attrs.get("output_padding") or (0,) * nd)
    if len(out_pad) != nd:
        raise ctx.error(f"output_padding {out_pad} does not fit {nd} spatial dims")
    full = [strides[i] * (spatial[i] - 1) + out_pad[i] + dilations[i] * (kernel[i] - 1) + 1 for i in range(nd)]
    mode = attrs.get("auto_pad", "NOTSET") or "NOTSET"
    target = attrs.get("output_shape")
    if target is None and mode in ("SAME_UPPER", "SAME_LOWER"):
        target = [spatial[i] * strides[i] for i in range(nd)]
    if target is not None:
        pads = _transpose_pads(ctx, list(target)[-nd:], full, out_pad, mode)
    elif mode == "VALID":
        pads = (0,) * (2 * nd)
    else:
        pads = auto_pads(ctx, attrs, spatial, kernel, strides, dilations)
    return [ctx.emit("conv_transpose", inputs, {"strides": strides, "pads": pads, "dilations": dilations,
                                                "groups": int(attrs.get("group", 1)),
                                                "output_padding": tuple(out_pad)})]


def _transpose_pads(ctx: ImportContext, target: list[int], full: list[int], out_pad: list[int],
                    mode: str) -> tuple[int, ...]:
    """Pads that make a ConvTranspose produce ``target`` (as onnxruntime computes them).

    A target larger than the full output grows ``out_pad`` (zeros past the last input pixel).
    """
    if len(target) != len(full):
        raise ctx.error(f"output_shape {target} does not fit {len(full)} spatial dims")
    totals = [f - t for f, t in zip(full, target)]
    for i, total in enumerate(totals):
        if total < 0:
            out_pad[i] -= total
    return split_pads([max(t, 0) for t in totals], more_at_end=mode == "SAME_UPPER")


# -- Gemm / MatMul ------------------------------------------------------------------------
def _scaled(array: np.ndarray, factor: float, dtype: str) -> np.ndarray:
    return (array.astype(np.float64) * factor).astype(dtype) if factor != 1.0 else array.astype(dtype)


def _scale(ctx: ImportContext, value: str, factor: float) -> str:
    """``value * factor`` as an IR mul (folds when ``value`` is constant)."""
    if factor == 1.0:
        return value
    return ctx.emit("mul", [value, ctx.add_const(np.array(factor, dtype=ctx.type(value).dtype), "alpha")])


@converter("Gemm")
def gemm(ctx, node, ins, attrs):
    """Y = alpha * A' @ B' + beta * C: dense with a folded weight when B is constant, else matmul."""
    a, b = ins[0], ins[1]
    c = ins[2] if len(ins) > 2 and ins[2] else None
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    if ctx.type(a).rank != 2 or ctx.type(b).rank != 2:
        raise ctx.error(f"needs 2-D A and B, got {ctx.type(a)} and {ctx.type(b)}")
    if c is not None and beta == 0.0:
        c = None
    if attrs.get("transA", 0):
        a = ctx.emit("transpose", [a], {"perm": (1, 0)}, hint=f"{node.output[0]}_at")
    if ctx.is_const(b):
        weight = ctx.const(b, "B") if attrs.get("transB", 0) else ctx.const(b, "B").T
        inputs = [a, ctx.add_const(_scaled(weight, alpha, ctx.type(a).dtype), f"{b}_w")]
        bias = _gemm_bias(ctx, c, beta, weight.shape[0])
        y = ctx.emit("dense", inputs + ([bias] if bias else []))
        c = None if bias else c
    else:
        if attrs.get("transB", 0):
            b = ctx.emit("transpose", [b], {"perm": (1, 0)}, hint=f"{node.output[0]}_bt")
        y = _scale(ctx, ctx.emit("matmul", [a, b]), alpha)
    return [ctx.emit("add", [y, _scale(ctx, c, beta)]) if c is not None else y]


def _gemm_bias(ctx: ImportContext, c: str | None, beta: float, n: int) -> str | None:
    """beta * C as a dense bias [N], when C is constant and the same for every row."""
    if c is None or not ctx.is_const(c):
        return None
    value = ctx.const(c, "C")
    if value.ndim > 2 or (value.ndim == 2 and value.shape[0] != 1) or value.size not in (1, n):
        return None
    row = np.broadcast_to(value.reshape(-1), (n,))
    return ctx.add_const(_scaled(row, beta, ctx.type(c).dtype), f"{c}_bias")


@converter("MatMul")
def matmul(ctx, node, ins, attrs):
    """numpy matmul; a constant 2-D right operand makes a dense layer (weight stored [N, K])."""
    a, b = ins[0], ins[1]
    bt = ctx.type(b)
    if ctx.is_const(b) and bt.rank == 2 and not ctx.is_const(a) and ctx.type(a).shape[-1:] == bt.shape[:1]:
        return [ctx.emit("dense", [a, ctx.add_const(ctx.const(b, "B").T, f"{b}_t")])]
    return [ctx.emit("matmul", [a, b])]


# -- normalization ------------------------------------------------------------------------
@converter("BatchNormalization")
def batch_norm(ctx, node, ins, attrs):
    if attrs.get("training_mode", 0) or any(node.output[1:]):
        raise ctx.error("is in training mode (it computes batch statistics); edgec compiles inference graphs, "
                        "export the model in eval mode")
    x = ins[0]
    channels = ctx.type(x).shape[1] if ctx.type(x).rank >= 2 else None
    if not attrs.get("spatial", 1) and any(ctx.type(i).shape != (channels,) for i in ins[1:5]):
        raise ctx.error("spatial=0 (per-activation statistics) is not supported")
    params = [_as_dtype(ctx, p, ctx.type(x).dtype) for p in ins[1:5]]
    return [ctx.emit("batch_norm", [x] + params, {"epsilon": float(attrs.get("epsilon", 1e-5))})]


def _as_dtype(ctx: ImportContext, value: str, dtype: str) -> str:
    """Opset 15 lets BatchNormalization's parameters have another float type than X."""
    return value if ctx.type(value).dtype == dtype else ctx.emit("cast", [value], {"to": dtype})


@converter("LRN")
def lrn(ctx, node, ins, attrs):
    if "size" not in attrs:
        raise ctx.error("needs the 'size' attribute")
    return [ctx.emit("lrn", [ins[0]], {"size": int(attrs["size"]), "alpha": float(attrs.get("alpha", 1e-4)),
                                       "beta": float(attrs.get("beta", 0.75)),
                                       "bias": float(attrs.get("bias", 1.0))})]
