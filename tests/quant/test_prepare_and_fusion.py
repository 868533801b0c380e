"""Quantization details that decide accuracy on real networks (ResNet-8, MobileNet), each
checked against numpy or the float graph run by the reference interpreter:

- relu(add) is one integer add writing the ReLU's non-negative grid;
- unpadded average pools become depthwise convs with their own output grid (``pools_as_convs``);
- a dead channel (weights ~0, bias > 0) keeps its constant output.
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import GraphBuilder, interpreter
from compiler.quant.calibrate import calibrate
from compiler.quant.prepare import pools_as_depthwise, prepare, split_nonclamp_activations
from compiler.quant.quantize import QuantConfig, quantize
from compiler.quant.report import sqnr_report
from tests.oracle import run_tvm

rng = np.random.default_rng(3)


def samples_for(graph, n=24, seed=4):
    r = np.random.default_rng(seed)
    return [{name: r.standard_normal(graph.types[name].shape).astype(np.float32) for name in graph.inputs}
            for _ in range(n)]


def quantize_graph(graph, samples):
    prepared = prepare(graph, pools_as_convs=True)
    result = quantize(prepared, calibrate(prepared, samples))
    return prepared, result


def residual_relu_graph():
    b = GraphBuilder()
    x = b.input("x", (1, 4, 6, 6))
    w = (rng.standard_normal((4, 4, 3, 3)) / 6).astype(np.float32)
    h = b.op("conv", [x, b.const(w)], {"pads": (1, 1, 1, 1)})
    b.output(b.op("relu", [b.op("add", [h, x])], name="y"))
    return b.build()


def test_relu_after_add_is_the_add_clamp_on_a_nonnegative_grid():
    graph = residual_relu_graph()
    samples = samples_for(graph)
    _, result = quantize_graph(graph, samples)
    adds = [n for n in result.graph.nodes if n.op == "qadd"]
    assert len(adds) == 1 and "requantize" not in result.graph.op_counts() and "relu" not in result.graph.op_counts()
    add = adds[0]
    assert add.attrs["out_zp"] == -128 and add.attrs["act_min"] == -128  # [0, max]: every level non-negative
    # the grid is the ReLU output's range (numpy), not the signed sum's
    peak = max(float(np.max(np.maximum(interpreter.run(graph, s)["y"], 0))) for s in samples)
    assert add.attrs["out_scale"] == pytest.approx(peak / 255, rel=1e-6)
    for sample in samples[:4]:
        want = interpreter.run(graph, sample)["y"]
        got = interpreter.run(result.graph, sample)["y"]
        assert np.all(got >= 0)
        np.testing.assert_allclose(got, want, atol=4 * add.attrs["out_scale"])
    np.testing.assert_array_equal(run_tvm(result.graph, samples[0])[0], interpreter.run(result.graph, samples[0])["y"])


def test_add_feeding_two_users_keeps_its_signed_grid():
    b = GraphBuilder()
    x = b.input("x", (1, 2, 4, 4))
    h = b.op("conv", [x, b.const((rng.standard_normal((2, 2, 1, 1))).astype(np.float32))])
    s = b.op("add", [h, x])
    b.output(b.op("relu", [s], name="r"))
    b.output(b.op("identity", [s], name="s"))
    graph = b.build()
    _, result = quantize_graph(graph, samples_for(graph))
    add = next(n for n in result.graph.nodes if n.op == "qadd")
    assert add.attrs["act_min"] is None and add.attrs["out_zp"] > -128


def pool_graph(op: str, attrs: dict, head: bool = False):
    """conv -> relu -> pool [-> 1x1 conv head, an integer reader of the pooled mean]."""
    b = GraphBuilder()
    x = b.input("x", (1, 3, 8, 8))
    h = b.op("conv", [x, b.const((rng.standard_normal((5, 3, 3, 3)) / 4).astype(np.float32))],
             {"pads": (1, 1, 1, 1), "activation": "relu"})
    if head:
        p = b.op(op, [h], attrs)
        b.output(b.op("conv", [p, b.const(rng.standard_normal((4, 5, 1, 1)).astype(np.float32))], name="y"))
    else:
        b.output(b.op(op, [h], attrs, name="y"))
    return b.build()


def numpy_avg_pool(x, k, s):
    n, c, h, w = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    return np.array([[[[x[i, ch, a * s:a * s + k, b * s:b * s + k].mean() for b in range(ow)] for a in range(oh)]
                      for ch in range(c)] for i in range(n)])


@pytest.mark.parametrize("op, attrs, k, s", [("global_avg_pool", {}, 8, 1),
                                             ("avg_pool", {"kernel_shape": (2, 2), "strides": (2, 2)}, 2, 2),
                                             ("avg_pool", {"kernel_shape": (3, 3), "strides": (2, 2)}, 3, 2)])
def test_unpadded_average_pools_become_depthwise_convs(op, attrs, k, s):
    graph = pool_graph(op, attrs)
    converted = pools_as_depthwise(graph)
    assert op not in converted.op_counts() and converted.op_counts()["conv"] == 2
    sample = samples_for(graph, 1)[0]
    hidden = interpreter.run(graph, sample, keep_all=True)[graph.nodes[0].outputs[0]]
    np.testing.assert_allclose(interpreter.run(converted, sample)["y"], numpy_avg_pool(hidden, k, s),
                               rtol=1e-5, atol=1e-6)


def test_padded_and_ceil_mode_pools_stay_pools():
    for attrs in ({"kernel_shape": (3, 3), "pads": (1, 1, 1, 1)}, {"kernel_shape": (3, 3), "strides": (2, 2),
                                                                   "ceil_mode": 1}):
        graph = pool_graph("avg_pool", attrs)
        assert pools_as_depthwise(graph).op_counts().get("avg_pool") == 1


def test_global_pool_rounds_once_on_its_own_grid():
    """The pooled mean gets a finer grid than its input and beats the same-grid integer pool."""
    graph = pool_graph("global_avg_pool", {}, head=True)
    samples = samples_for(graph)
    prepared, result = quantize_graph(graph, samples)
    pool = next(n for n in result.graph.nodes if n.op == "qconv" and n.attrs["groups"] == 5)
    conv = next(n for n in result.graph.nodes if n.op == "qconv" and n.attrs["groups"] == 1)
    assert pool.attrs["out_scale"] < conv.attrs["out_scale"] / 2
    assert np.all(result.graph.constants[pool.inputs[1]] == 127)   # 1/64 quantizes exactly
    np.testing.assert_array_equal(run_tvm(result.graph, samples[0])[0], interpreter.run(result.graph, samples[0])["y"])
    plain = split_nonclamp_activations(graph)
    same_grid = quantize(plain, calibrate(plain, samples))
    assert "qavg_pool" in same_grid.graph.op_counts()
    ours = sqnr_report(prepared, result.graph, result.quantized_of, samples)["outputs"]["y"]
    theirs = sqnr_report(plain, same_grid.graph, same_grid.quantized_of, samples)["outputs"]["y"]
    assert ours > theirs + 3, (ours, theirs)


def test_dead_channel_keeps_its_constant_output():
    """Channel 1 has weights ~1e-20 and bias 2: it outputs relu(2) = 2 in float and must in int8."""
    b = GraphBuilder()
    x = b.input("x", (1, 2, 5, 5))
    w = (rng.standard_normal((3, 2, 3, 3)) / 4).astype(np.float32)
    w[1] = 1e-20
    bias = np.array([0.1, 2.0, -0.1], np.float32)
    b.output(b.op("conv", [x, b.const(w), b.const(bias)], {"pads": (1, 1, 1, 1), "activation": "relu"}, name="y"))
    graph = b.build()
    samples = samples_for(graph)
    _, result = quantize_graph(graph, samples)
    layer = next(n for n in result.graph.nodes if n.op == "qconv")
    assert np.all(result.graph.constants[layer.inputs[3]] > 0)        # no multiplier flushed to zero
    assert np.max(np.abs(result.graph.constants[layer.inputs[2]].astype(np.int64))) < 2 ** 31 - 1
    got = interpreter.run(result.graph, samples[0])["y"]
    np.testing.assert_allclose(got[0, 1], 2.0, atol=layer.attrs["out_scale"])
    np.testing.assert_array_equal(run_tvm(result.graph, samples[0])[0], got)


def test_pool_read_only_in_float_is_not_rounded():
    """conv -> relu -> global pool -> softmax: the mean is taken in float from the int8 conv output."""
    b = GraphBuilder()
    x = b.input("x", (1, 3, 8, 8))
    h = b.op("conv", [x, b.const((rng.standard_normal((6, 3, 3, 3)) / 4).astype(np.float32))],
             {"pads": (1, 1, 1, 1), "activation": "relu"})
    b.output(b.op("softmax", [b.op("global_avg_pool", [h])], {"axis": 1}, name="y"))
    graph = b.build()
    samples = samples_for(graph)
    plain = split_nonclamp_activations(graph)
    result = quantize(plain, calibrate(plain, samples))
    ops = result.graph.op_counts()
    assert ops.get("qconv") == 1 and "qavg_pool" not in ops and ops.get("global_avg_pool") == 1
    conv = next(n for n in result.graph.nodes if n.op == "qconv")
    for sample in samples[:4]:  # float mean of the dequantized conv output, computed in numpy
        q = interpreter.run(result.graph, sample, keep_all=True)[conv.outputs[0]].astype(np.float64)
        mean = ((q - conv.attrs["out_zp"]) * conv.attrs["out_scale"]).mean(axis=(2, 3))
        want = np.exp(mean - mean.max()) / np.exp(mean - mean.max()).sum()
        np.testing.assert_allclose(interpreter.run(result.graph, sample)["y"].reshape(want.shape), want, rtol=1e-5)


def test_keep_float_on_the_relu_leaves_the_add_unfused():
    graph = residual_relu_graph()
    samples = samples_for(graph)
    prepared = prepare(graph)
    relu = next(n for n in prepared.nodes if n.op == "relu")
    result = quantize(prepared, calibrate(prepared, samples), QuantConfig(keep_float=frozenset({relu.name})))
    add = next(n for n in result.graph.nodes if n.op == "qadd")
    assert add.attrs["act_min"] is None and result.graph.op_counts().get("relu") == 1
    want = interpreter.run(graph, samples[0])["y"]
    np.testing.assert_allclose(interpreter.run(result.graph, samples[0])["y"], want, atol=4 * add.attrs["out_scale"])
