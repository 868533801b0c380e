"""Bit-exactness of the quantized kernels: the TVM build equals the numpy reference exactly.

Shapes, strides, pads, groups, dilations, zero points, fused clamps and per-channel
multipliers are drawn at random (fixed seeds); any difference in any int8 output fails.
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import GraphBuilder, interpreter
from compiler.ir.ops.fixed_point import quantize_multiplier, quantize_multipliers
from compiler.quant.params import add_multipliers
from tests.oracle import run_tvm


def assert_bit_exact(graph, feeds):
    want = interpreter.run(graph, feeds)
    for name, got in zip(graph.outputs, run_tvm(graph, feeds)):
        assert got.dtype == want[name].dtype
        diff = np.abs(got.astype(np.int64) - want[name].astype(np.int64))
        assert diff.max() == 0, f"{name}: {np.count_nonzero(diff)} of {diff.size} values differ (max {diff.max()})"


def qrand(rng, shape, dtype="int8"):
    lo, hi = (-128, 127) if dtype == "int8" else (0, 255)
    return rng.integers(lo, hi + 1, shape).astype(dtype)


def out_attrs(rng, dtype="int8", fused=False):
    lo, hi = (-128, 127) if dtype == "int8" else (0, 255)
    zp = int(rng.integers(lo // 2, hi // 2))
    attrs = {"out_scale": 0.05, "out_zp": zp, "out_dtype": dtype}
    if fused:  # a fused ReLU6-like clamp in the quantized domain
        attrs.update(act_min=zp, act_max=min(hi, zp + 90))
    return attrs


@pytest.mark.parametrize("seed", range(12))
def test_qconv_random(seed):
    rng = np.random.default_rng(seed)
    nd = 1 if seed % 6 == 5 else 2
    groups = [1, 2, "dw"][seed % 3]
    cin = int(rng.integers(1, 5)) * (2 if groups == 2 else 1)
    groups = cin if groups == "dw" else groups
    cout = groups * int(rng.integers(1, 4))
    k = tuple(int(rng.integers(1, 4)) for _ in range(nd))
    spatial = tuple(int(rng.integers(k[i] + 2, 11)) for i in range(nd))
    attrs = {"strides": tuple(int(rng.integers(1, 3)) for _ in range(nd)),
             "pads": tuple(int(rng.integers(0, 2)) for _ in range(2 * nd)),
             "dilations": tuple(int(rng.integers(1, 3)) if seed % 4 == 0 else 1 for _ in range(nd)),
             "groups": groups, "x_zp": int(rng.integers(-20, 20)) if seed % 2 else 0,
             **out_attrs(rng, fused=seed % 3 == 0)}
    xdtype = "uint8" if seed == 7 else "int8"
    if xdtype == "uint8":
        attrs["x_zp"] = 128
    batch = 2 if seed % 5 == 0 else 1
    b = GraphBuilder()
    x = b.input("x", (batch, cin, *spatial), xdtype)
    ins = [x, b.const(qrand(rng, (cout, cin // groups, *k)))]
    if seed % 4 != 1:
        ins.append(b.const(rng.integers(-5000, 5000, cout).astype(np.int32)))
    mult, shift = quantize_multipliers(rng.uniform(1e-4, 2e-2, cout))
    ins += [b.const(mult), b.const(shift)]
    b.output(b.op("qconv", ins, attrs, name="y"))
    g = b.build()
    assert_bit_exact(g, {"x": qrand(rng, (batch, cin, *spatial), xdtype)})


@pytest.mark.parametrize("seed", range(6))
def test_qdense_random(seed):
    rng = np.random.default_rng(100 + seed)
    k, n = int(rng.integers(1, 40)), int(rng.integers(1, 20))
    rows = (int(rng.integers(1, 4)),) if seed % 2 else (2, 3)
    b = GraphBuilder()
    x = b.input("x", (*rows, k), "int8")
    ins = [x, b.const(qrand(rng, (n, k)))]
    if seed % 3:
        ins.append(b.const(rng.integers(-3000, 3000, n).astype(np.int32)))
    mult, shift = quantize_multipliers(rng.uniform(1e-4, 5e-2, n))
    ins += [b.const(mult), b.const(shift)]
    b.output(b.op("qdense", ins, {"x_zp": int(rng.integers(-10, 10)), **out_attrs(rng, fused=seed == 2)}, name="y"))
    assert_bit_exact(b.build(), {"x": qrand(rng, (*rows, k))})


@pytest.mark.parametrize("seed", range(6))
def test_qadd_qmul_requantize_random(seed):
    rng = np.random.default_rng(200 + seed)
    shape_a, shape_b = [((2, 3, 4), (2, 3, 4)), ((1, 4, 5, 5), (1, 4, 1, 1)), ((6,), (1,))][seed % 3]
    a_mult, b_mult, shift = add_multipliers(rng.uniform(0.2, 3), rng.uniform(0.2, 3), 1.0)
    zps = {"a_zp": int(rng.integers(-30, 30)), "b_zp": int(rng.integers(-30, 30))}
    mul_mult, mul_shift = quantize_multiplier(float(rng.uniform(1e-3, 5e-2)))
    rq_mult, rq_shift = quantize_multiplier(float(rng.uniform(0.1, 4)))
    b = GraphBuilder()
    a, c = b.input("a", shape_a, "int8"), b.input("b", shape_b, "int8")
    b.output(b.op("qadd", [a, c], {**zps, "a_mult": a_mult, "b_mult": b_mult, "shift": shift,
                                   **out_attrs(rng, fused=seed == 1)}, name="sum"),
             b.op("qmul", [a, c], {**zps, "mult": mul_mult, "shift": mul_shift, **out_attrs(rng)}, name="prod"),
             b.op("requantize", [a], {"in_zp": zps["a_zp"], "mult": rq_mult, "shift": rq_shift,
                                      **out_attrs(rng, "uint8")}, name="rq"))
    assert_bit_exact(b.build(), {"a": qrand(rng, shape_a), "b": qrand(rng, shape_b)})


@pytest.mark.parametrize("seed", range(6))
def test_qavg_pool_and_int8_max_pool_random(seed):
    rng = np.random.default_rng(300 + seed)
    k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    window = {"kernel_shape": k, "strides": (int(rng.integers(1, 3)),) * 2,
              "pads": tuple(int(rng.integers(0, min(k))) for _ in range(4)), "ceil_mode": seed % 2}
    zp = int(rng.integers(-20, 20))
    b = GraphBuilder()
    x = b.input("x", (2, 3, 7, 6), "int8")
    b.output(b.op("qavg_pool", [x], {**window, "count_include_pad": seed % 3 == 0, "out_scale": 0.1, "out_zp": zp},
                  name="avg"),
             b.op("max_pool", [x], window, name="max"))
    assert_bit_exact(b.build(), {"x": qrand(rng, (2, 3, 7, 6))})


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_global_qavg_pool_rounds_ties_away_from_zero(dtype):
    """A global average pool divides every window by one count (a constant in int32): sums of
    exactly half the count round away from zero, as in the reference."""
    zp = 3 if dtype == "int8" else 130
    lo, hi = (-128, 127) if dtype == "int8" else (0, 255)
    x = qrand(np.random.default_rng(9), (2, 20, 4, 4), dtype)
    x[:, :4] = zp
    x[0, 0, 0], x[0, 1, 0] = zp + 2, zp - 2    # sums +8 and -8 over 16 values: +0.5 -> 1, -0.5 -> -1
    x[0, 2], x[0, 3] = hi, lo                  # the largest sums either way
    b = GraphBuilder()
    xi = b.input("x", x.shape, dtype)
    b.output(b.op("qavg_pool", [xi], {"kernel_shape": (4, 4), "strides": (1, 1), "pads": (0, 0, 0, 0),
                                      "ceil_mode": 0, "count_include_pad": False, "out_scale": 0.1, "out_zp": zp,
                                      "out_dtype": dtype}))
    assert_bit_exact(b.build(), {"x": x})


def test_quantize_dequantize_lut():
    rng = np.random.default_rng(7)
    b = GraphBuilder()
    x = b.input("x", (4, 64))
    q = b.op("quantize", [x], {"out_scale": 0.02, "out_zp": -3}, name="q")
    table = np.clip(np.round(np.tanh((np.arange(-128, 128) + 3) * 0.02) / 0.01), -128, 127).astype(np.int8)
    t = b.op("lut", [q, b.const(table)], {"out_scale": 0.01, "out_zp": 0}, name="t")
    b.output(q, t, b.op("dequantize", [t], {"scale": 0.01, "zero_point": 0}, name="y"))
    g = b.build()
    # values on exact .5 ties of x / scale check the rounding rule (half to even)
    values = rng.uniform(-3, 3, (4, 64)).astype(np.float32)
    values[0, :8] = np.array([0.01, 0.03, -0.01, -0.03, 0.05, 2.57, -2.57, 10.0], np.float32)
    assert_bit_exact(g, {"x": values})


@pytest.mark.parametrize("real", [0.125, 0.25, 0.5, 1.0, 3.0, 2.0 ** -20, 40000.0])
def test_requantize_ties_and_large_multipliers(real):
    """Power-of-two multipliers put many results exactly halfway (round away from zero); those
    of 1/4 and up take the 32-bit path with p shifted left first (``high_word_shifts``), the
    add's split 32-bit form needs a shift of 17 or more (40000 takes its int64 path)."""
    mult, shift = quantize_multiplier(min(real, 1000.0))
    a_mult, b_mult, add_shift = add_multipliers(real, 0.5, 1.0)
    b = GraphBuilder()
    a, c = b.input("a", (256,), "int8"), b.input("b", (256,), "int8")
    zps = {"a_zp": -7, "b_zp": 3}
    b.output(b.op("qadd", [a, c], {**zps, "a_mult": a_mult, "b_mult": b_mult, "shift": add_shift, "out_scale": 1.0,
                                   "out_zp": 0, "out_dtype": "int8"}, name="sum"))
    b.output(b.op("requantize", [a], {"in_zp": -7, "mult": mult, "shift": shift, **out_attrs(np.random.default_rng(1))},
                  name="rq"),
             b.op("qmul", [a, c], {**zps, "mult": mult, "shift": shift + 8, "out_scale": 0.1, "out_zp": 0,
                                   "out_dtype": "int8"}, name="prod"))
    values = np.arange(-128, 128).astype(np.int8)
    assert_bit_exact(b.build(), {"a": values, "b": values[::-1].copy()})


