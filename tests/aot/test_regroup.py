"""regroup_for_memory: injective tails of a fused group move into the group that reads them when
the value passed between them shrinks (numerics are covered by the model tests)."""

from __future__ import annotations

from tvm import relax

from compiler.codegen.aot.program import TEMP, fused_module, read_program
from compiler.codegen.lower import to_relax
from compiler.frontend.onnx import import_onnx

from .helpers import ROOT, digits_graph, mlperf_graph


def programs(graph):
    mod = to_relax(graph)
    return read_program(relax.get_pipeline("zero")(mod), graph), read_program(fused_module(mod), graph)


def temp_bytes(program) -> int:
    return sum(t.nbytes for t in program.tensors.values() if t.kind == TEMP)


def test_standalone_pads_move_into_the_conv_that_reads_them():
    before, after = programs(digits_graph(True))
    assert any(name.startswith("pad") for name in before.origin.values())
    assert not any(name.startswith("pad") for name in after.origin.values())
    assert len(after.steps) < len(before.steps) and temp_bytes(after) < temp_bytes(before)


def test_widening_casts_stay_with_the_reader():
    """In TVM's grouping the DS-CNN's average pool reads an int32 copy of the last conv's output;
    after regrouping every intermediate is int8."""
    before, after = programs(mlperf_graph("kws_dscnn_int8_qdq"))
    assert any(t.dtype == "int32" for t in before.tensors.values() if t.kind == TEMP)
    assert all(t.dtype == "int8" for t in after.tensors.values() if t.kind == TEMP)


def test_only_what_shrinks_moves():
    """tiny_cnn: the flatten copy joins the dense layer; the conv groups, whose tails (bias, ReLU)
    are as large as what they would pass instead, stay as they are."""
    before, after = programs(import_onnx(str(ROOT / "examples" / "tiny_cnn.onnx")))
    assert [s.kernel for s in before.steps if "reshape" in s.kernel] and len(after.steps) == len(before.steps) - 1
    convs = [before.origin[s.kernel] for s in before.steps if "conv" in s.kernel]
    assert [after.origin[s.kernel] for s in after.steps if "conv" in s.kernel] == convs
    assert temp_bytes(after) < temp_bytes(before)
