"""The nine "light" model-zoo networks shipped with ONNX, end to end through edgec.

Each model (AlexNet, DenseNet-121, Inception v1/v2, ResNet-50, ShuffleNet, SqueezeNet,
VGG-19, ZFNet-512) is checked three ways:

1. as shipped: import, compile for the host, and match ONNX's expected output
   (``light_*_output_0.pb``) on the input ONNX's backend runner makes for light models;
2. with random weights: the shipped weights are one constant (ConstantOfShape nodes), which
   would hide any weight-layout bug, so they are replaced by random initializers and edgec's
   TVM build must match onnxruntime on the modified model, logits included;
3. export round trip: the imported random-weights IR, exported back to ONNX, must give
   onnxruntime the same outputs as the modified model.

Tolerance: rtol 1e-3, atol 1e-5. Each model is imported once per check (module fixtures).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from compiler.export import export_onnx
from compiler.frontend.onnx import import_onnx
from compiler.ir.graph import Graph
from compiler.pipeline import compress
from tests.oracle import run_ort, run_tvm
from tests.zoo_models import LIGHT, MODELS, dummy_feeds, randomize_weights

pytestmark = pytest.mark.slow

RTOL, ATOL = 1e-3, 1e-5


# -- fixtures ---------------------------------------------------------------------------------
@dataclass
class Zoo:
    name: str
    model: onnx.ModelProto
    feeds: dict[str, np.ndarray]
    expected: list[np.ndarray]


@dataclass
class RandomWeights:
    model: onnx.ModelProto
    graph: Graph
    ort_outputs: list[np.ndarray]


@pytest.fixture(scope="module", params=MODELS)
def zoo(request) -> Zoo:
    name = request.param
    model = onnx.load(LIGHT / f"light_{name}.onnx")
    feeds = dummy_feeds(model)
    expected = [numpy_helper.to_array(onnx.load_tensor(LIGHT / f"light_{name}_output_{i}.pb"))
                for i in range(len(model.graph.output))]
    return Zoo(name, model, feeds, expected)


@pytest.fixture(scope="module")
def random_weights(zoo: Zoo) -> RandomWeights:
    model = randomize_weights(zoo.model)
    return RandomWeights(model, import_onnx(model), run_ort(model, zoo.feeds))


def assert_outputs_close(got, want, names, what: str) -> None:
    assert len(got) == len(want)
    for name, have, expected in zip(names, got, want):
        assert have.shape == expected.shape, f"{what}, output {name}: shape {have.shape} != {expected.shape}"
        np.testing.assert_allclose(have, expected, rtol=RTOL, atol=ATOL, err_msg=f"{what}, output {name}")


# -- tests ------------------------------------------------------------------------------------
def test_expected_output(zoo: Zoo):
    graph = import_onnx(zoo.model)
    assert_outputs_close(run_tvm(graph, zoo.feeds), zoo.expected, graph.outputs, f"{zoo.name} TVM build")


def test_random_weights_match_onnxruntime(zoo: Zoo, random_weights: RandomWeights):
    graph = random_weights.graph
    logits = random_weights.ort_outputs[-1]
    assert np.std(logits) > 0.1, "random weights should give spread-out logits, else the check is weak"
    assert_outputs_close(run_tvm(graph, zoo.feeds), random_weights.ort_outputs, graph.outputs,
                         f"{zoo.name} (random weights) TVM build")


def test_export_round_trip(zoo: Zoo, random_weights: RandomWeights):
    exported = export_onnx(random_weights.graph)
    assert_outputs_close(run_ort(exported, zoo.feeds), random_weights.ort_outputs, random_weights.graph.outputs,
                         f"{zoo.name} (random weights) exported ONNX")


def test_merged_model_matches_onnxruntime(zoo: Zoo, random_weights: RandomWeights):
    """The layer-merging pipeline keeps outputs (rtol 1e-4 of the output's magnitude) and leaves no batch norm."""
    merged = compress(random_weights.graph).graph
    assert "batch_norm" not in merged.op_counts()
    assert len(merged.nodes) < len(random_weights.graph.nodes)
    for name, have, want in zip(merged.outputs, run_ort(export_onnx(merged), zoo.feeds), random_weights.ort_outputs):
        scale = float(np.max(np.abs(want)))
        assert float(np.max(np.abs(have - want))) <= 1e-4 * scale, f"{zoo.name} merged, output {name}"
