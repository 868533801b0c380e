"""Bad input through the CLI: one line on stderr naming the problem, the right exit code, no
traceback, and nothing the user had is overwritten."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler import cli as cli_module
from compiler.errors import FrontendError
from .conftest import ROOT, TINY_CNN, run_cli

SHAPE = (2, 3)
FLOAT = onnx.TensorProto.FLOAT


def make_model(nodes, inputs: dict[str, tuple], outputs: dict[str, tuple], *extra_opsets) -> onnx.ModelProto:
    """A model that passes onnx.checker when loaded from a file (typed inputs and outputs)."""
    graph = helper.make_graph(nodes, "test", [helper.make_tensor_value_info(n, FLOAT, s) for n, s in inputs.items()],
                              [helper.make_tensor_value_info(n, FLOAT, s) for n, s in outputs.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), *extra_opsets])
    model.ir_version = 8
    return model


def assert_one_line_error(result, code: int, *needles: str) -> str:
    """The command failed with ``code`` and printed exactly one 'edgec: error:' line naming ``needles``."""
    assert result.code == code, (result.code, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 or code == 2, result.err  # argparse prints its usage line before the error
    assert lines[-1].startswith("edgec: error: "), result.err
    assert "Traceback" not in result.err
    for needle in needles:
        assert needle in lines[-1], f"{needle!r} not in {lines[-1]!r}"
    return lines[-1]


@pytest.fixture(scope="module")
def two_inputs(tmp_path_factory) -> tuple[Path, Path]:
    """A compiled two-input model ``y = relu(a + b)``, a, b: f32[2,3]; returns (onnx file, artifact)."""
    tmp = tmp_path_factory.mktemp("two_inputs")
    model = make_model([helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("Relu", ["s"], ["y"])],
                       inputs={"a": SHAPE, "b": SHAPE}, outputs={"y": SHAPE})
    path = tmp / "add_relu.onnx"
    onnx.save(model, path)
    result = run_cli("compile", path, "-o", tmp / "art")
    assert result.code == 0, result.err
    return path, tmp / "art"


def save(tmp_path: Path, name: str, array: np.ndarray) -> Path:
    path = tmp_path / f"{name}.npy"
    np.save(path, array)
    return path


def good_inputs(tmp_path: Path) -> list[str]:
    return [f"a={save(tmp_path, 'a', np.ones(SHAPE, np.float32))}", f"b={save(tmp_path, 'b', np.ones(SHAPE, np.float32))}"]


def run_with(artifact: Path, inputs: list[str], *extra: str):
    args = ["run", artifact]
    for spec in inputs:
        args += ["--input", spec]
    return run_cli(*args, *extra)


# -- model files --------------------------------------------------------------------------
def test_missing_model_file(tmp_path):
    result = run_cli("compile", tmp_path / "nope.onnx", "-o", tmp_path / "out")
    assert_one_line_error(result, 1, "no such file", "nope.onnx")
    assert not (tmp_path / "out").exists()


def test_text_file_is_not_onnx(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a model\n" * 20)
    assert_one_line_error(run_cli("inspect", path), 1, str(path), "not a valid ONNX")


def test_truncated_onnx_file(tmp_path):
    data = TINY_CNN.read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) // 2])
    assert_one_line_error(run_cli("compile", path, "-o", tmp_path / "out"), 1, str(path))
    assert not (tmp_path / "out").exists()


def test_unsupported_ops_are_all_listed_with_node_names(tmp_path):
    nodes = [
        helper.make_node("NonMaxSuppression", ["boxes", "scores"], ["picked"], name="nms_1"),
        helper.make_node("Frobnicate", ["boxes"], ["f1"], name="frob_a", domain="com.acme"),
        helper.make_node("Frobnicate", ["f1"], ["f2"], name="frob_b", domain="com.acme"),
    ]
    model = make_model(nodes, {"boxes": (1, 4, 4), "scores": (1, 1, 4)}, {"picked": (3,), "f2": (1, 4, 4)},
                       helper.make_opsetid("com.acme", 1))
    path = tmp_path / "bad.onnx"
    onnx.save(model, path)
    assert_one_line_error(run_cli("compile", path, "-o", tmp_path / "out"), 1,
                          "unsupported", "NonMaxSuppression", "nms_1", "com.acme.Frobnicate", "frob_a", "frob_b")


def test_input_shape_for_unknown_input(two_inputs):
    assert_one_line_error(run_cli("inspect", two_inputs[0], "--input-shape", "zz=1,2"), 1, "zz", "'a'", "'b'")


def test_malformed_input_shape(two_inputs):
    assert_one_line_error(run_cli("inspect", two_inputs[0], "--input-shape", "a:2,3"), 1, "a:2,3", "NAME=")


def test_input_shape_that_contradicts_the_model(two_inputs):
    assert_one_line_error(run_cli("inspect", two_inputs[0], "--input-shape", "a=4,3"), 1, "a=4,3")


def test_unknown_target(two_inputs, tmp_path):
    assert_one_line_error(run_cli("compile", two_inputs[0], "-o", tmp_path / "out", "--target", "pdp11"), 1,
                          "pdp11", "host")


# -- run-time inputs ----------------------------------------------------------------------
def test_wrong_input_shape(two_inputs, tmp_path):
    bad = save(tmp_path, "a_t", np.ones(SHAPE[::-1], np.float32))
    result = run_with(two_inputs[1], [f"a={bad}", good_inputs(tmp_path)[1]])
    assert_one_line_error(result, 1, "'a'", "[3, 2]", "[2, 3]")


def test_wrong_input_dtype(two_inputs, tmp_path):
    bad = save(tmp_path, "a64", np.ones(SHAPE, np.float64))
    result = run_with(two_inputs[1], [f"a={bad}", good_inputs(tmp_path)[1]])
    assert_one_line_error(result, 1, "'a'", "float64", "float32")


def test_missing_input(two_inputs, tmp_path):
    assert_one_line_error(run_with(two_inputs[1], good_inputs(tmp_path)[:1]), 1, "missing", "'b'")


def test_unknown_input_name(two_inputs, tmp_path):
    result = run_with(two_inputs[1], good_inputs(tmp_path) + [f"c={tmp_path / 'a.npy'}"])
    assert_one_line_error(result, 1, "unknown input 'c'", "'a'", "'b'")


def test_bare_input_file_needs_a_name_for_two_inputs(two_inputs, tmp_path):
    assert_one_line_error(run_with(two_inputs[1], [good_inputs(tmp_path)[0].split("=", 1)[1]]), 1, "NAME=")


def test_input_file_missing(two_inputs, tmp_path):
    a, _ = good_inputs(tmp_path)
    assert_one_line_error(run_with(two_inputs[1], [a, f"b={tmp_path / 'gone.npy'}"]), 1, "'b'", "gone.npy")


def test_input_file_not_npy(two_inputs, tmp_path):
    a, _ = good_inputs(tmp_path)
    text = tmp_path / "b.txt"
    text.write_text("1 2 3\n")
    assert_one_line_error(run_with(two_inputs[1], [a, f"b={text}"]), 1, "'b'", "b.txt", "not a .npy")


def test_run_on_a_directory_that_is_not_an_artifact(tmp_path):
    assert_one_line_error(run_cli("run", tmp_path), 1, str(tmp_path), "not an edgec artifact")


# -- usage errors (exit 2) ----------------------------------------------------------------
@pytest.mark.parametrize("args", [[], ["frobnicate"], ["compile"], ["compile", "m.onnx"], ["bench", "x", "--repeat", "0"],
                                  ["bench", "x", "--warmup", "many"], ["inspect", "m.onnx", "--bogus"]])
def test_usage_errors_exit_2(args):
    result = run_cli(*args)
    assert result.code == 2, result
    assert "usage: edgec" in result.err and "Traceback" not in result.err


def test_output_must_be_npz(two_inputs, tmp_path):
    result = run_with(two_inputs[1], good_inputs(tmp_path), "--output", tmp_path / "y.txt")
    assert_one_line_error(result, 2, "y.txt", ".npz")
    assert not (tmp_path / "y.txt").exists()


# -- nothing is overwritten ----------------------------------------------------------------
def test_output_that_is_a_regular_file_is_refused(two_inputs, tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    assert_one_line_error(run_cli("compile", two_inputs[0], "-o", precious), 1, str(precious), "a file")
    assert precious.read_text() == "keep me"


def test_output_that_is_a_foreign_directory_is_refused(two_inputs, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"\xff\xd8 not really")
    assert_one_line_error(run_cli("compile", two_inputs[0], "-o", folder), 1, str(folder), "not an edgec artifact")
    assert sorted(p.name for p in folder.iterdir()) == ["cat.jpg"]
    assert (folder / "cat.jpg").read_bytes() == b"\xff\xd8 not really"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_failed_import_leaves_existing_artifact_intact(two_inputs, tmp_path):
    art = tmp_path / "art"
    assert run_cli("compile", two_inputs[0], "-o", art).code == 0
    before = snapshot(art)
    text = tmp_path / "broken.onnx"
    text.write_text("garbage")
    assert_one_line_error(run_cli("compile", text, "-o", art), 1, "broken.onnx")
    assert snapshot(art) == before


def test_failure_while_writing_leaves_existing_artifact_intact(two_inputs, tmp_path, monkeypatch):
    """A crash inside the atomic write: old artifact kept, no temporary folders left, 'internal error'."""
    art = tmp_path / "art"
    assert run_cli("compile", two_inputs[0], "-o", art).code == 0
    before = snapshot(art)
    from compiler.codegen import build

    def explode(graph):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(build, "format_graph", explode)
    line = assert_one_line_error(run_cli("compile", two_inputs[0], "-o", art), 1, "internal error", "disk on fire")
    assert "--debug" in line
    assert snapshot(art) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]


# -- --debug, Ctrl-C ------------------------------------------------------------------------
def test_debug_reraises_in_process(tmp_path):
    with pytest.raises(FrontendError, match="no such file"):
        cli_module.main(["--debug", "inspect", str(tmp_path / "nope.onnx")])
    with pytest.raises(FrontendError, match="no such file"):  # also accepted after the command
        cli_module.main(["inspect", str(tmp_path / "nope.onnx"), "--debug"])


def test_debug_shows_traceback(tmp_path):
    cmd = [sys.executable, "-m", "compiler.cli", "--debug", "inspect", str(tmp_path / "nope.onnx")]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "FrontendError" in proc.stderr and "nope.onnx" in proc.stderr


def test_keyboard_interrupt_exits_130(monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "cmd_targets", interrupted)
    result = run_cli("targets")
    assert result.code == 130 and "interrupted" in result.err and "Traceback" not in result.err
