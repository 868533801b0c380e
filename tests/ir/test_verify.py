"""The verifier: every broken invariant is reported with the node (or value) it concerns."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.errors import VerifyError
from compiler.ir import GraphBuilder, Node, TensorType, verify


def chain():
    """x -> relu (node 'r1') -> sigmoid (node 's1') -> y"""
    b = GraphBuilder("chain")
    x = b.input("x", (2, 3))
    w = b.const(np.ones((2, 3), np.float32), "w")
    r = b.op("relu", [x], name="r1")
    s = b.op("add", [r, w], name="s1", outputs=["y"])
    b.output(s)
    return b.build()


def test_valid_graph_passes():
    verify(chain())


def test_unknown_op_names_the_node():
    g = chain()
    g.nodes[0].op = "relux"
    with pytest.raises(VerifyError, match=r"relux node 'r1': unknown op 'relux' \(known ops: .*relu"):
        verify(g)


def test_use_before_definition_names_the_node():
    g = chain()
    g.nodes.reverse()
    with pytest.raises(VerifyError, match="add node 's1' uses 'r1' before it is defined"):
        verify(g)


def test_undefined_input_names_the_node():
    g = chain()
    g.nodes[1].inputs[1] = "ghost"
    with pytest.raises(VerifyError, match="add node 's1' uses 'ghost' before it is defined"):
        verify(g)


def test_wrong_recorded_type_names_node_and_value():
    g = chain()
    g.types["r1"] = TensorType((3, 2), "float32")
    with pytest.raises(VerifyError, match=r"relu node 'r1': output 'r1' is typed f32\[3,2\] but the op produces "
                                          r"f32\[2,3\]"):
        verify(g)
    g.types["r1"] = TensorType((2, 3), "float16")
    with pytest.raises(VerifyError, match="relu node 'r1': output 'r1' is typed f16"):
        verify(g)


def test_duplicate_definition():
    g = chain()
    g.nodes[1].outputs = ["r1"]
    g.outputs = ["r1"]
    del g.types["y"]
    with pytest.raises(VerifyError, match=r"value 'r1' is defined twice \(add node 's1'\)"):
        verify(g)
    g = chain()
    g.nodes[0].outputs = ["x"]  # redefines a graph input
    with pytest.raises(VerifyError, match="value 'x' is defined twice"):
        verify(g)


def test_missing_graph_output():
    g = chain()
    g.outputs.append("nowhere")
    with pytest.raises(VerifyError, match="graph output 'nowhere' is never defined"):
        verify(g)


def test_missing_type():
    g = chain()
    del g.types["y"]
    with pytest.raises(VerifyError, match=r"value 'y' \(add node 's1'\) has no type"):
        verify(g)


def test_constant_with_wrong_type():
    g = chain()
    g.types["w"] = TensorType((2, 3), "float64")
    with pytest.raises(VerifyError, match=r"constant 'w' holds f32\[2,3\] but is typed f64\[2,3\]"):
        verify(g)


def test_type_error_names_the_node():
    g = chain()
    g.nodes[1].inputs = ["r1", "r1", "r1"]
    with pytest.raises(VerifyError, match="add node 's1': op 'add' takes 2 inputs, got 3"):
        verify(g)
    g = chain()
    g.nodes[0].attrs = {"alpha": 1.0}
    with pytest.raises(VerifyError, match=r"relu node 'r1': unknown attribute\(s\) \['alpha'\]"):
        verify(g)


def test_wrong_output_count():
    g = chain()
    g.types["extra"] = TensorType((2, 3), "float32")
    g.nodes[0].outputs.append("extra")
    with pytest.raises(VerifyError, match="relu node 'r1' has 2 outputs, op 'relu' makes 1"):
        verify(g)


def test_stale_types():
    g = chain()
    g.types["leftover"] = TensorType((1,), "float32")
    with pytest.raises(VerifyError, match=r"types recorded for values that do not exist: \['leftover'\]"):
        verify(g)


def test_node_label_falls_back_to_first_output():
    g = chain()
    g.nodes[0].name = ""
    g.nodes[0].op = "nope"
    with pytest.raises(VerifyError, match="nope node 'r1'"):
        verify(g)
    assert Node("relu", ["a"], ["b"]).label == "relu node 'b'"
