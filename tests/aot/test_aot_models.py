"""The host build of the generated C equals the reference interpreter (int8: bit-exact) and the
TVM-VM build (float rtol 1e-5, int8 exact) on real models: tiny_cnn, the digits CNN (float and
int8) and the MLPerf Tiny reference models (int8 QDQ and float)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compiler.frontend.onnx import import_onnx
from compiler.ir import interpreter

from .helpers import ROOT, assert_same, build_c, check_against_oracles, digits_graph, digits_samples, mlperf_graph


def test_tiny_cnn_float_matches_vm_and_reference(tmp_path):
    check_against_oracles(import_onnx(str(ROOT / "examples" / "tiny_cnn.onnx")), tmp_path)


@pytest.mark.parametrize("quantized", [False, True], ids=["float", "int8"])
def test_digits_matches_vm_and_reference(tmp_path, quantized):
    graph = digits_graph(quantized)
    model = check_against_oracles(graph, tmp_path)
    _, test = digits_samples()
    feeds = {graph.inputs[0]: test[:1]}
    assert_same(model.run(feeds), interpreter.run(graph, feeds), quantized, "real digit")


def test_manifest_memory_agrees_with_the_library(tmp_path):
    model = build_c(digits_graph(True), tmp_path / "c")
    memory = json.loads((tmp_path / "c" / "manifest.json").read_text())["memory"]
    for key in ("arena_bytes", "workspace_bytes", "weights_bytes", "code_bytes", "flash_bytes", "ram_bytes"):
        assert isinstance(memory[key], int), key
    assert memory["arena_bytes"] == model.info["arena_bytes"] > 0
    assert memory["weights_bytes"] == model.info["weights_bytes"]
    assert memory["flash_bytes"] == memory["code_bytes"] + memory["weights_bytes"]
    assert max(s["peak_bytes"] for s in memory["per_step_peak"]) <= memory["arena_bytes"]
    assert [t["name"] for t in model.info["inputs"]] == [t.name for t in model.inputs]


@pytest.mark.parametrize("stem", ["kws_dscnn", "ad_autoencoder"])
def test_small_mlperf_int8_bit_exact_with_reference(tmp_path, stem):
    check_against_oracles(mlperf_graph(f"{stem}_int8_qdq"), tmp_path, vm=False, seeds=(0, 1, 2))


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["kws_dscnn", "ad_autoencoder", "ic_resnet8", "vww_mobilenetv1"])
def test_mlperf_int8_matches_vm_and_reference(tmp_path, stem):
    check_against_oracles(mlperf_graph(f"{stem}_int8_qdq"), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["kws_dscnn", "ad_autoencoder", "ic_resnet8", "vww_mobilenetv1"])
def test_mlperf_float_matches_vm_and_reference(tmp_path, stem):
    check_against_oracles(mlperf_graph(f"{stem}_fp32"), tmp_path, seeds=(0,))


def test_int8_io_descriptors_carry_quantization(tmp_path):
    graph = mlperf_graph("ad_autoencoder_int8_qdq")
    info = build_c(graph, tmp_path / "c").info
    for described, name in zip(info["inputs"] + info["outputs"], graph.inputs + graph.outputs):
        quant = graph.types[name].quant
        assert described["name"] == name and described["bytes"] == int(np.prod(graph.types[name].shape))
        assert quant is not None and np.isclose(described["scale"], quant.scale[0])
        assert described["zero_point"] == quant.zero_point[0]
