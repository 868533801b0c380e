import numpy as np
import pytest

from compiler.ir import GraphBuilder
from compiler.passes.fold_batchnorm import fold_batchnorm
from tests.passes.equivalence import assert_equivalent

rng = np.random.default_rng(0)


def bn_params(b: GraphBuilder, c: int) -> list[str]:
    return [b.const(rng.uniform(0.5, 2, c).astype(np.float32)), b.const(rng.standard_normal(c).astype(np.float32)),
            b.const(rng.standard_normal(c).astype(np.float32)), b.const(rng.uniform(0.5, 2, c).astype(np.float32))]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("groups", [1, 4])
def test_folds_into_conv(bias, groups):
    b = GraphBuilder()
    x = b.input("x", (2, 4, 6, 6))
    ins = [x, b.const(rng.standard_normal((8, 4 // groups, 3, 3)).astype(np.float32))]
    ins += [b.const(rng.standard_normal(8).astype(np.float32))] if bias else []
    y = b.op("conv", ins, {"pads": (1, 1, 1, 1), "groups": groups})
    b.output(b.op("batch_norm", [y] + bn_params(b, 8), {"epsilon": 1e-3}, name="out"))
    g = b.build()
    result = fold_batchnorm(g)
    assert [n.op for n in result.graph.nodes] == ["conv"]
    assert result.changes == {"batchnorms_folded": 1, "batchnorms_to_scale_shift": 0}
    assert_equivalent(g, result.graph)


@pytest.mark.parametrize("groups", [1, 2])
def test_folds_into_conv_transpose(groups):
    b = GraphBuilder()
    x = b.input("x", (1, 4, 5, 5))
    y = b.op("conv_transpose", [x, b.const(rng.standard_normal((4, 6 // groups, 3, 3)).astype(np.float32))],
             {"strides": (2, 2), "groups": groups})
    b.output(b.op("batch_norm", [y] + bn_params(b, 6), name="out"))
    g = b.build()
    result = fold_batchnorm(g)
    assert [n.op for n in result.graph.nodes] == ["conv_transpose"]
    assert_equivalent(g, result.graph)


@pytest.mark.parametrize("layer", ["dense", "matmul"])
def test_folds_into_dense_and_matmul(layer):
    b = GraphBuilder()
    x = b.input("x", (3, 5))
    wshape = (4, 5) if layer == "dense" else (5, 4)
    y = b.op(layer, [x, b.const(rng.standard_normal(wshape).astype(np.float32))])
    b.output(b.op("batch_norm", [y] + bn_params(b, 4), name="out"))
    g = b.build()
    result = fold_batchnorm(g)
    assert [n.op for n in result.graph.nodes] == ["dense"]
    assert_equivalent(g, result.graph)


def test_shared_conv_output_becomes_scale_shift():
    b = GraphBuilder()
    x = b.input("x", (1, 3, 4, 4))
    y = b.op("conv", [x, b.const(rng.standard_normal((4, 3, 1, 1)).astype(np.float32))], name="y")
    bn = b.op("batch_norm", [y] + bn_params(b, 4), name="bn")
    b.output(b.op("add", [bn, y], name="out"))       # y has two readers: the conv must stay as is
    g = b.build()
    result = fold_batchnorm(g)
    assert [n.op for n in result.graph.nodes] == ["conv", "mul", "add", "add"]
    assert result.changes == {"batchnorms_folded": 0, "batchnorms_to_scale_shift": 1}
    assert_equivalent(g, result.graph)


def test_bn_on_graph_input_becomes_scale_shift_and_keeps_output_name():
    b = GraphBuilder()
    x = b.input("x", (2, 3, 4))
    b.output(b.op("batch_norm", [x] + bn_params(b, 3), name="out"))
    g = b.build()
    result = fold_batchnorm(g)
    assert [n.op for n in result.graph.nodes] == ["mul", "add"] and result.graph.outputs == ["out"]
    assert_equivalent(g, result.graph)


def test_non_constant_statistics_are_left_alone():
    b = GraphBuilder()
    x = b.input("x", (1, 3, 4, 4))
    mean = b.input("mean", (3,))
    p = bn_params(b, 3)
    b.output(b.op("batch_norm", [x, p[0], p[1], mean, p[3]], name="out"))
    assert not fold_batchnorm(b.build()).modified


@pytest.mark.parametrize("between,attrs,positive", [
    ("max_pool", {"kernel_shape": (2, 2), "strides": (2, 2)}, True),
    ("avg_pool", {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1)}, False),
    ("global_avg_pool", {}, False),
    ("global_max_pool", {}, True),
    ("identity", {}, False),
])
def test_folds_through_transparent_op(between, attrs, positive):
    b = GraphBuilder()
    x = b.input("x", (1, 3, 6, 6))
    y = b.op("conv", [x, b.const(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))], {"pads": (1, 1, 1, 1)})
    p = b.op(between, [y], attrs)
    params = bn_params(b, 4)
    if not positive:  # a negative scale is fine through these
        params[0] = b.const(np.array([1.5, -0.5, 2.0, -1.0], np.float32))
    b.output(b.op("batch_norm", [p] + params, name="out"))
    g = b.build()
    result = fold_batchnorm(g)
    assert [n.op for n in result.graph.nodes] == ["conv", between]
    assert result.graph.outputs == ["out"]
    assert_equivalent(g, result.graph)


def test_not_through_max_pool_with_negative_scale_or_counted_padding():
    for between, attrs in [("max_pool", {"kernel_shape": (2, 2)}),
                           ("avg_pool", {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1), "count_include_pad": 1})]:
        b = GraphBuilder()
        x = b.input("x", (1, 3, 6, 6))
        y = b.op("conv", [x, b.const(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))])
        p = b.op(between, [y], attrs)
        params = bn_params(b, 4)
        params[0] = b.const(np.array([1.5, -0.5, 2.0, 1.0], np.float32))
        b.output(b.op("batch_norm", [p] + params, name="out"))
        g = b.build()
        result = fold_batchnorm(g)
        assert result.changes["batchnorms_folded"] == 0, between
        assert_equivalent(g, result.graph)
