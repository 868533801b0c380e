"""Integer arithmetic shared by the quantized ops: fixed-point multipliers and rounding.

A real multiplier ``m > 0`` is stored as an int32 ``mult`` in [2^30, 2^31) and an int ``shift``
with ``m ~= mult * 2^-shift``. Requantizing an integer ``p`` then is

    round_half_away_from_zero(p * mult / 2^shift)

computed exactly in int64: ``sign(p) * ((|p * mult| + 2^(shift-1)) >> shift)``. This single
rounding is the whole definition: the numpy reference here, the TVM kernels and the C code for
microcontrollers all compute exactly it, so int8 results are bit-identical everywhere.
"""

from __future__ import annotations

import math

import numpy as np

MIN_SHIFT, MAX_SHIFT = 1, 62  # keeps |p * mult| + 2^(shift-1) inside int64 for |p| < 2^31


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(mult, shift) with real ~= mult / 2^shift, mult in [2^30, 2^31); real == 0 gives (0, 1)."""
    if not math.isfinite(real) or real < 0:
        raise ValueError(f"requantization multiplier must be finite and >= 0, got {real}")
    if real == 0.0:
        return 0, MIN_SHIFT
    mantissa, exponent = math.frexp(real)          # real = mantissa * 2^exponent, mantissa in [0.5, 1)
    mult = round(mantissa * (1 << 31))
    if mult == 1 << 31:                            # rounding reached the next power of two
        mult //= 2
        exponent += 1
    shift = 31 - exponent
    if shift > MAX_SHIFT:                          # too small to matter: scale down the mantissa instead
        mult = round(mult / 2.0 ** (shift - MAX_SHIFT))
        shift = MAX_SHIFT
    if shift < MIN_SHIFT:
        raise ValueError(f"requantization multiplier {real} is too large (>= 2^30)")
    return int(mult), int(shift)


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, dtype=np.float64).reshape(-1)]
    return (np.array([p[0] for p in pairs], dtype=np.int32), np.array([p[1] for p in pairs], dtype=np.int32))


def rounding_shift(p: np.ndarray, shift: np.ndarray | int) -> np.ndarray:
    """round_half_away_from_zero(p / 2^shift) for int64 ``p``, exactly."""
    p = np.asarray(p, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    half = np.left_shift(np.int64(1), shift - 1)
    magnitude = np.right_shift(np.abs(p) + half, shift)
    return np.where(p < 0, -magnitude, magnitude)


def requantize(p: np.ndarray, mult: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """round_half_away_from_zero(p * mult / 2^shift), int64 in and out."""
    return rounding_shift(np.asarray(p, dtype=np.int64) * np.asarray(mult, dtype=np.int64), shift)


def saturate(values: np.ndarray, lo: int, hi: int, dtype: str) -> np.ndarray:
    return np.clip(values, lo, hi).astype(dtype)


def dtype_range(dtype: str) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def rounded_divide(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """round_half_away_from_zero(total / count) for integer arrays, count > 0."""
    total = np.asarray(total, dtype=np.int64)
    count = np.asarray(count, dtype=np.int64)
    magnitude = (np.abs(total) + count // 2) // count
    return np.where(total < 0, -magnitude, magnitude)
