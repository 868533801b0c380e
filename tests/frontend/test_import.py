"""The importer around the converters: file checks, symbolic dims, input shapes, old-style models.

The MLPerf Tiny float models (``shared/models/mlperf-tiny``) are real converted models; they
import with their symbolic batch set to 1 and must match onnxruntime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.errors import FrontendError
from compiler.frontend.onnx import import_onnx, parse_input_shapes, unsupported_ops
from tests.oracle import check_model, make_model, rand, run_ort

ROOT = Path(__file__).resolve().parents[2]
MLPERF = next((p for p in (ROOT.parent / "shared/models/mlperf-tiny", ROOT / "shared/models/mlperf-tiny")
               if p.is_dir()), None)
MLPERF_MODELS = sorted(MLPERF.glob("*_fp32.onnx")) if MLPERF else []


def symbolic_model(dims=("N", 3)) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "sym", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_symbolic_batch_defaults_to_one_with_notice():
    notices: list[str] = []
    graph = import_onnx(symbolic_model(), notices=notices)
    assert graph.types["x"].shape == (1, 3)
    assert len(notices) == 1
    assert "input 'x'" in notices[0] and "N" in notices[0] and "set to 1" in notices[0]
    assert "--input-shape x=" in notices[0]


def test_unnamed_unknown_dim_defaults_to_one():
    model = symbolic_model()
    model.graph.input[0].type.tensor_type.shape.dim[0].Clear()  # neither dim_value nor dim_param
    notices: list[str] = []
    assert import_onnx(model, notices=notices).types["x"].shape == (1, 3)
    assert "?" in notices[0]


def test_input_shapes_fix_the_symbolic_dim():
    notices: list[str] = []
    graph = import_onnx(symbolic_model(), input_shapes={"x": (4, 3)}, notices=notices)
    assert graph.types["x"].shape == (4, 3) and graph.types["y"].shape == (4, 3)
    assert notices == []
    assert import_onnx(symbolic_model(), input_shapes=parse_input_shapes(["x=2,3"])).types["y"].shape == (2, 3)


@pytest.mark.parametrize("shapes,message", [
    ({"z": (1, 3)}, r"names unknown input\(s\) \['z'\]; the model's inputs are \['x'\]"),
    ({"x": (2, 4)}, r"x=2,4 does not fit the model's input shape \['N', 3\]"),
    ({"x": (2, 3, 1)}, r"x=2,3,1 does not fit"),
])
def test_bad_input_shapes(shapes, message):
    with pytest.raises(FrontendError, match=message):
        import_onnx(symbolic_model(), input_shapes=shapes)


@pytest.mark.parametrize("spec", ["x", "=1,2", "x=1,a", "x:1,2"])
def test_bad_input_shape_spec(spec):
    with pytest.raises(FrontendError, match="is not NAME=D1,D2"):
        parse_input_shapes([spec])


def test_input_without_shape_needs_input_shapes():
    model = symbolic_model()
    model.graph.input[0].type.tensor_type.ClearField("shape")
    with pytest.raises(FrontendError, match=r"input 'x' has no shape; give one with --input-shape x="):
        import_onnx(model)
    assert import_onnx(model, input_shapes={"x": (2, 2)}).types["y"].shape == (2, 2)


def test_old_style_model_lists_initializers_as_inputs():
    """Models from before IR version 4 declare every weight as a graph input too."""
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], {"x": (2, 3), "w": (2, 3)}, ["y"],
                       initializers={"w": w})
    model.ir_version = 3
    graph = check_model(model, {"x": rand(2, 3)})
    assert graph.inputs == ["x"] and "w" in graph.constants


def test_unsupported_ops_are_listed_together():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Frobnicate", ["a"], ["b"], name="f1"),
             helper.make_node("Frobnicate", ["b"], ["c"], name="f2"),
             helper.make_node("Gizmo", ["c"], ["y"], domain="com.example")]
    model = make_model(nodes, {"x": (2,)}, ["y"])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    assert unsupported_ops(model) == {"Frobnicate": ["f1", "f2"], "com.example.Gizmo": ["#3 (y)"]}
    with pytest.raises(FrontendError, match=r"unsupported op\(s\): Frobnicate \(nodes: f1, f2\); "
                                            r"com.example.Gizmo \(nodes: #3 \(y\)\)"):
        import_onnx(model)


def test_opset_out_of_range():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": (2,)}, ["y"], opset=6)
    with pytest.raises(FrontendError, match="model uses opset 6; edgec supports opsets 7 to"):
        import_onnx(model)


def test_unsupported_input_dtype():
    model = make_model([helper.make_node("Identity", ["x"], ["y"])], {"x": (2,)}, ["y"],
                       input_dtype=TensorProto.BFLOAT16)
    with pytest.raises(FrontendError, match="input 'x' has dtype bfloat16, which edgec does not support"):
        import_onnx(model)


def test_file_errors(tmp_path):
    with pytest.raises(FrontendError, match="no such file"):
        import_onnx(tmp_path / "missing.onnx")
    with pytest.raises(FrontendError, match="is a directory"):
        import_onnx(tmp_path)
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07\x12\xff\xff\xff garbage")
    with pytest.raises(FrontendError, match="corrupt.onnx is not a valid ONNX"):
        import_onnx(corrupt)
    good = tmp_path / "good.onnx"
    onnx.save(symbolic_model(), good)
    good.write_bytes(good.read_bytes()[:-7])  # truncated
    with pytest.raises(FrontendError, match="good.onnx is not a valid ONNX"):
        import_onnx(good)


def test_graph_output_names_are_kept():
    """Outputs keep their ONNX names, even when an output is a graph input or a constant."""
    c = numpy_helper.from_array(np.ones(2, np.float32), "c")
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Identity", ["x"], ["x_out"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in ("r", "x", "c")],
                              [c])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    feeds = {"x": np.array([-1.0, 2.0], np.float32)}
    imported = check_model(model, feeds)
    assert len(imported.outputs) == 3 and imported.outputs[0] == "r"



def test_zero_sized_input_dimension_is_refused():
    with pytest.raises(FrontendError, match="input 'x' has a zero-sized dimension"):
        import_onnx(symbolic_model(dims=(0, 3)))


@pytest.mark.slow
@pytest.mark.skipif(not MLPERF_MODELS, reason="shared/models/mlperf-tiny is not present")
@pytest.mark.parametrize("path", MLPERF_MODELS, ids=[p.stem for p in MLPERF_MODELS])
def test_mlperf_tiny_float_model(path):
    model = onnx.load(path)
    notices: list[str] = []
    graph = import_onnx(model, notices=notices)
    assert len(notices) == 1 and "set to 1" in notices[0]
    (name,) = graph.inputs
    assert graph.types[name].shape[0] == 1
    feeds = {name: rand(*graph.types[name].shape, seed=3)}
    assert run_ort(model, feeds)[0].shape[0] == 1
    check_model(model, feeds, rtol=1e-3, atol=1e-5)
