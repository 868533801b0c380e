"""``edgec compile/compress --quantize int8``: the CLI path, its report, and its bad-input errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.e2e.conftest import ROOT, run_cli

DIGITS = ROOT / "examples" / "digits" / "digits_cnn.onnx"


@pytest.fixture(scope="module")
def digits():
    from examples.digits.data import load_split

    return load_split()


@pytest.fixture(scope="module")
def calib(tmp_path_factory, digits):
    path = tmp_path_factory.mktemp("calib") / "calib.npy"
    np.save(path, digits[0][:64])
    return path


def test_compile_int8_runs_and_reports(tmp_path, calib, digits):
    out = tmp_path / "int8"
    result = run_cli("compile", DIGITS, "-o", out, "--quantize", "int8", "--calib", calib, "--report")
    assert result.code == 0, result.err
    assert "qconv" in result.out and "output SQNR" in result.out and "4.00x smaller" in result.out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["op_counts"]["qconv"] == 3 and "conv" not in manifest["op_counts"]
    quant_pass = manifest["passes"][-1]
    assert quant_pass["pass"] == "quantize-int8" and quant_pass["output_sqnr_db"]["logits"] > 25
    x = digits[2][:1]
    np.save(tmp_path / "x.npy", x)
    ran = run_cli("run", out, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npz")
    assert ran.code == 0, ran.err
    assert int(np.argmax(np.load(tmp_path / "y.npz")["logits"])) == int(digits[3][0])


def test_keep_float_auto_and_by_name(tmp_path, calib):
    result = run_cli("compile", DIGITS, "-o", tmp_path / "a", "--quantize", "int8", "--calib", calib,
                     "--keep-float", "/12/Gemm", "--report")
    assert result.code == 0, result.err
    counts = json.loads((tmp_path / "a" / "manifest.json").read_text())["op_counts"]
    assert counts.get("dense") == 1 and "qdense" not in counts
    result = run_cli("compile", DIGITS, "-o", tmp_path / "b", "--quantize", "int8", "--calib", calib,
                     "--keep-float", "auto", "--sqnr-target", "20")
    assert result.code == 0, result.err


@pytest.mark.parametrize("make_data,message", [
    (lambda d: d[0][:8, :, :4, :], "shape"),                              # wrong shape
    (lambda d: (d[0][:8] * 16).astype(np.uint8), "dtype"),               # pixels, not the float input
    (lambda d: d[0][:0], "empty"),                                        # no samples
    (lambda d: np.where(np.arange(8 * 64).reshape(8, 1, 8, 8) == 5, np.nan, d[0][:8]).astype(np.float32), "NaN"),
])
def test_bad_calibration_data(tmp_path, digits, make_data, message):
    path = tmp_path / "bad.npy"
    np.save(path, make_data(digits))
    result = run_cli("compile", DIGITS, "-o", tmp_path / "out", "--quantize", "int8", "--calib", path)
    assert result.code == 1, result.err
    errors = [line for line in result.err.splitlines() if line.startswith("edgec: error:")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in result.err
    assert not (tmp_path / "out").exists()


def test_usage_errors(tmp_path, calib):
    cases = [(["--quantize", "int8"], "calibration data"),                            # no --calib
             (["--quantize", "int8", "--calib", calib, "--keep-float", "nope"], "unknown layer"),
             (["--calib", calib], "only apply with --quantize")]
    for args, message in cases:
        result = run_cli("compile", DIGITS, "-o", tmp_path / "out", *args)
        assert result.code == 2, (args, result.err)
        assert message in result.err
