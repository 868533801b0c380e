"""QDQ export: every quantized IR op written as DequantizeLinear -> float op -> QuantizeLinear.

onnxruntime runs the exported model; its int8 outputs must equal edgec's reference
interpreter within one output step (the float pattern rounds half to even where the fixed
point rounds half away from zero). Random single-op graphs cover the parameters; the
quantized digits CNN covers a whole model on its real test split.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest

from compiler.export import export_onnx
from compiler.ir import GraphBuilder, interpreter
from compiler.ir.ops.fixed_point import quantize_multiplier, quantize_multipliers
from compiler.quant.params import add_multipliers
from tests.oracle import run_ort


def qrand(rng, shape, dtype="int8"):
    lo, hi = (-128, 127) if dtype == "int8" else (0, 255)
    return rng.integers(lo, hi + 1, shape).astype(dtype)


def out_attrs(rng, scale=0.05, dtype="int8", clamp=None):
    lo, hi = (-128, 127) if dtype == "int8" else (0, 255)
    zp = int(rng.integers(lo // 2, hi // 2))
    attrs = {"out_scale": scale, "out_zp": zp, "out_dtype": dtype}
    if clamp == "relu":
        attrs["act_min"] = zp
    elif clamp == "clip":
        attrs.update(act_min=zp - 20, act_max=min(hi, zp + 60))
    return attrs


def assert_within_one_step(graph, feeds, step: float = 1.0):
    """Export, check, run with onnxruntime, compare with the interpreter (in output steps: 1 for
    integers, ``step`` for float outputs); returns the ONNX model."""
    model = export_onnx(graph)
    onnx.checker.check_model(model, full_check=True)
    want = interpreter.run(graph, feeds)
    for name, got in zip(graph.outputs, run_ort(model, feeds)):
        assert got.dtype == want[name].dtype, f"{name}: {got.dtype} != {want[name].dtype}"
        steps = np.abs(got.astype(np.float64) - want[name].astype(np.float64)) / (step if got.dtype.kind == "f" else 1)
        assert steps.max() <= 1 + 1e-4, f"{name}: {np.count_nonzero(steps > 1)} values differ by more than one step"
    return model


def op_types(model) -> Counter:
    return Counter(n.op_type for n in model.graph.node)


def layer_params(rng, n: int, fan_in: int) -> tuple[np.ndarray, np.ndarray]:
    """Multipliers that keep outputs inside the int8 range (std about 40 steps)."""
    return quantize_multipliers(rng.uniform(0.5, 1.5, n) * 0.0073 / np.sqrt(fan_in))


@pytest.mark.parametrize("seed", range(8))
def test_qconv(seed):
    rng = np.random.default_rng(seed)
    groups = [1, 2, "dw", 1][seed % 4]
    cin = int(rng.integers(1, 4)) * (2 if groups == 2 else 1) + (2 if groups == "dw" else 0)
    groups = cin if groups == "dw" else groups
    cout = groups * int(rng.integers(1, 4))
    k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    attrs = {"strides": tuple(int(rng.integers(1, 3)) for _ in range(2)),
             "pads": tuple(int(rng.integers(0, 2)) for _ in range(4)),
             "dilations": (2, 1) if seed == 3 else (1, 1), "groups": groups,
             "x_zp": 128 if seed == 5 else int(rng.integers(-20, 20)),
             **out_attrs(rng, clamp=[None, "relu", "clip"][seed % 3])}
    xdtype = "uint8" if seed == 5 else "int8"
    b = GraphBuilder()
    x = b.input("x", (1, cin, 9, 8), xdtype)
    mult, shift = layer_params(rng, cout, cin // groups * k[0] * k[1])
    if seed == 6:
        mult[0] = 0  # a dead channel: always out_zp
    ins = [x, b.const(qrand(rng, (cout, cin // groups, *k)))]
    if seed % 4 != 1:
        ins.append(b.const(rng.integers(-5000, 5000, cout).astype(np.int32)))
    b.output(b.op("qconv", ins + [b.const(mult), b.const(shift)], attrs, name="y"))
    model = assert_within_one_step(b.build(), {"x": qrand(rng, (1, cin, 9, 8), xdtype)})
    assert op_types(model)["Conv"] == 1 and op_types(model)["QuantizeLinear"] == 1
    weight_dq = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and "_w" in n.output[0])
    assert [a.i for a in weight_dq.attribute if a.name == "axis"] == [0]  # per output channel


@pytest.mark.parametrize("seed", range(4))
def test_qdense(seed):
    rng = np.random.default_rng(50 + seed)
    k, n = int(rng.integers(2, 40)), int(rng.integers(1, 20))
    rows = (3,) if seed % 2 else (2, 3)  # 2-D: Gemm; 3-D: MatMul + Add
    b = GraphBuilder()
    x = b.input("x", (*rows, k), "int8")
    ins = [x, b.const(qrand(rng, (n, k)))]
    if seed != 2:
        ins.append(b.const(rng.integers(-3000, 3000, n).astype(np.int32)))
    mult, shift = layer_params(rng, n, k)
    b.output(b.op("qdense", ins + [b.const(mult), b.const(shift)],
                  {"x_zp": int(rng.integers(-10, 10)), **out_attrs(rng, clamp="relu" if seed == 1 else None)},
                  name="y"))
    model = assert_within_one_step(b.build(), {"x": qrand(rng, (*rows, k))})
    assert op_types(model)["Gemm" if len(rows) == 1 else "MatMul"] == 1


@pytest.mark.parametrize("seed", range(4))
def test_qadd_qmul_requantize(seed):
    rng = np.random.default_rng(100 + seed)
    shape_a, shape_b = [((2, 3, 4), (2, 3, 4)), ((1, 4, 5, 5), (1, 4, 1, 1))][seed % 2]
    a_mult, b_mult, shift = add_multipliers(rng.uniform(0.2, 1), rng.uniform(0.2, 1), 1.0)
    if seed == 2:
        b_mult = -b_mult  # a quantized subtraction
    if seed == 3:
        a_mult, b_mult = -a_mult, -b_mult
    zps = {"a_zp": int(rng.integers(-30, 30)), "b_zp": int(rng.integers(-30, 30))}
    mul_mult, mul_shift = quantize_multiplier(float(rng.uniform(2e-3, 1e-2)))
    rq_mult, rq_shift = quantize_multiplier(float(rng.uniform(0.3, 2)))
    b = GraphBuilder()
    a, c = b.input("a", shape_a, "int8"), b.input("b", shape_b, "int8")
    b.output(b.op("qadd", [a, c], {**zps, "a_mult": a_mult, "b_mult": b_mult, "shift": shift,
                                   **out_attrs(rng, clamp="relu" if seed == 1 else None)}, name="sum"),
             b.op("qmul", [a, c], {**zps, "mult": mul_mult, "shift": mul_shift, **out_attrs(rng)}, name="prod"),
             b.op("requantize", [a], {"in_zp": zps["a_zp"], "mult": rq_mult, "shift": rq_shift,
                                      **out_attrs(rng, dtype="uint8", clamp="clip" if seed else None)}, name="rq"))
    assert_within_one_step(b.build(), {"a": qrand(rng, shape_a), "b": qrand(rng, shape_b)})


@pytest.mark.parametrize("seed", range(4))
def test_qavg_pool(seed):
    rng = np.random.default_rng(200 + seed)
    window = {"kernel_shape": (3, 2) if seed != 3 else (7, 6), "strides": (2, 1) if seed != 3 else (1, 1),
              "pads": (1, 0, 1, 1) if seed in (1, 2) else (0, 0, 0, 0), "ceil_mode": seed == 2,
              "dilations": (2, 1) if seed == 0 else (1, 1)}
    b = GraphBuilder()
    x = b.input("x", (2, 3, 7, 6), "int8")
    b.output(b.op("qavg_pool", [x], {**window, "count_include_pad": seed == 1, "out_scale": 0.1,
                                    "out_zp": int(rng.integers(-20, 20))}, name="avg"))
    assert_within_one_step(b.build(), {"x": qrand(rng, (2, 3, 7, 6))})


def test_quantize_lut_dequantize_exact():
    """quantize/dequantize are ONNX's own ops and the lut is an integer Gather: no step lost at all."""
    rng = np.random.default_rng(7)
    b = GraphBuilder()
    x = b.input("x", (4, 64))
    q = b.op("quantize", [x], {"out_scale": 0.02, "out_zp": -3, "act_min": -100}, name="q")
    table = np.clip(np.round(np.tanh((np.arange(-128, 128) + 3) * 0.02) / 0.01), -128, 127).astype(np.int8)
    t = b.op("lut", [q, b.const(table)], {"out_scale": 0.01, "out_zp": 0}, name="t")
    u = b.op("quantize", [x], {"out_scale": 0.03, "out_zp": 128, "out_dtype": "uint8"}, name="u")
    b.output(q, t, u, b.op("dequantize", [t], {"scale": 0.01, "zero_point": 0}, name="y"))
    g = b.build()
    feeds = {"x": rng.uniform(-3, 3, (4, 64)).astype(np.float32)}
    want = interpreter.run(g, feeds)
    for name, got in zip(g.outputs, run_ort(export_onnx(g), feeds)):
        np.testing.assert_array_equal(got, want[name], err_msg=name)


