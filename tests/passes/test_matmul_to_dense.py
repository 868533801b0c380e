import numpy as np

from compiler.ir import GraphBuilder
from compiler.passes.fold_affine import fold_affine
from compiler.passes.matmul_to_dense import matmul_to_dense
from tests.passes.equivalence import assert_equivalent

rng = np.random.default_rng(0)


def test_matmul_plus_bias_becomes_one_dense_with_affine_folding():
    b = GraphBuilder()
    x = b.input("x", (2, 6))
    y = b.op("matmul", [x, b.const(rng.standard_normal((6, 4)).astype(np.float32))])
    b.output(b.op("add", [y, b.const(rng.standard_normal(4).astype(np.float32))], name="out"))
    g = b.build()
    dense = matmul_to_dense(g)
    assert [n.op for n in dense.graph.nodes] == ["dense", "add"]
    final = fold_affine(dense.graph)
    assert [n.op for n in final.graph.nodes] == ["dense"]
    assert_equivalent(g, final.graph)


def test_batched_input_is_converted_too():
    b = GraphBuilder()
    x = b.input("x", (2, 3, 6))
    b.output(b.op("matmul", [x, b.const(rng.standard_normal((6, 4)).astype(np.float32))], name="out"))
    g = b.build()
    result = matmul_to_dense(g)
    assert [n.op for n in result.graph.nodes] == ["dense"]
    assert_equivalent(g, result.graph)


def test_leaves_alone_non_constant_vector_and_batched_weights():
    for x_shape, w_shape, const_w in [((2, 6), (6, 4), False), ((6,), (6, 4), True), ((2, 3, 6), (2, 6, 4), True)]:
        b = GraphBuilder()
        x = b.input("x", x_shape)
        w = b.const(rng.standard_normal(w_shape).astype(np.float32)) if const_w else b.input("w", w_shape)
        b.output(b.op("matmul", [x, w], name="out"))
        assert not matmul_to_dense(b.build()).modified
