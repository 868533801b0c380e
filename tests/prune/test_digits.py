"""Digits CNN (real data): 50% of MACs removed without training keeps top-1 within 1.5 points
thanks to least-squares reconstruction; composes with int8 quantization (within 2 points)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from compiler.frontend.onnx import import_onnx
from compiler.ir import interpreter
from compiler.pipeline import CompressOptions, compress
from compiler.prune import PruneOptions
from compiler.quant.ptq import QuantOptions

pytestmark = pytest.mark.slow  # real data through the numpy interpreter: ~15 s

MODEL = Path(__file__).resolve().parents[2] / "examples" / "digits" / "digits_cnn.onnx"


@pytest.fixture(scope="module")
def data():
    pytest.importorskip("sklearn")
    from examples.digits.data import load_split

    x_train, _, x_test, y_test = load_split()
    return x_train[:256], x_test, y_test


def accuracy(graph, x, y) -> float:
    name = graph.inputs[0]
    logits = np.concatenate([interpreter.run(graph, {name: x[i:i + 1]})[graph.outputs[0]] for i in range(len(x))])
    return 100.0 * float(np.mean(logits.argmax(axis=1) == y))


def float_accuracy(x, y) -> float:
    sess = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    return 100.0 * float(np.mean(sess.run(None, {"input": x})[0].argmax(axis=1) == y))


def pruned(calib, reconstruct: bool = True, quantize: bool = False, **kw):
    options = CompressOptions(prune=PruneOptions(macs=0.5, channel_multiple=4, calib=calib, reconstruct=reconstruct,
                                                 **kw),
                              quantize=QuantOptions(calib=calib) if quantize else None)
    return compress(import_onnx(MODEL), options)


def test_half_the_macs_within_1_5_points(data):
    calib, x, y = data
    base = float_accuracy(x, y)  # onnxruntime on the unpruned model is the reference
    result = pruned(calib)
    assert result.prune_report["macs_removed"] >= 0.5
    with_recon = accuracy(result.graph, x, y)
    plain_l1 = accuracy(compress(import_onnx(MODEL), CompressOptions(
        prune=PruneOptions(macs=0.5, channel_multiple=4))).graph, x, y)
    print(f"\nfloat {base:.2f}%  pruned 50% MACs: reconstruction {with_recon:.2f}%  plain L1 {plain_l1:.2f}%")
    assert base - with_recon <= 1.5
    assert with_recon > plain_l1


def test_prune_then_int8_within_2_points(data):
    calib, x, y = data
    result = pruned(calib, quantize=True)
    assert any(n.op == "qconv" for n in result.graph.nodes)
    assert float_accuracy(x, y) - accuracy(result.graph, x, y) <= 2.0
