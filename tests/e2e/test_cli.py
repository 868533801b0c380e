"""The CLI end to end on examples/tiny_cnn.onnx, checked against onnxruntime and hand counts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from .conftest import TINY_CNN, run_cli

# Hand count for tiny_cnn (see examples/make_example_model.py): output elements x weights per output.
CONV1_MACS = (8 * 16 * 16) * (3 * 3 * 3)
CONV2_MACS = (16 * 16 * 16) * (8 * 3 * 3)
FC_MACS = 1024 * 10


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """tiny_cnn compiled once through the CLI (with --dump-ir, --report); returns (artifact, CliResult)."""
    out = tmp_path_factory.mktemp("tiny") / "tiny.edgec"
    result = run_cli("compile", TINY_CNN, "--target", "host", "-o", out, "--dump-ir", out.parent / "ir", "--report")
    assert result.code == 0, result.err
    return out, result


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(7).standard_normal((1, 3, 16, 16)).astype(np.float32)


def onnxruntime_probs(image: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(TINY_CNN), providers=["CPUExecutionProvider"])
    return session.run(["probs"], {"input": image})[0]


def test_compile_writes_artifact_and_summary(compiled):
    out, result = compiled
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"] == [{"name": "input", "shape": [1, 3, 16, 16], "dtype": "float32"}]
    assert manifest["outputs"] == [{"name": "probs", "shape": [1, 10], "dtype": "float32"}]
    assert (out / manifest["library"]).is_file()
    assert f"-> {out}" in result.out
    assert "input f32[1,3,16,16]" in result.out and "probs f32[1,10]" in result.out
    assert "MACs" in result.out and "params" in result.out
    dumps = sorted(p.name for p in (out.parent / "ir").iterdir())
    assert dumps[0] == "000_input.ir" and dumps[1] == "001_eliminate-noops.ir"
    assert (out.parent / "ir" / "000_input.ir").read_text().startswith("graph tiny_cnn(%input: f32[1,3,16,16])")
    # the report and the manifest say what the passes did: both batch norms folded into the convs
    folded = {p["pass"]: p["changes"] for p in manifest["passes"]}["fold-batchnorm"]
    assert folded["batchnorms_folded"] == 2
    assert "fold-batchnorm" in result.out and "batchnorms_folded=2" in result.out
    assert "batch_norm" not in manifest["op_counts"]


def test_run_matches_onnxruntime(compiled, image, tmp_path):
    np.save(tmp_path / "x.npy", image)
    result = run_cli("run", compiled[0], "--input", f"input={tmp_path / 'x.npy'}", "--output", tmp_path / "y.npz")
    assert result.code == 0, result.err
    want = onnxruntime_probs(image)
    with np.load(tmp_path / "y.npz") as saved:
        assert list(saved.keys()) == ["probs"]
        np.testing.assert_allclose(saved["probs"], want, rtol=1e-4, atol=1e-6)
    assert "probs: shape [1, 10] float32" in result.out
    assert f"argmax {int(np.argmax(want))}" in result.out


def test_run_with_bare_file_for_single_input_model(compiled, image, tmp_path):
    np.save(tmp_path / "x.npy", image)
    result = run_cli("run", compiled[0], "--input", tmp_path / "x.npy")
    assert result.code == 0, result.err
    assert f"argmax {int(np.argmax(onnxruntime_probs(image)))}" in result.out


def test_run_output_replaces_an_earlier_npz(compiled, image, tmp_path):
    np.save(tmp_path / "x.npy", image)
    (tmp_path / "y.npz").write_bytes(b"old")
    assert run_cli("run", compiled[0], "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npz").code == 0
    with np.load(tmp_path / "y.npz") as saved:
        assert saved["probs"].shape == (1, 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "y.npz"]  # no temporary files left


def test_bench_json(compiled):
    result = run_cli("bench", compiled[0], "--repeat", 7, "--warmup", 1, "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)  # exactly one JSON object on stdout
    for key in ("median_ms", "mean_ms", "p90_ms", "min_ms", "std_ms"):
        assert isinstance(report[key], float) and report[key] >= 0, key
    assert report["repeat"] == 7 and report["warmup"] == 1
    assert 0 < report["min_ms"] <= report["median_ms"] <= report["p90_ms"]
    assert report["min_ms"] <= report["mean_ms"]
    assert report["target"] == "host"
    assert report["device"].startswith("cpu: ") and report["device"].rstrip("s").endswith("thread")


def test_bench_table(compiled):
    result = run_cli("bench", compiled[0], "--repeat", 3, "--warmup", 0)
    assert result.code == 0, result.err
    assert "median" in result.out and "p90" in result.out and "3 runs" in result.out


def onnx_param_count() -> int:
    return sum(int(numpy_helper.to_array(t).size) for t in onnx.load(str(TINY_CNN)).graph.initializer)


def test_inspect_json_counts(cli):
    result = cli("inspect", TINY_CNN, "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    layers = report["layers"]
    conv = [layer for layer in layers if layer["op"] == "conv"]
    dense = [layer for layer in layers if layer["op"] in ("dense", "matmul")]
    assert [layer["macs"] for layer in conv] == [CONV1_MACS, CONV2_MACS]
    assert [layer["macs"] for layer in dense] == [FC_MACS]
    assert report["macs"] == sum(layer["macs"] for layer in layers) >= CONV1_MACS + CONV2_MACS + FC_MACS
    # Batch norm may fold into the convolutions, but the conv and fc weights are irreducible.
    irreducible = 8 * 27 + 16 * 72 + 1024 * 10
    assert irreducible <= report["params"] <= onnx_param_count()
    assert report["param_bytes"] == 4 * report["params"]
    assert report["op_counts"]["conv"] == 2
    assert sum(report["op_counts"].values()) == len(layers)
    assert layers[-1]["output_shape"] == [1, 10]
    assert report["inputs"] == [{"name": "input", "shape": [1, 3, 16, 16], "dtype": "float32"}]
    assert report["outputs"] == [{"name": "probs", "shape": [1, 10], "dtype": "float32"}]


def test_inspect_table_and_ir(cli):
    table = cli("inspect", TINY_CNN)
    assert table.code == 0, table.err
    assert "conv" in table.out and f"{CONV2_MACS:,}" in table.out and "total:" in table.out
    ir = cli("inspect", TINY_CNN, "--ir")
    assert ir.code == 0 and ir.out.startswith("graph tiny_cnn(") and "= conv(" in ir.out
    both = json.loads(cli("inspect", TINY_CNN, "--ir", "--json").out)
    assert both["ir"] == ir.out


def test_input_shape_fixes_a_symbolic_dimension(cli, tmp_path):
    model = onnx.load(str(TINY_CNN))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    path = tmp_path / "batch.onnx"
    onnx.save(model, path)
    default = cli("inspect", path, "--json")
    assert default.code == 0, default.err
    assert default.err.startswith("edgec: note: ") and "batch" in default.err  # symbolic dim set to 1
    fixed = cli("inspect", path, "--json", "--input-shape", "input=4,3,16,16")
    assert fixed.code == 0 and fixed.err == ""
    assert json.loads(fixed.out)["macs"] == 4 * json.loads(default.out)["macs"]


def test_targets_lists_host(cli):
    result = cli("targets")
    assert result.code == 0
    assert any(line.startswith("host ") for line in result.out.splitlines())


@pytest.mark.parametrize("command", ["compile", "run", "bench", "inspect", "targets"])
def test_every_command_has_help(cli, command):
    result = cli(command, "--help")
    assert result.code == 0 and result.out.startswith(f"usage: edgec {command}")


def test_version(cli):
    result = cli("--version")
    assert result.code == 0 and result.out.startswith("edgec ")


def test_installed_console_script(tmp_path):
    """The `edgec` entry point from `pip install -e .` (make test installs it)."""
    script = shutil.which("edgec", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("edgec console script not installed in this environment (run `make test`)")
    ok = subprocess.run([script, "inspect", "--json", str(TINY_CNN)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["op_counts"]["conv"] == 2
    bad = subprocess.run([script, "compile", str(tmp_path / "nope.onnx"), "-o", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and bad.stderr.startswith("edgec: error: ") and len(bad.stderr.splitlines()) == 1