def test_qdense_accumulator_beyond_int32_takes_the_int64_path():
    """A bias near 2^31 makes acc + bias overflow int32: the kernel must widen (and still match)."""
    rng = np.random.default_rng(5)
    b = GraphBuilder()
    x = b.input("x", (3, 64), "int8")
    bias = np.array([2**31 - 100, -(2**31) + 100, 5], np.int32)
    mult, shift = quantize_multipliers(np.array([2e-8, 3e-8, 1e-2]))
    b.output(b.op("qdense", [x, b.const(qrand(rng, (3, 64))), b.const(bias), b.const(mult), b.const(shift)],
                  {"x_zp": 0, **out_attrs(rng)}, name="y"))
    assert_bit_exact(b.build(), {"x": qrand(rng, (3, 64))})


def test_qconv_after_a_separate_pad_computes_only_its_own_columns():
    """A 3x3 conv over 8x8 whose zero padding is a separate pad (as in the digits CNN) computes
    8 columns per row. (The padded width was once counted with the pads again: 10 columns, a
    register tile of 10 and 25% of the work thrown away.)"""
    import tvm
    from tvm import s_tir

    from compiler.codegen.lower import to_relax
    from compiler.codegen.schedules.common import blocks, name
    from compiler.codegen.schedules.params import with_host_cpu
    from compiler.codegen.schedules.pipeline import fusion_passes
    from compiler.codegen.schedules.qkernels import QCONV

    rng = np.random.default_rng(0)
    b = GraphBuilder()
    x = b.input("x", (1, 16, 8, 8), "int8")
    mult, shift = quantize_multipliers(rng.uniform(1e-3, 1e-2, 32))
    y = b.op("qconv", [x, b.const(qrand(rng, (32, 16, 3, 3))), b.const(mult), b.const(shift)],
             {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1), "groups": 1, "x_zp": 3,
              **out_attrs(rng)}, name="y")
    b.output(y)
    g = b.build()
    target = with_host_cpu(tvm.target.Target({"kind": "llvm"}))
    with target:
        mod = tvm.transform.Sequential(fusion_passes(target))(to_relax(g))
    widths = []
    for func in mod.functions.values():
        if isinstance(func, tvm.tirx.PrimFunc):
            sch = s_tir.Schedule(tvm.IRModule({"main": func}))
            widths += [int(sch.get(blk).writes[0].source.shape[2]) for blk in blocks(sch) if name(sch, blk) == QCONV]
    assert widths == [8]
    assert_bit_exact(g, {"x": qrand(rng, (1, 16, 8, 8))})
