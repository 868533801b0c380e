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


HIGH_WORD_MIN_SHIFT = 33  # below this the rounding half reaches the low word of the product


def high_word_shifts(bound: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(pre, post) shifts for ``requantize_high_word``, or None where 32 bits cannot be proven
    enough. ``bound``: the largest |p| per channel. A shift below 33 is raised to 33 by
    shifting p left first (p * 2^k * mult / 2^(shift + k) is the same number), if p << k still
    fits int32; a zero multiplier gives 0 whatever the shifts."""
    bound, mult, shift = np.broadcast_arrays(*(np.asarray(v, dtype=np.int64) for v in (bound, mult, shift)))
    pre = np.where(mult == 0, 0, np.maximum(HIGH_WORD_MIN_SHIFT - shift, 0))
    if np.any(np.left_shift(bound, pre) >= 2**31):
        return None
    post = np.where(mult == 0, 1, shift + pre - 32)
    return pre, post


def requantize_high_word(p: np.ndarray, mult: np.ndarray | int, pre: np.ndarray | int,
                         post: np.ndarray | int) -> np.ndarray:
    """``requantize(p, mult, shift)`` in 32-bit arithmetic, with (pre, post) from ``high_word_shifts``.

    With a = |p| << pre and s = shift + pre >= 33, the half 2^(s-1) = 2^(post-1) * 2^32 only
    touches the high word of a * mult, and the low word cannot carry into the sum's bits
    above 2^32, so (a * mult + 2^(s-1)) >> s == ((a * mult >> 32) + 2^(post-1)) >> post exactly.
    The high word is one "multiply high" (x86 pmuldq, Arm smull/smmul)."""
    a = np.left_shift(np.abs(np.asarray(p, dtype=np.int64)), pre)
    post = np.asarray(post, dtype=np.int64)
    high = (a * np.asarray(mult, dtype=np.int64)) >> 32
    magnitude = (high + np.left_shift(np.int64(1), post - 1)) >> post
    return np.where(np.asarray(p) < 0, -magnitude, magnitude)


def split_sum_fits(bound_a: int, bound_b: int, a_mult: int, b_mult: int, shift: int) -> bool:
    """Whether ``rounding_sum_split`` is exact for |a| <= bound_a, |b| <= bound_b: every partial
    sum fits int32, and 17 <= shift <= 47 (the half 2^(shift-1) splits as 2^(shift-17) * 2^16)."""
    high = bound_a * (a_mult >> 16) + bound_b * (b_mult >> 16)
    low = bound_a * (a_mult & 0xFFFF) + bound_b * (b_mult & 0xFFFF) + 1
    return 17 <= shift <= 47 and low < 2**31 and high + (1 << (shift - 17)) + (low >> 16) + 1 < 2**31


def rounding_sum_split(a: np.ndarray, b: np.ndarray, a_mult: int, b_mult: int, shift: int) -> np.ndarray:
    """``rounding_shift(a * a_mult + b * b_mult, shift)`` in 32-bit arithmetic (see ``split_sum_fits``).

    Round half away from zero is (t + 2^(s-1) - [t < 0]) >> s with an arithmetic shift. With the
    multipliers split at bit 16, t = H * 2^16 + L for small H and L, t < 0 exactly when
    H + (L >> 16) < 0, and (t + 2^(s-1) - n) >> s == (H + 2^(s-17) + ((L - n) >> 16)) >> (s - 16)."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    high = a * (a_mult >> 16) + b * (b_mult >> 16)
    low = a * (a_mult & 0xFFFF) + b * (b_mult & 0xFFFF)
    negative = (high + (low >> 16) < 0).astype(np.int64)
    return (high + (1 << (shift - 17)) + ((low - negative) >> 16)) >> (shift - 16)


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
