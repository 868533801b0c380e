"""Graph and GraphBuilder: construction, copies, renames and the queries passes rely on."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.ir import GraphBuilder, TensorType
from compiler.ir.ops import InferError


def small_graph():
    """x -> relu -> add(., bias) -> {y, softmax(.) = z}; the relu value is used twice by add."""
    b = GraphBuilder("small")
    x = b.input("x", (2, 3))
    bias = b.const(np.ones(3, np.float32), "bias")
    r = b.op("relu", [x])
    a = b.op("add", [r, bias])
    twice = b.op("mul", [a, a], outputs=["y"])
    z = b.op("softmax", [twice], {"axis": 1}, outputs=["z"])
    b.output(twice, z)
    return b.build()


def test_builder_infers_types_and_fills_default_attrs():
    g = small_graph()
    assert g.inputs == ["x"] and g.outputs == ["y", "z"]
    assert g.types["y"] == TensorType((2, 3), "float32")
    assert [n.op for n in g.nodes] == ["relu", "add", "mul", "softmax"]
    assert g.nodes[-1].attrs == {"axis": 1}
    b = GraphBuilder()
    b.input("x", (4,))
    assert b.graph.nodes == [] and b.op("leaky_relu", ["x"]) and b.graph.nodes[0].attrs == {"alpha": 0.01}


def test_builder_makes_unique_names():
    b = GraphBuilder()
    x = b.input("x", (2,))
    first, second = b.op("relu", [x]), b.op("relu", [x])
    c1, c2 = b.const(np.zeros(2, np.float32)), b.const(np.zeros(2, np.float32))
    assert len({x, first, second, c1, c2}) == 5
    assert b.op("relu", [x], outputs=["x"]) != "x"  # a taken name is never reused


def test_builder_rejects_bad_ops_and_attrs():
    b = GraphBuilder()
    x = b.input("x", (2, 3))
    with pytest.raises(InferError, match="unknown op 'frobnicate'"):
        b.op("frobnicate", [x])
    with pytest.raises(InferError, match=r"unknown attribute\(s\) \['beta'\]"):
        b.op("leaky_relu", [x], {"beta": 1.0})
    with pytest.raises(InferError, match="needs attribute 'shape'"):
        b.op("reshape", [x])
    with pytest.raises(InferError, match="takes 2 inputs, got 1"):
        b.op("add", [x])
    with pytest.raises(InferError, match="do not broadcast"):
        b.op("add", [x, b.input("v", (4,))])


def test_constants_are_read_only():
    g = small_graph()
    with pytest.raises(ValueError):
        g.constants["bias"][0] = 5.0


def test_copy_is_independent_but_shares_constants():
    g = small_graph()
    c = g.copy()
    c.nodes[0].inputs[0] = "bias"
    c.nodes[-1].attrs["axis"] = 0
    c.outputs.append("x")
    c.types["extra"] = TensorType((1,), "float32")
    assert g.nodes[0].inputs == ["x"] and g.nodes[-1].attrs == {"axis": 1}
    assert g.outputs == ["y", "z"] and "extra" not in g.types
    assert c.constants["bias"] is g.constants["bias"]


def test_node_copy_with_changes():
    node = small_graph().nodes[-1]
    other = node.copy(op="log_softmax")
    assert other.op == "log_softmax" and node.op == "softmax"
    assert other.attrs == node.attrs and other.attrs is not node.attrs
    assert node.label == "softmax node 'z'"


def test_rename_everywhere():
    g = small_graph()
    relu_out = g.nodes[0].outputs[0]
    g.rename(relu_out, "activated")
    g.rename("bias", "b")
    g.rename("y", "doubled")
    g.rename("x", "image")
    assert g.inputs == ["image"] and g.outputs == ["doubled", "z"]
    assert g.nodes[0].inputs == ["image"] and g.nodes[0].outputs == ["activated"]
    assert g.nodes[1].inputs == ["activated", "b"]
    assert g.nodes[2].outputs == ["doubled"] and g.nodes[3].inputs == ["doubled"]
    assert "b" in g.constants and "bias" not in g.constants and "bias" not in g.types
    from compiler.ir import verify

    verify(g)
    with pytest.raises(AssertionError):
        g.rename("b", "z")  # taken


def test_producers_and_consumers():
    g = small_graph()
    producers, consumers = g.producers(), g.consumers()
    assert producers["y"].op == "mul" and "x" not in producers and "bias" not in producers
    add_out = g.nodes[1].outputs[0]
    assert [n.op for n in consumers[add_out]] == ["mul"]  # used twice by one node: listed once
    assert [n.op for n in consumers["x"]] == ["relu"]
    assert "z" not in consumers  # graph outputs with no user


def test_queries():
    g = small_graph()
    assert g.is_const("bias") and not g.is_const("x")
    assert g.param_count() == 3 and g.param_bytes() == 12
    assert g.op_counts() == {"add": 1, "mul": 1, "relu": 1, "softmax": 1}
    assert g.fresh_name("new") == "new"
    assert g.fresh_name("y") == "y_1"


def test_remove_unused_constants():
    b = GraphBuilder()
    x = b.input("x", (3,))
    used = b.const(np.ones(3, np.float32), "used")
    b.const(np.ones(3, np.float32), "unused")
    b.output(b.op("add", [x, used]))
    g = b.build()
    g.remove_unused_constants()
    assert set(g.constants) == {"used"} and "unused" not in g.types
