"""The printer's text form is stable: tests and ``edgec inspect`` compare against it."""

from __future__ import annotations

import numpy as np

from compiler.ir import GraphBuilder, format_graph


def test_small_graph_exact_text():
    b = GraphBuilder("tiny")
    x = b.input("x", (1, 4, 2))
    y = b.input("idx", (2,), "int64")
    w = b.const(np.zeros((1, 4, 2), np.float32), "w")
    s = b.const(np.float32(0.5), "scale")
    a = b.op("add", [x, w], name="add1")
    m = b.op("mul", [a, s])
    c = b.op("clip", [m], {"min": 0.0, "max": 6.0}, outputs=["clipped"])
    t = b.op("transpose", [c], {"perm": (0, 2, 1)})
    r = b.op("reshape", [t], {"shape": (8,)})
    cat = b.op("concat", [r, r], {"axis": 0}, outputs=["out"])
    b.output(cat, y)
    expected = """\
graph tiny(%x: f32[1,4,2], %idx: i64[2]) {
  %w: f32[1,4,2] = const
  %scale: f32[] = const 0.5
  %add1: f32[1,4,2] = add(%x, %w)
  %mul: f32[1,4,2] = mul(%add1, %scale)
  %clipped: f32[1,4,2] = clip(%mul) {max=6.0, min=0.0}
  %transpose: f32[1,2,4] = transpose(%clipped) {perm=(0,2,1)}
  %reshape: f32[8] = reshape(%transpose) {shape=(8)}
  %out: f32[16] = concat(%reshape, %reshape) {axis=0}
  return %out, %idx
}
"""
    assert format_graph(b.graph) == expected
    assert str(b.graph) == expected


def test_attribute_formatting():
    b = GraphBuilder("g")
    x = b.input("x", (3,))
    b.output(b.op("clip", [x], {"min": float("-inf"), "max": 1.5}, outputs=["y"]),
             b.op("cast", [x], {"to": "int8"}, outputs=["z"]))
    lines = format_graph(b.graph).splitlines()
    assert lines[1] == "  %y: f32[3] = clip(%x) {max=1.5, min=-inf}"
    assert lines[2] == "  %z: i8[3] = cast(%x) {to='int8'}"
