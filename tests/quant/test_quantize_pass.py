"""The post-training quantization rewrite: integer graphs that stay close to float.

Oracles: the float graph run by the reference interpreter (SQNR, accuracy on the digits test
split), and the numpy reference for the integer graph against its TVM build (bit-exact).
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.errors import InputError, UsageError
from compiler.frontend.onnx import import_onnx
from compiler.ir import GraphBuilder, interpreter
from compiler.pipeline import compress
from compiler.quant.calibrate import calibrate
from compiler.quant.prepare import split_nonclamp_activations
from compiler.quant.quantize import QuantConfig, quantize
from compiler.quant.report import sqnr_report
from tests.oracle import run_tvm

rng = np.random.default_rng(0)


def feeds_of(graph, n=32, seed=1):
    r = np.random.default_rng(seed)
    return [{name: r.standard_normal(graph.types[name].shape).astype(np.float32) for name in graph.inputs}
            for _ in range(n)]


def quantized(graph, config=None, samples=None):
    graph = split_nonclamp_activations(graph)
    samples = samples or feeds_of(graph)
    result = quantize(graph, calibrate(graph, samples), config)
    return graph, result, sqnr_report(graph, result.graph, result.quantized_of, samples[:8])


def conv_w(cout, cin, k=3):
    return rng.standard_normal((cout, cin, k, k)).astype(np.float32) * np.float32(1 / np.sqrt(cin * k * k))


def residual_block_graph(softmax: bool = True):
    """conv-relu -> conv, + skip, relu, concat with a differently scaled branch, sigmoid, softmax head."""
    b = GraphBuilder()
    x = b.input("x", (1, 4, 8, 8))
    h = b.op("conv", [x, b.const(conv_w(4, 4)), b.const(np.zeros(4, np.float32))],
             {"pads": (1, 1, 1, 1), "activation": "relu"})
    h = b.op("conv", [h, b.const(conv_w(4, 4))], {"pads": (1, 1, 1, 1)})
    s = b.op("relu", [b.op("add", [h, x])])
    other = b.op("conv", [x, b.const(conv_w(4, 4, 1) * 5)])
    c = b.op("concat", [s, other], {"axis": 1})
    g = b.op("sigmoid", [c])
    p = b.op("global_avg_pool", [g])
    flat = b.op("reshape", [p], {"shape": (1, 8)})
    logits = b.op("dense", [flat, b.const(rng.standard_normal((5, 8)).astype(np.float32))])
    b.output(b.op("softmax", [logits], name="probs") if softmax else b.op("identity", [logits], name="logits"))
    return b.build()


def test_residual_concat_lut_and_float_island():
    float_graph, result, report = quantized(residual_block_graph())
    ops = result.graph.op_counts()
    for op in ("qconv", "qadd", "requantize", "concat", "lut", "qavg_pool", "qdense", "softmax"):
        assert ops.get(op), f"expected a {op} in {ops}"
    assert "conv" not in ops and "dense" not in ops and "add" not in ops
    assert result.graph.types["probs"].dtype == "float32" and result.graph.outputs == ["probs"]
    assert report["outputs"]["probs"] > 25, report
    assert min(report["layers"].values()) > 20, report


def test_integer_graph_is_bit_exact_in_tvm():
    """Integers all the way to the dequantized logits: TVM and the reference agree exactly."""
    _, result, _ = quantized(residual_block_graph(softmax=False))
    assert not {"conv", "dense", "add", "sigmoid", "global_avg_pool"} & set(result.graph.op_counts())
    feed = feeds_of(result.graph, 1, seed=9)[0]
    want = interpreter.run(result.graph, feed)["logits"]
    np.testing.assert_array_equal(run_tvm(result.graph, feed)[0], want)


def test_keep_float_by_layer_name():
    graph = residual_block_graph()
    name = next(n.name for n in graph.nodes if n.op == "dense")
    _, result, _ = quantized(graph, QuantConfig(keep_float=frozenset({name})))
    assert "dense" in result.graph.op_counts() and "qdense" not in result.graph.op_counts()


def test_uint8_activations():
    _, result, report = quantized(residual_block_graph(), QuantConfig(dtype="uint8"))
    assert all(result.graph.types[n.outputs[0]].dtype == "uint8" for n in result.graph.nodes if n.op == "qconv")
    assert report["outputs"]["probs"] > 25


def test_bad_input():
    graph = residual_block_graph()
    with pytest.raises(UsageError, match="unknown layer"):
        quantized(graph, QuantConfig(keep_float=frozenset({"no_such_layer"})))
    with pytest.raises(InputError, match="empty"):
        calibrate(graph, [])


@pytest.fixture(scope="module")
def digits():
    from examples.digits.data import load_split

    return load_split()


def accuracy(graph, x, y):
    hits = sum(int(np.argmax(interpreter.run(graph, {"input": x[i:i + 1]})["logits"]) == y[i]) for i in range(len(x)))
    return hits / len(x)


def test_digits_int8_accuracy_and_size(digits):
    """Float vs int8 top-1 on the test split (within 0.5 points) and weights >= 3.8x smaller."""
    from compiler.quant.ptq import weight_bytes

    xtr, _, xte, yte = digits
    float_graph = split_nonclamp_activations(compress(import_onnx("examples/digits/digits_cnn.onnx")).graph)
    samples = [{"input": xtr[i:i + 1]} for i in range(256)]
    result = quantize(float_graph, calibrate(float_graph, samples))
    float_acc, int8_acc = accuracy(float_graph, xte, yte), accuracy(result.graph, xte, yte)
    assert float_acc >= 0.97
    assert float_acc - int8_acc <= 0.005, (float_acc, int8_acc)
    assert weight_bytes(float_graph) / weight_bytes(result.graph) >= 3.8
    ops = result.graph.op_counts()
    assert set(ops) <= {"quantize", "qconv", "max_pool", "qavg_pool", "reshape", "qdense", "dequantize"}, ops
