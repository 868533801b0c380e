"""The digits CNN example: the committed ONNX model is accurate and edgec runs it like onnxruntime.

The oracle is onnxruntime on ``examples/digits/digits_cnn.onnx``; labels come from the fixed
test split of scikit-learn's bundled digits (``examples.digits.data.load_split``).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from compiler import pipeline
from compiler.ir import interpreter
from examples.digits.data import load_split
from tests.e2e.conftest import ROOT
from tests.oracle import run_ort, run_tvm

MODEL = ROOT / "examples" / "digits" / "digits_cnn.onnx"
MIN_ACCURACY = 0.97


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(logits.argmax(axis=1) == labels))


@pytest.fixture(scope="module")
def split():
    return load_split()


@pytest.fixture(scope="module")
def ort_logits(split) -> np.ndarray:
    return run_ort(onnx.load(MODEL), {"input": split[2]})[0]


def test_split_is_fixed_and_preprocessed(split):
    x_train, y_train, x_test, y_test = split
    assert x_train.shape == (1347, 1, 8, 8) and x_test.shape == (450, 1, 8, 8)
    assert x_train.dtype == x_test.dtype == np.float32 and y_train.dtype == y_test.dtype == np.int64
    assert 0.0 <= x_test.min() and x_test.max() <= 1.0
    assert np.bincount(y_test).min() >= 43  # stratified: every class ~10% of the test split
    again = load_split()
    assert all(np.array_equal(a, b) for a, b in zip(split, again))


def test_model_interface_keeps_batchnorm():
    model = onnx.load(MODEL)
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["logits"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch
    assert sum(n.op_type == "BatchNormalization" for n in model.graph.node) == 3


def test_float_accuracy_in_onnxruntime(split, ort_logits):
    assert ort_logits.shape == (450, 10)
    assert accuracy(ort_logits, split[3]) >= MIN_ACCURACY


def test_edgec_matches_onnxruntime(split, ort_logits):
    """Import with the test split's batch, merge (folds the batch norms), build with TVM, run."""
    x_test, y_test = split[2], split[3]
    graph = pipeline.load(MODEL, input_shapes={"input": x_test.shape})
    np.testing.assert_allclose(interpreter.run(graph, {"input": x_test})[graph.outputs[0]], ort_logits,
                               rtol=1e-4, atol=1e-5, err_msg="interpreter")
    merged = pipeline.compress(graph).graph
    assert "batch_norm" not in merged.op_counts()
    logits = run_tvm(merged, {"input": x_test})[0]
    np.testing.assert_allclose(logits, ort_logits, rtol=1e-4, atol=1e-5, err_msg="TVM build")
    assert accuracy(logits, y_test) >= MIN_ACCURACY
