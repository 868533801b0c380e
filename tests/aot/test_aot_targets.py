"""The C targets end to end: `edgec compile --target c` (report, run, bench) and the Cortex-M
targets, which emit the same sources plus the board project (and the ELF where the toolchain is)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import runtime
from compiler.cli import main
from compiler.codegen.build import compile_graph
from targets import TARGETS

from .helpers import ROOT, digits_graph


def test_c_target_is_listed_and_runs_here():
    spec = TARGETS["c"]
    assert spec.tvm == {"kind": "c"} and spec.runs_on_host


def test_cli_compile_report_run_and_bench(tmp_path, capsys):
    out = tmp_path / "tiny"
    assert main(["compile", str(ROOT / "examples" / "tiny_cnn.onnx"), "--target", "c", "-o", str(out), "--report"]) == 0
    text = capsys.readouterr().out
    assert "RAM:" in text and "flash:" in text and "memory plan" in text and "edgec_k0_" in text
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runtime"] == "edgec-c" and (out / "libmodel.so").is_file()
    assert all((out / s).is_file() for s in manifest["sources"])
    x = np.random.default_rng(0).random((1, 3, 16, 16)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(out), "--input", f"input={tmp_path / 'x.npy'}"]) == 0
    assert main(["bench", str(out), "--repeat", "3", "--warmup", "1"]) == 0
    assert "median" in capsys.readouterr().out
    probs = runtime.load(out).run({"input": x})["probs"]
    assert probs.shape == (1, 10) and abs(float(probs.sum()) - 1.0) < 1e-5


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m55"])
def test_cortex_m_targets_emit_sources_and_sizes(tmp_path, target):
    result = compile_graph(digits_graph(True), tmp_path / target, target)
    out, memory = result.path, result.manifest["memory"]
    assert {"model.c", "model.h", "kernels.c", "kernels.h", "edgec_runtime.c", "edgec_runtime.h"} <= \
        {p.name for p in (out / "src").iterdir()}
    assert result.manifest["library"] is None and memory["arena_bytes"] > 0 and memory["weights_bytes"] > 0
    if (ROOT / "targets" / "mcu" / "project.py").is_file():
        assert (out / "Makefile").is_file()
        if shutil.which("arm-none-eabi-gcc"):
            assert memory["code_bytes"] > 0 and memory["flash_bytes"] >= memory["weights_bytes"]
            assert memory["ram_bytes"] >= memory["arena_bytes"]


def test_recompiling_in_place_runs_the_new_code(tmp_path):
    from onnx import helper

    from compiler.frontend.onnx import import_onnx
    from tests.oracle import make_model

    x = np.arange(6, dtype="float32").reshape(2, 3) - 2
    out = tmp_path / "m"
    for op, want in (("Relu", np.maximum(x, 0)), ("Neg", -x)):
        graph = import_onnx(make_model([helper.make_node(op, ["x"], ["y"])], {"x": (2, 3)}, ["y"]))
        compile_graph(graph, out, "c")
        np.testing.assert_array_equal(runtime.load(out).run({"x": x})["y"], want)
