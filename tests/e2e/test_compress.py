"""``edgec compress`` and the pass options of ``edgec compile``, checked against onnxruntime."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx

from tests.e2e.conftest import TINY_CNN, run_cli
from tests.oracle import run_ort


def feeds():
    return {"input": np.random.default_rng(3).standard_normal((1, 3, 16, 16)).astype(np.float32)}


def test_compress_merge_writes_smaller_equivalent_onnx(tmp_path):
    out = tmp_path / "merged.onnx"
    result = run_cli("compress", TINY_CNN, "-o", out, "--merge", "--report")
    assert result.code == 0, result.err
    original, merged = onnx.load(TINY_CNN), onnx.load(out)
    onnx.checker.check_model(merged)
    assert "BatchNormalization" in {n.op_type for n in original.graph.node}
    assert "BatchNormalization" not in {n.op_type for n in merged.graph.node}
    assert len(merged.graph.node) < len(original.graph.node)
    np.testing.assert_allclose(run_ort(merged, feeds())[0], run_ort(original, feeds())[0], rtol=1e-5, atol=1e-6)
    assert "fold-batchnorm" in result.out


def test_compile_no_merge_keeps_batch_norm(tmp_path):
    result = run_cli("compile", TINY_CNN, "-o", tmp_path / "a", "--no-merge")
    assert result.code == 0, result.err
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["op_counts"]["batch_norm"] == 2 and manifest["passes"] == []


def test_compile_with_selected_passes(tmp_path):
    result = run_cli("compile", TINY_CNN, "-o", tmp_path / "a", "--passes", "fold-batchnorm,eliminate-dead-nodes")
    assert result.code == 0, result.err
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert [p["pass"] for p in manifest["passes"]] == ["fold-batchnorm", "eliminate-dead-nodes"]
    assert "batch_norm" not in manifest["op_counts"]


def test_passes_are_listed():
    result = run_cli("passes")
    assert result.code == 0
    for name in ("fold-batchnorm", "fuse-activations", "merge-linear-chains", "eliminate-dead-nodes"):
        assert name in result.out


def test_compress_usage_errors_leave_input_alone(tmp_path):
    model = tmp_path / "model.onnx"
    shutil.copy(TINY_CNN, model)
    before = model.read_bytes()
    for args in (["-o", tmp_path / "x.onnx"],                       # no compression chosen
                 ["-o", model, "--merge"],                            # would overwrite the input
                 ["-o", tmp_path / "x.txt", "--merge"],               # not an .onnx name
                 ["-o", tmp_path / "x.onnx", "--passes", "fold-everything"]):
        result = run_cli("compress", model, *args)
        assert result.code == 2, (args, result.err)
        assert result.err.startswith("edgec: error:") and len(result.err.strip().splitlines()) == 1
    assert model.read_bytes() == before
    assert not (tmp_path / "x.onnx").exists()
