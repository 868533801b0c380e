"""The nine ONNX zoo architectures (random weights) prune at 30% and 50% of MACs.

Every pruned graph verifies (``prune`` verifies it) and really removes the MACs; the 30%
models are exported and run by onnxruntime, the 50% models are compiled by TVM and run. Kept
to the essentials for CI time: one import per model, one compile per model.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from compiler.export import export_onnx
from compiler.frontend.onnx import import_onnx
from compiler.pipeline import compress
from compiler.prune import PruneOptions, prune
from tests.oracle import run_ort, run_tvm
from tests.zoo_models import LIGHT, MODELS, dummy_feeds, randomize_weights

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=MODELS)
def zoo(request):
    model = randomize_weights(onnx.load(LIGHT / f"light_{request.param}.onnx"))
    return compress(import_onnx(model)).graph, dummy_feeds(model)


def _check_outputs(graph, outputs) -> None:
    for name, value in zip(graph.outputs, outputs):
        assert value.shape == graph.types[name].shape and np.isfinite(value).all(), name


def test_prune_30_onnx(zoo):
    graph, feeds = zoo
    result = prune(graph, PruneOptions(macs=0.3, channel_multiple=16))
    assert result.report["macs_removed"] >= 0.29
    _check_outputs(result.graph, run_ort(export_onnx(result.graph), feeds))


def test_prune_50_compiles_and_runs(zoo):
    graph, feeds = zoo
    result = prune(graph, PruneOptions(macs=0.5, channel_multiple=16))
    assert result.report["macs_removed"] >= 0.49
    assert result.report["params_removed"] > 0.05  # a MACs target: vgg19 keeps most of its FC parameters
    _check_outputs(result.graph, run_tvm(result.graph, feeds))
