"""The reference interpreter: results against numpy, errors that name the node, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.errors import InputError, VerifyError
from compiler.ir import GraphBuilder, interpreter
from compiler.ir.ops import OPS, OpDef
from compiler.ir.types import TensorType


def graph():
    b = GraphBuilder("g")
    x = b.input("x", (2, 3))
    n = b.input("n", (3,), "int32")
    w = b.const(np.array([1.0, -2.0, 3.0], np.float32), "w")
    y = b.op("relu", [b.op("mul", [x, w], name="scale")], outputs=["y"])
    b.output(y, b.op("neg", [n], outputs=["m"]))
    return b.build()


def feeds():
    return {"x": np.arange(-3, 3, dtype=np.float32).reshape(2, 3), "n": np.array([1, 2, 3], np.int32)}


def test_matches_numpy():
    out = interpreter.run(graph(), feeds())
    assert list(out) == ["y", "m"]
    np.testing.assert_array_equal(out["y"], np.maximum(feeds()["x"] * np.array([1, -2, 3], np.float32), 0))
    np.testing.assert_array_equal(out["m"], -feeds()["n"])
    assert out["y"].dtype == np.float32 and out["m"].dtype == np.int32


def test_keep_all_returns_intermediates():
    env = interpreter.run(graph(), feeds(), keep_all=True)
    assert {"x", "n", "w", "scale", "y", "m"} <= set(env)


@pytest.mark.parametrize("change,message", [
    (lambda f: f.pop("x"), r"missing input\(s\) \['x'\]; the model takes \['x', 'n'\]"),
    (lambda f: f.update(z=np.zeros(1)), r"unknown input\(s\) \['z'\]"),
    (lambda f: f.update(x=np.zeros((3, 2), np.float32)), r"input 'x' has shape \[3, 2\], the model expects \[2, 3\]"),
    (lambda f: f.update(x=np.zeros((2, 3), np.float64)), "input 'x' has dtype float64, the model expects float32"),
    (lambda f: f.update(n=np.zeros(3, np.int64)), "input 'n' has dtype int64, the model expects int32"),
])
def test_input_errors(change, message):
    bad = feeds()
    change(bad)
    with pytest.raises(InputError, match=message):
        interpreter.run(graph(), bad)


def test_reference_failure_names_the_node(monkeypatch):
    def broken(xs, attrs):
        raise ZeroDivisionError("boom")

    monkeypatch.setitem(OPS, "broken", OpDef("broken", lambda ts, a: [ts[0]], broken))
    b = GraphBuilder("g")
    x = b.input("x", (2,))
    b.output(b.op("broken", [x], name="bad_node", outputs=["y"]))
    with pytest.raises(VerifyError, match=r"while executing %y: f32\[2\] = broken\(%x\): ZeroDivisionError: boom"):
        interpreter.run(b.build(), {"x": np.zeros(2, np.float32)})


def test_reference_returning_wrong_type_is_caught(monkeypatch):
    monkeypatch.setitem(OPS, "sloppy", OpDef("sloppy", lambda ts, a: [ts[0]],
                                             lambda xs, a: [xs[0].astype(np.float64)]))
    b = GraphBuilder("g")
    x = b.input("x", (2,))
    b.output(b.op("sloppy", [x], outputs=["y"]))
    with pytest.raises(VerifyError, match=r"value 'y' computed as f64\[2\] but typed f32\[2\]"):
        interpreter.run(b.build(), {"x": np.zeros(2, np.float32)})


def test_unknown_op_at_run_time_names_the_node():
    g = graph()
    g.nodes[0].op = "gone"
    with pytest.raises(VerifyError, match=r"while executing %scale: f32\[2,3\] = gone\(%x, %w\)"):
        interpreter.run(g, feeds())
    assert TensorType((2, 3), "float32") == g.types["scale"]
