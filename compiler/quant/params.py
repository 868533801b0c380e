"""Choosing quantization parameters: affine per-tensor for activations, symmetric per-channel
for weights, int32 biases, and the fixed-point multipliers that connect them.

    activation:  real = scale * (q - zp),  q in [-128, 127] (int8) or [0, 255] (uint8)
    weight:      real = w_scale[c] * q,     q in [-127, 127]  (symmetric, zp 0)
    bias:        q = round(real / (x_scale * w_scale[c]))  in int32
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.ops.fixed_point import dtype_range, quantize_multiplier, quantize_multipliers


@dataclass(frozen=True)
class Affine:
    scale: float
    zp: int
    dtype: str = "int8"

    def quantize(self, value: float) -> int:
        lo, hi = dtype_range(self.dtype)
        return int(np.clip(np.rint(value / self.scale) + self.zp, lo, hi))


def activation_params(lo: float, hi: float, dtype: str = "int8") -> Affine:
    """The affine int8/uint8 grid covering [lo, hi] (widened to include 0, so zero is exact)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-8:
        hi = lo + 1e-8
    qmin, qmax = dtype_range(dtype)
    scale = (hi - lo) / (qmax - qmin)
    zp = int(np.clip(round(qmin - lo / scale), qmin, qmax))
    return Affine(scale, zp, dtype)


def weight_scales(w: np.ndarray, axis: int = 0) -> np.ndarray:
    """Symmetric per-channel scales max|w| / 127 along ``axis`` (all-zero channels get 1.0)."""
    moved = np.moveaxis(np.asarray(w, dtype=np.float64), axis, 0)
    peak = np.abs(moved.reshape(moved.shape[0], -1)).max(axis=1)
    return np.where(peak > 0, peak / 127.0, 1.0)


# The finest accumulator step (x_scale * w_scale[c]) a layer may use, relative to its output step:
# far below anything rounding can see, yet keeps the requantization multiplier inside its
# fixed-point range (a smaller one flushes to 0, and the whole channel with it).
MIN_ACC_STEP_RELATIVE = 2.0 ** -24
BIAS_HEADROOM = 2 ** 30  # |bias_q| stays below this, well inside int32


def layer_weight_scales(w: np.ndarray, bias: np.ndarray | None, x_scale: float, out_scale: float) -> np.ndarray:
    """Per-output-channel weight scales (axis 0) for a layer, floored so that each channel stays exact.

    A channel whose weights are (nearly) all zero, e.g. a dead channel after batch-norm folding,
    computes ``relu(bias)``: a constant that later layers rely on. ``max|w| / 127`` would give it
    a scale so small that its bias overflows int32 and its multiplier rounds to zero. The floor
    keeps the accumulator step at least ``out_scale * 2^-24`` and ``|bias| / 2^30``; the tiny
    weights then quantize to 0, which changes the output by less than they are worth.
    """
    scales = weight_scales(w, 0)
    bias_abs = np.zeros_like(scales) if bias is None else np.abs(np.asarray(bias, np.float64)).reshape(-1)
    floor = np.maximum(out_scale * MIN_ACC_STEP_RELATIVE, bias_abs / BIAS_HEADROOM) / x_scale
    return np.maximum(scales, floor)


def quantize_weights(w: np.ndarray, scales: np.ndarray, axis: int = 0) -> np.ndarray:
    shape = [1] * w.ndim
    shape[axis] = -1
    return np.clip(np.rint(w / scales.reshape(shape)), -127, 127).astype(np.int8)


def quantize_bias(bias: np.ndarray | None, x_scale: float, w_scales: np.ndarray) -> np.ndarray:
    if bias is None:
        return np.zeros(len(w_scales), np.int32)
    q = np.rint(np.asarray(bias, np.float64) / (x_scale * w_scales))
    return np.clip(q, -(2 ** 31), 2 ** 31 - 1).astype(np.int32)


def layer_multipliers(x_scale: float, w_scales: np.ndarray, out_scale: float) -> tuple[np.ndarray, np.ndarray]:
    return quantize_multipliers(x_scale * w_scales / out_scale)


def add_multipliers(a_scale: float, b_scale: float, out_scale: float) -> tuple[int, int, int]:
    """(a_mult, b_mult, shift): both inputs rescaled to the output with one common shift."""
    ra, rb = a_scale / out_scale, b_scale / out_scale
    big, shift = quantize_multiplier(max(ra, rb))
    small = int(round(min(ra, rb) * 2.0 ** shift))
    return (big, small, shift) if ra >= rb else (small, big, shift)


def requantize_multiplier(in_scale: float, out_scale: float) -> tuple[int, int]:
    return quantize_multiplier(in_scale / out_scale)
