import numpy as np

from compiler.ir import GraphBuilder
from compiler.passes.merge_linear_chains import merge_linear_chains
from tests.passes.equivalence import assert_equivalent

rng = np.random.default_rng(0)


def w(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def two_dense(k: int, mid: int, n: int, bias1: bool = True, bias2: bool = True):
    b = GraphBuilder()
    x = b.input("x", (3, k))
    h = b.op("dense", [x, b.const(w(mid, k))] + ([b.const(w(mid))] if bias1 else []))
    y = b.op("dense", [h, b.const(w(n, mid))] + ([b.const(w(n))] if bias2 else []), name="y")
    b.output(y)
    return b.build()


def test_merges_dense_pair_when_cheaper():
    for bias1, bias2 in [(True, True), (False, True), (True, False), (False, False)]:
        g = two_dense(8, 16, 4, bias1, bias2)
        result = merge_linear_chains(g)
        assert [n.op for n in result.graph.nodes] == ["dense"]
        assert result.graph.param_count() < g.param_count()
        assert_equivalent(g, result.graph)


def test_cost_check_keeps_bottleneck():
    g = two_dense(64, 4, 64)         # 64x4 + 4x64 params  <  64x64 merged
    result = merge_linear_chains(g)
    assert [n.op for n in result.graph.nodes] == ["dense", "dense"]
    assert result.changes["merges_declined_by_cost"] == 1


def test_merges_conv_then_pointwise_conv():
    b = GraphBuilder()
    x = b.input("x", (1, 3, 8, 8))
    h = b.op("conv", [x, b.const(w(16, 3, 3, 3)), b.const(w(16))], {"pads": (1, 1, 1, 1), "strides": (2, 2)})
    y = b.op("conv", [h, b.const(w(4, 16, 1, 1)), b.const(w(4))], name="y")
    b.output(y)
    g = b.build()
    result = merge_linear_chains(g)
    assert [n.op for n in result.graph.nodes] == ["conv"]
    assert result.graph.constants[result.graph.nodes[0].inputs[1]].shape == (4, 3, 3, 3)
    assert_equivalent(g, result.graph)


def test_merges_constant_matmuls():
    b = GraphBuilder()
    x = b.input("x", (2, 5, 8))
    y = b.op("matmul", [b.op("matmul", [x, b.const(w(8, 16))]), b.const(w(16, 3))], name="y")
    b.output(y)
    g = b.build()
    result = merge_linear_chains(g)
    assert [n.op for n in result.graph.nodes] == ["matmul"]
    assert_equivalent(g, result.graph)


def test_leaves_nonlinear_padded_shared_and_grouped_alone():
    b = GraphBuilder()
    x = b.input("x", (3, 8))
    h = b.op("relu", [b.op("dense", [x, b.const(w(16, 8))])])          # nonlinearity between
    b.output(b.op("dense", [h, b.const(w(4, 16))], name="y"))
    assert not merge_linear_chains(b.build()).modified

    b = GraphBuilder()
    x = b.input("x", (1, 3, 8, 8))
    h = b.op("conv", [x, b.const(w(16, 3, 3, 3))])
    y = b.op("conv", [h, b.const(w(4, 16, 1, 1))], {"pads": (1, 1, 1, 1)}, name="y")   # padding: not exact
    b.output(y)
    assert not merge_linear_chains(b.build()).modified

    b = GraphBuilder()
    x = b.input("x", (3, 8))
    h = b.op("dense", [x, b.const(w(16, 8))], name="h")
    b.output(b.op("dense", [h, b.const(w(4, 16))], name="y"), h)             # h is also an output
    assert not merge_linear_chains(b.build()).modified
