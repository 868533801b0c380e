"""Op-level graphs through the C backend, checked against onnxruntime (independent oracle) and
the TVM-VM build; plus the clear error for a model the C backend cannot lower."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from tvm import relax

from compiler.errors import LoweringError
from compiler.frontend.onnx import import_onnx
from tests.oracle import make_model, rand, run_ort

from .helpers import assert_same, build_c, build_vm

W = rand(8, 1, 3, 3, seed=1)
CASES = {
    "depthwise_conv": (make_model([helper.make_node("Conv", ["x", "w"], ["y"], group=8, pads=[1, 1, 1, 1],
                                                    strides=[2, 2])], {"x": (1, 8, 9, 9)}, ["y"], {"w": W}),
                       {"x": (1, 8, 9, 9)}),
    "add": (make_model([helper.make_node("Add", ["a", "b"], ["y"])], {"a": (1, 4, 5, 5), "b": (1, 4, 5, 5)}, ["y"]),
            {"a": (1, 4, 5, 5), "b": (1, 4, 5, 5)}),
    "max_pool": (make_model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
                                              pads=[1, 1, 1, 1])], {"x": (1, 3, 10, 10)}, ["y"]), {"x": (1, 3, 10, 10)}),
    "avg_pool": (make_model([helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
                            {"x": (1, 3, 8, 8)}, ["y"]), {"x": (1, 3, 8, 8)}),
    "global_avg_pool": (make_model([helper.make_node("GlobalAveragePool", ["x"], ["y"])], {"x": (1, 6, 7, 7)},
                                   ["y"]), {"x": (1, 6, 7, 7)}),
    "concat": (make_model([helper.make_node("Relu", ["a"], ["r"]), helper.make_node("Concat", ["r", "b"], ["y"], axis=1)],
                          {"a": (1, 2, 4, 4), "b": (1, 3, 4, 4)}, ["y"]), {"a": (1, 2, 4, 4), "b": (1, 3, 4, 4)}),
    "two_outputs_one_is_input": (make_model([helper.make_node("Sigmoid", ["x"], ["s"]),
                                             helper.make_node("Identity", ["x"], ["same"])],
                                            {"x": (2, 3)}, ["s", "same"]), {"x": (2, 3)}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_graph_matches_onnxruntime_and_vm(tmp_path, case):
    model, shapes = CASES[case]
    graph = import_onnx(model)
    feeds = {name: rand(*shape, seed=i) for i, (name, shape) in enumerate(shapes.items())}
    have = build_c(graph, tmp_path / "c").run(feeds)
    want = dict(zip(graph.outputs, run_ort(model, feeds)))
    assert_same(have, want, False, "C vs onnxruntime", rtol=1e-5, atol=1e-5)
    assert_same(have, build_vm(graph, tmp_path / "vm").run(feeds), False, "C vs TVM VM")


def test_an_op_without_a_kernel_is_named(tmp_path):
    """A Relax call the C path cannot turn into a kernel fails with the op and the value it makes."""
    from compiler.codegen.aot.program import read_program

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((4,), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.call_dps_packed("my_extern", [x], relax.TensorType((4,), "float32")), name_hint="y")
            out = bb.emit_output(relax.Tuple([y]))
        bb.emit_func_output(out)

    class FakeGraph:
        inputs, outputs = ["x"], ["y"]

    with pytest.raises(LoweringError, match="cannot lower 'relax.call_dps_packed'.*'y'"):
        read_program(bb.get(), FakeGraph())