@pytest.fixture(scope="module")
def digits():
    from compiler.frontend.onnx import import_onnx
    from compiler.pipeline import compress
    from compiler.quant.calibrate import calibrate
    from compiler.quant.prepare import split_nonclamp_activations
    from compiler.quant.quantize import quantize
    from examples.digits.data import load_split

    xtr, _, xte, yte = load_split()
    g = split_nonclamp_activations(compress(import_onnx("examples/digits/digits_cnn.onnx")).graph)
    return quantize(g, calibrate(g, [{"input": xtr[i:i + 1]} for i in range(200)])).graph, xte


def test_digits_cnn(digits):
    """The int8 digits CNN on its whole test split: onnxruntime within one logit step of edgec."""
    import onnxruntime as ort

    graph, xte = digits
    step = graph.types[graph.nodes[-1].inputs[0]].quant.scale[0]  # the logits' int8 grid
    model = assert_within_one_step(graph, {"input": xte[:1]}, step)
    counts = op_types(model)
    assert counts["Conv"] == 3 and counts["Gemm"] == 1 and counts["QuantizeLinear"] >= 5
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = np.concatenate([session.run(None, {"input": xte[i:i + 1]})[0] for i in range(len(xte))])
    want = np.concatenate([interpreter.run(graph, {"input": xte[i:i + 1]})["logits"] for i in range(len(xte))])
    steps = np.abs(got - want) / step
    assert steps.max() <= 1 + 1e-4
    # ties of the 4x4 average pool (sum = 8 mod 16) round half to even in onnxruntime: a few
    # logits move by one step, the predicted classes do not
    assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.99


def test_digits_cnn_round_trip(digits):
    """edgec's QDQ export imports back into the same integer graph (QDQ import reads it)."""
    from compiler.frontend.onnx_qdq import float_ops, import_qdq

    graph, xte = digits
    again = import_qdq(export_onnx(graph))
    assert again.op_counts() == graph.op_counts()
    assert float_ops(again) == {"dequantize": 1}  # the logits, as in the original
    for layer, back in zip([n for n in graph.nodes if n.op.startswith("q")],
                           [n for n in again.nodes if n.op.startswith("q")]):
        assert back.op == layer.op
        for i in range(1, len(layer.inputs)):  # weights, bias, mult, shift
            have, want = again.constants[back.inputs[i]], graph.constants[layer.inputs[i]]
            np.testing.assert_allclose(have, want, rtol=1e-6, atol=1, err_msg=f"{layer.name} input {i}")
    for i in range(0, len(xte), 15):
        feeds = {"input": xte[i:i + 1]}
        np.testing.assert_array_equal(interpreter.run(again, feeds)["logits"], interpreter.run(graph, feeds)["logits"])
