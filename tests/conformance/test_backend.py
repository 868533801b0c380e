"""compiler.backend: edgec behind ONNX's backend API (prepare / run / run_node / devices)."""

from __future__ import annotations

import gc
import tempfile
from pathlib import Path

import numpy as np
import pytest
from onnx import helper

from compiler.backend import EdgecBackend
from compiler.errors import FrontendError, InputError, LoweringError, TargetError
from tests.oracle import make_model, rand


def two_outputs_model():
    nodes = [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Relu", ["sum"], ["0"])]
    return make_model(nodes, {"a": (2, 3), "b": (2, 3)}, ["sum", "0"])


def test_prepare_and_run_list_dict_and_names():
    a, b = rand(2, 3), rand(2, 3, seed=1)
    rep = EdgecBackend.prepare(two_outputs_model())
    for out in (rep.run([a, b]), rep.run({"b": b, "a": a})):
        assert len(out) == 2
        np.testing.assert_allclose(out[0], a + b, rtol=1e-6)
        np.testing.assert_allclose(out["0"], np.maximum(a + b, 0), rtol=1e-6)  # not an identifier: by name
        assert out.sum is out[0]
    rep.close()


def test_run_model_and_single_array():
    model = make_model([helper.make_node("Neg", ["x"], ["y"])], {"x": (4,)}, ["y"])
    x = rand(4)
    (y,) = EdgecBackend.run_model(model, x)
    np.testing.assert_array_equal(y, -x)


def test_run_node_wraps_one_node():
    node = helper.make_node("LeakyRelu", ["x"], ["y"], alpha=0.5)
    x = np.array([-2.0, 3.0], np.float32)
    (y,) = EdgecBackend.run_node(node, [x])
    np.testing.assert_array_equal(y, [-1.0, 3.0])
    (y,) = EdgecBackend.run_node(helper.make_node("Softmax", ["x"], ["y"], axis=0), [x], opset_version=11)
    np.testing.assert_allclose(y, np.exp(x) / np.exp(x).sum(), rtol=1e-6)


def test_wrong_inputs_are_input_errors():
    rep = EdgecBackend.prepare(two_outputs_model())
    with pytest.raises(InputError, match=r"got 1 input\(s\), the model takes 2"):
        rep.run([rand(2, 3)])
    with pytest.raises(InputError, match="input 'a' has shape"):
        rep.run([rand(3, 2), rand(2, 3)])


def test_devices():
    assert EdgecBackend.supports_device("CPU")
    assert not EdgecBackend.supports_device("CUDA")
    assert not EdgecBackend.supports_device("TPU")
    with pytest.raises(TargetError, match="device 'CPU' only, not 'CUDA'"):
        EdgecBackend.prepare(two_outputs_model(), "CUDA")


def test_artifact_folder_is_removed():
    rep = EdgecBackend.prepare(two_outputs_model())
    folder = Path(rep.model.path).parent
    assert folder.is_dir()
    del rep
    gc.collect()
    assert not folder.exists()
    rep = EdgecBackend.prepare(two_outputs_model())
    folder = Path(rep.model.path).parent
    rep.close()
    assert not folder.exists()


def test_failed_build_leaves_no_folder(tmp_path, monkeypatch):
    import compiler.codegen.build as build

    def fail(*args, **kwargs):
        raise LoweringError("TVM could not compile the model")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(build, "compile_graph", fail)
    with pytest.raises(LoweringError):
        EdgecBackend.prepare(two_outputs_model())
    assert list(tmp_path.iterdir()) == []
    model = make_model([helper.make_node("Frobnicate", ["x"], ["y"])], {"x": (2,)}, ["y"])
    with pytest.raises(FrontendError, match="unsupported op"):
        EdgecBackend.prepare(model)
