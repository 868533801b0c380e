import numpy as np

from compiler.ir import GraphBuilder
from compiler.passes.eliminate_dead_nodes import eliminate_dead_nodes
from tests.passes.equivalence import assert_equivalent


def test_removes_unused_nodes_and_constants():
    b = GraphBuilder()
    x = b.input("x", (4,))
    unused_c = b.const(np.ones(4, np.float32), "unused_c")
    dead = b.op("add", [x, unused_c], name="dead")
    b.op("relu", [dead], name="dead2")
    y = b.op("sigmoid", [x], name="y")
    b.output(y)
    g = b.build()
    result = eliminate_dead_nodes(g)
    assert [n.op for n in result.graph.nodes] == ["sigmoid"]
    assert result.changes == {"nodes_removed": 2, "constants_removed": 1}
    assert len(g.nodes) == 3, "input graph must not be mutated"
    assert_equivalent(g, result.graph)


def test_keeps_everything_that_reaches_an_output():
    b = GraphBuilder()
    x = b.input("x", (4,))
    a = b.op("relu", [x])
    y1 = b.op("sigmoid", [a])
    b.output(a, y1)
    g = b.build()
    result = eliminate_dead_nodes(g)
    assert not result.modified and len(result.graph.nodes) == 2
