"""Recovery without training, on cases where it is exact (oracle: onnxruntime on the original).

- mean absorption: a removed channel that is constant (zero filter, positive bias through ReLU)
  folds into the consumer's bias exactly;
- least squares: a removed channel that is a multiple of a kept one is re-expressed exactly
  by re-fitting the consumer.
"""

from __future__ import annotations

import numpy as np

from compiler.frontend.onnx import import_onnx
from compiler.ir import interpreter
from compiler.prune import PruneOptions, prune
from tests.oracle import run_ort
from tests.prune.helpers import Net, feeds_for

X = {"x": (1, 3, 8, 8)}


def _calib(n: int = 16) -> np.ndarray:
    return np.random.default_rng(5).standard_normal((n, 3, 8, 8)).astype(np.float32)


def _max_error(model, options) -> float:
    feeds = feeds_for(model)
    want = run_ort(model, feeds)[0]
    result = prune(import_onnx(model), options)
    got = interpreter.run(result.graph, feeds)[result.graph.outputs[0]]
    return float(np.abs(got - want).max() / np.abs(want).max())


def test_mean_absorption_of_a_constant_channel():
    net = Net()
    h = net.conv("c1", "x", 3, 8, k=1, dead=(3,))
    net.inits["c1.b"][3] = 0.7  # channel 3 is relu(0.7) everywhere
    net.conv("c2", h, 8, 4, k=1, relu=False)
    model = net.model(X, ["c2"])
    base = dict(layer_ratios={"c1": 0.125}, channel_multiple=1, reconstruct=False)
    assert _max_error(model, PruneOptions(**base, calib=_calib())) < 1e-5
    assert _max_error(model, PruneOptions(**base)) > 1e-2  # without data the constant is lost


def test_least_squares_re_expresses_a_dependent_channel():
    net = Net()
    h = net.conv("c1", "x", 3, 8, k=3, relu=False)
    net.inits["c1.w"][5] = 0.05 * net.inits["c1.w"][0]  # channel 5 = 0.05 * channel 0: the weakest
    net.inits["c1.b"][5] = 0.05 * net.inits["c1.b"][0]
    net.conv("c2", h, 8, 4, relu=False)
    model = net.model(X, ["c2"])
    base = dict(layer_ratios={"c1": 0.125}, channel_multiple=1)
    assert _max_error(model, PruneOptions(**base, calib=_calib())) < 1e-3
    assert _max_error(model, PruneOptions(**base)) > 1e-2


def test_stacked_calibration_runs_match_one_by_one():
    """Samples run stacked on a rebatched graph give the same values as one at a time."""
    from compiler.prune.calib import collect, rebatch

    net = Net()
    h = net.conv("c1", "x", 3, 4)
    f = net.op("Flatten", [net.op("MaxPool", [h], "pool", kernel_shape=[2, 2], strides=[2, 2])], "flat")
    net.gemm("fc", f, 64, 5)
    graph = import_onnx(net.model(X, ["fc"]))
    samples = [{"x": s[None]} for s in _calib(7)]
    assert rebatch(graph, 3) is not None
    one_by_one = np.concatenate([interpreter.run(graph, s)["fc"] for s in samples])
    np.testing.assert_allclose(collect(graph, samples, ["fc"])["fc"], one_by_one, rtol=1e-6, atol=1e-6)
