"""The quantized ops' reference semantics against float arithmetic on the real values.

Each quantized op must equal ``quantize(f(dequantize(inputs)))`` computed in float64 to within
one output step (the one rounding of the fixed-point multiplier), and exactly on ties.
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import GraphBuilder, interpreter
from compiler.ir.ops.fixed_point import (high_word_shifts, quantize_multiplier, quantize_multipliers, requantize,
                                         requantize_high_word, rounded_divide, rounding_shift, rounding_sum_split,
                                         split_sum_fits)
from compiler.quant.params import add_multipliers
from compiler.ir.ops.nn import conv_reference

rng = np.random.default_rng(0)


def requantized_float(real: np.ndarray, scale: float, zp: int) -> np.ndarray:
    return np.clip(np.round(real / scale) + zp, -128, 127)


def test_quantize_multiplier_is_accurate_and_normalized():
    for real in [1e-9, 3e-5, 0.0123, 0.5, 0.99999, 1.0, 7.5, 1000.0]:
        mult, shift = quantize_multiplier(real)
        assert (1 << 30) <= mult < (1 << 31) or shift == 62
        assert abs(mult / 2.0 ** shift - real) <= real * 2.0 ** -30 + 2.0 ** -62
    assert quantize_multiplier(0.0) == (0, 1)
    with pytest.raises(ValueError):
        quantize_multiplier(-1.0)


def test_rounding_is_half_away_from_zero():
    assert rounding_shift(np.array([1, 2, 3, -1, -2, -3, 5, -5]), 1).tolist() == [1, 1, 2, -1, -1, -2, 3, -3]
    assert rounded_divide(np.array([3, -3, 7, -7, 2]), np.array([2, 2, 2, 2, 4])).tolist() == [2, -2, 4, -4, 1]
    # requantize is p * real, rounded once
    p = rng.integers(-2 ** 30, 2 ** 30, 1000)
    mult, shift = quantize_multiplier(0.0037)
    exact = p.astype(np.float64) * mult / 2.0 ** shift
    assert np.all(np.abs(requantize(p, mult, shift) - exact) <= 0.5)


@pytest.mark.parametrize("bound", [255, 65025, 2**24, 2**31 - 1])
def test_high_word_requantize_equals_int64_requantize(bound):
    """The 32-bit form the kernels use where ``high_word_shifts`` allows it is the same function:
    random p up to the bound, the bound itself, and exact ties, for shifts 1..62."""
    local = np.random.default_rng(bound)
    reals = np.concatenate([2.0 ** local.uniform(-40, 1, 400), [0.0, 0.25, 0.125, 2.0 ** -30, 0.999]])
    mult, shift = quantize_multipliers(reals)
    shifts = high_word_shifts(np.full(mult.shape, bound), mult, shift)
    usable = np.ones(mult.shape, bool) if shifts is not None else None
    if shifts is None:  # some channel needs more than 32 bits: check channel by channel
        usable = np.array([high_word_shifts(bound, m, s) is not None for m, s in zip(mult, shift)])
        assert bound == 2**31 - 1 or not usable.all()
    for m, s in zip(mult[usable], shift[usable]):
        pre, post = high_word_shifts(bound, m, s)
        p = np.concatenate([local.integers(-bound, bound + 1, 300), [0, 1, -1, bound, -bound]])
        if s >= 2:  # values whose p * mult / 2^s lies exactly halfway between two integers
            p = np.concatenate([p, (np.arange(-3, 4) * 2 + 1) << max(int(s) - 1 - 30, 0)])
        p = p[np.abs(p) <= bound]
        assert np.array_equal(requantize_high_word(p, m, pre, post), requantize(p, m, s)), (m, s)
    assert high_word_shifts(2**31, 1 << 30, 40) is None  # accumulators beyond int32
    assert high_word_shifts(2**24, 1 << 30, 20) is None  # p << 13 would overflow
    assert high_word_shifts(255, 1 << 30, 20) is not None


@pytest.mark.parametrize("ratios", [(1.0, 1.0), (0.5, 0.25), (0.73, 1.9), (3.1, 0.004), (2.0 ** -9, 2.0 ** -12)])
def test_split_rounding_sum_equals_int64_rounding_sum(ratios):
    """The 32-bit form of the int8 add (``rounding_sum_split``) on every pair of centered int8
    values (-255..255), power-of-two ratios included (exact ties)."""
    a_mult, b_mult, shift = add_multipliers(ratios[0], ratios[1], 1.0)
    assert split_sum_fits(255, 255, a_mult, b_mult, shift)
    a, b = np.meshgrid(np.arange(-255, 256), np.arange(-255, 256))
    want = rounding_shift(a.astype(np.int64) * a_mult + b.astype(np.int64) * b_mult, shift)
    assert np.array_equal(rounding_sum_split(a, b, a_mult, b_mult, shift), want)
    assert not split_sum_fits(255, 255, a_mult, b_mult, 16)  # the half would not split at bit 16
    assert not split_sum_fits(2**20, 2**20, a_mult, b_mult, shift)  # partial sums beyond int32


def test_qconv_matches_float_conv_of_real_values():
    xs, ws, out_scale, x_zp = 0.03, rng.uniform(0.005, 0.02, 6), 0.08, 5
    x = rng.integers(-128, 128, (1, 4, 7, 7)).astype(np.int8)
    w = rng.integers(-127, 128, (6, 2, 3, 3)).astype(np.int8)
    bias = rng.integers(-800, 800, 6).astype(np.int32)
    real = conv_reference((x.astype(np.float64) - x_zp) * xs, w * ws[:, None, None, None], bias * xs * ws,
                          (1, 1), (1, 1, 1, 1), (1, 1), 2)
    mult, shift = quantize_multipliers(xs * ws / out_scale)
    b = GraphBuilder()
    xi = b.input("x", x.shape, "int8")
    b.output(b.op("qconv", [xi, b.const(w), b.const(bias), b.const(mult), b.const(shift)],
                  {"pads": (1, 1, 1, 1), "groups": 2, "x_zp": x_zp, "out_scale": out_scale, "out_zp": -4}, name="y"))
    got = interpreter.run(b.build(), {"x": x})["y"]
    assert np.abs(got - requantized_float(real, out_scale, -4)).max() <= 1


def test_qdense_qadd_qmul_qavg_match_float():
    a = rng.integers(-128, 128, (3, 8)).astype(np.int8)
    c = rng.integers(-128, 128, (3, 8)).astype(np.int8)
    sa, sb, so = 0.02, 0.05, 0.06
    big, sh = quantize_multiplier(sb / so)
    small = round(sa / so * 2.0 ** sh)
    mult, shift = quantize_multiplier(sa * sb / so)
    b = GraphBuilder()
    ai, ci = b.input("a", a.shape, "int8"), b.input("c", c.shape, "int8")
    b.output(b.op("qadd", [ai, ci], {"a_zp": 3, "b_zp": -2, "a_mult": small, "b_mult": big, "shift": sh,
                                     "out_scale": so, "out_zp": 1}, name="sum"),
             b.op("qmul", [ai, ci], {"a_zp": 3, "b_zp": -2, "mult": mult, "shift": shift, "out_scale": so,
                                     "out_zp": 1}, name="prod"))
    out = interpreter.run(b.build(), {"a": a, "c": c})
    ra, rc = (a.astype(np.float64) - 3) * sa, (c.astype(np.float64) + 2) * sb
    assert np.abs(out["sum"] - requantized_float(ra + rc, so, 1)).max() <= 1
    assert np.abs(out["prod"] - requantized_float(ra * rc, so, 1)).max() <= 1

    x = rng.integers(-128, 128, (1, 2, 6, 6)).astype(np.int8)
    b = GraphBuilder()
    xi = b.input("x", x.shape, "int8")
    b.output(b.op("qavg_pool", [xi], {"kernel_shape": (2, 2), "strides": (2, 2), "out_scale": 0.1, "out_zp": 7},
                  name="y"))
    got = interpreter.run(b.build(), {"x": x})["y"]
    mean = (x.astype(np.float64) - 7).reshape(1, 2, 3, 2, 3, 2).mean(axis=(3, 5))   # exact: quarters
    assert np.array_equal(got, np.sign(mean) * np.floor(np.abs(mean) + 0.5) + 7)  # ties away from zero


def test_quantized_types_carry_scale_through_data_movement():
    b = GraphBuilder()
    x = b.input("x", (1, 4, 4, 4))
    q = b.op("quantize", [x], {"out_scale": 0.1, "out_zp": 3})
    r = b.op("reshape", [b.op("max_pool", [q], {"kernel_shape": (2, 2), "strides": (2, 2)})], {"shape": (1, 16)})
    b.output(r)
    g = b.build()
    assert g.types[r].quant.scale == (0.1,) and g.types[r].quant.zero_point == (3,)
    assert "i8[1,16]{scale=0.1, zp=3}" in str(g)
