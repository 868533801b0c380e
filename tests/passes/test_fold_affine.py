import numpy as np
import pytest

from compiler.ir import GraphBuilder
from compiler.passes.fold_affine import fold_affine
from tests.passes.equivalence import assert_equivalent

rng = np.random.default_rng(0)


def conv_graph(op: str, const_shape: tuple, const_first: bool = False, bias: bool = True):
    b = GraphBuilder()
    x = b.input("x", (2, 3, 6, 6))
    w = b.const(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    ins = [x, w] + ([b.const(rng.standard_normal(4).astype(np.float32), "b")] if bias else [])
    y = b.op("conv", ins, {"pads": (1, 1, 1, 1)}, name="conv")
    c = b.const((rng.uniform(0.5, 2, const_shape)).astype(np.float32), "c")
    out = b.op(op, [c, y] if const_first else [y, c], name="out")
    b.output(out)
    return b.build()


@pytest.mark.parametrize("op", ["mul", "add", "sub", "div"])
@pytest.mark.parametrize("shape", [(), (4, 1, 1), (1, 4, 1, 1), (1,)])
def test_folds_per_channel_constant_into_conv(op, shape):
    g = conv_graph(op, shape)
    result = fold_affine(g)
    assert [n.op for n in result.graph.nodes] == ["conv"] and result.changes["affine_folded"] == 1
    assert result.graph.outputs == ["out"]
    assert_equivalent(g, result.graph)


@pytest.mark.parametrize("op", ["mul", "add"])
def test_constant_on_the_left_and_conv_without_bias(op):
    g = conv_graph(op, (4, 1, 1), const_first=True, bias=False)
    result = fold_affine(g)
    assert [n.op for n in result.graph.nodes] == ["conv"]
    assert_equivalent(g, result.graph)


def test_dense_and_matmul():
    for layer in ("dense", "matmul"):
        b = GraphBuilder()
        x = b.input("x", (2, 5))
        w = b.const(rng.standard_normal((3, 5) if layer == "dense" else (5, 3)).astype(np.float32))
        y = b.op(layer, [x, w])
        out = b.op("add", [b.op("mul", [y, b.const(rng.uniform(1, 2, 3).astype(np.float32))]),
                           b.const(rng.standard_normal(3).astype(np.float32))], name="out")
        b.output(out)
        g = b.build()
        result = fold_affine(g)
        assert [n.op for n in result.graph.nodes] == ["dense"], layer
        assert_equivalent(g, result.graph)


def test_leaves_alone_non_constant_shared_and_non_channel_operands():
    # c - conv(x) is not a per-channel affine of conv(x) in the folding sense
    assert not fold_affine(conv_graph("sub", (4, 1, 1), const_first=True)).modified
    # a constant that varies over space is not per-channel
    assert not fold_affine(conv_graph("mul", (1, 1, 6, 6))).modified
    # multiply by a non-constant
    b = GraphBuilder()
    x = b.input("x", (1, 3, 4, 4))
    s = b.input("s", (1, 4, 1, 1))
    y = b.op("conv", [x, b.const(rng.standard_normal((4, 3, 1, 1)).astype(np.float32))])
    b.output(b.op("mul", [y, s], name="out"))
    assert not fold_affine(b.build()).modified
    # conv output also read by another node
    b = GraphBuilder()
    x = b.input("x", (1, 3, 4, 4))
    y = b.op("conv", [x, b.const(rng.standard_normal((4, 3, 1, 1)).astype(np.float32))])
    m = b.op("mul", [y, b.const(np.full((4, 1, 1), 2.0, np.float32))], name="m")
    b.output(b.op("add", [m, y], name="out"))
    assert not fold_affine(b.build()).modified
