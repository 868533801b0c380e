"""Elementwise ops: ONNX -> IR -> {interpreter, TVM, exported ONNX} against onnxruntime."""

import numpy as np
import pytest
from onnx import helper

from tests.oracle import check_model, make_model, rand


@pytest.mark.parametrize("op,attrs", [
    ("Relu", {}), ("Sigmoid", {}), ("Tanh", {}), ("HardSwish", {}), ("Identity", {}), ("Abs", {}), ("Neg", {}),
    ("LeakyRelu", {"alpha": 0.2}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
    ("Softmax", {"axis": 1}), ("LogSoftmax", {"axis": -1}),
])
def test_unary(op, attrs):
    model = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], {"x": (2, 3, 4)}, ["y"])
    check_model(model, {"x": rand(2, 3, 4) * 4})


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("shape_b", [(2, 3, 4), (4,), (3, 1), (1, 1, 1)])
def test_binary_broadcast(op, shape_b):
    model = make_model([helper.make_node(op, ["a", "b"], ["y"])], {"a": (2, 3, 4), "b": shape_b}, ["y"])
    b = rand(*shape_b, seed=1)
    if op == "Div":
        b = np.where(np.abs(b) < 0.5, 1.0, b).astype("float32")
    check_model(model, {"a": rand(2, 3, 4), "b": b})


def test_clip_opset11_constant_bounds():
    model = make_model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], {"x": (8,)}, ["y"],
                       {"lo": np.array(0.0, np.float32), "hi": np.array(6.0, np.float32)})
    graph = check_model(model, {"x": rand(8) * 10})
    assert [n.op for n in graph.nodes] == ["clip"]


def test_softmax_opset11_flattens_to_2d():
    model = make_model([helper.make_node("Softmax", ["x"], ["y"], axis=1)], {"x": (2, 3, 4)}, ["y"], opset=11)
    check_model(model, {"x": rand(2, 3, 4)})


def test_sum_variadic():
    model = make_model([helper.make_node("Sum", ["a", "b", "c"], ["y"])], {"a": (3,), "b": (3,), "c": (3,)}, ["y"])
    check_model(model, {"a": rand(3), "b": rand(3, seed=1), "c": rand(3, seed=2)})
