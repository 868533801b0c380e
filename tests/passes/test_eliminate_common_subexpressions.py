import numpy as np

from compiler.ir import GraphBuilder
from compiler.passes.eliminate_common_subexpressions import eliminate_common_subexpressions
from tests.passes.equivalence import assert_equivalent


def test_merges_identical_nodes_and_constants():
    b = GraphBuilder()
    x = b.input("x", (4,))
    c1 = b.const(np.full(4, 2.0, np.float32), "c1")
    c2 = b.const(np.full(4, 2.0, np.float32), "c2")
    a1 = b.op("mul", [x, c1], name="a1")
    a2 = b.op("mul", [x, c2], name="a2")     # same as a1 once c2 == c1
    y = b.op("add", [a1, a2], name="y")
    b.output(y)
    g = b.build()
    result = eliminate_common_subexpressions(g)
    assert [n.op for n in result.graph.nodes] == ["mul", "add"]
    assert result.changes == {"nodes_merged": 1, "constants_merged": 1}
    assert_equivalent(g, result.graph)


def test_keeps_nodes_that_differ_in_attributes_or_inputs():
    b = GraphBuilder()
    x = b.input("x", (2, 3))
    t1 = b.op("softmax", [x], {"axis": 0})
    t2 = b.op("softmax", [x], {"axis": 1})
    c1 = b.const(np.ones(3, np.float32))
    c2 = b.const(np.full(3, 2.0, np.float32))
    y = b.op("add", [b.op("add", [t1, c1]), b.op("add", [t2, c2])])
    b.output(y)
    g = b.build()
    result = eliminate_common_subexpressions(g)
    assert not result.modified and len(result.graph.nodes) == len(g.nodes)
