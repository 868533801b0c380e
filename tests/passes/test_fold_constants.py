import numpy as np

from compiler.ir import GraphBuilder
from compiler.passes.fold_constants import fold_constants
from tests.passes.equivalence import assert_equivalent


def test_folds_constant_subgraph():
    b = GraphBuilder()
    x = b.input("x", (2, 3))
    c = b.const(np.arange(6, dtype=np.float32).reshape(3, 2), "c")
    ct = b.op("transpose", [c], {"perm": (1, 0)}, name="ct")   # constant only: folds
    y = b.op("add", [x, ct], name="y")
    b.output(y)
    g = b.build()
    result = fold_constants(g)
    assert [n.op for n in result.graph.nodes] == ["add"]
    assert result.changes["nodes_folded"] == 1
    assert_equivalent(g, result.graph)


def test_leaves_non_constant_and_output_nodes():
    b = GraphBuilder()
    x = b.input("x", (3,))
    c = b.const(np.ones(3, np.float32))
    y = b.op("add", [x, c], name="y")        # reads an input: stays
    z = b.op("neg", [c], name="z")           # constant, but a graph output: stays
    b.output(y, z)
    g = b.build()
    result = fold_constants(g)
    assert not result.modified and [n.op for n in result.graph.nodes] == ["add", "neg"]
