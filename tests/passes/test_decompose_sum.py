from compiler.ir import GraphBuilder
from compiler.passes.decompose_sum import decompose_sum
from tests.passes.equivalence import assert_equivalent


def test_sum_of_four_becomes_add_chain_with_broadcasting():
    b = GraphBuilder()
    xs = [b.input(f"x{i}", shape) for i, shape in enumerate([(2, 3), (3,), (2, 1), (2, 3)])]
    y = b.op("sum", xs, name="y")
    b.output(y)
    g = b.build()
    result = decompose_sum(g)
    assert [n.op for n in result.graph.nodes] == ["add", "add", "add"]
    assert result.graph.outputs == ["y"]
    assert_equivalent(g, result.graph)


def test_leaves_adds_alone():
    b = GraphBuilder()
    x = b.input("x", (3,))
    y = b.op("add", [x, x], name="y")
    b.output(y)
    assert not decompose_sum(b.build()).modified
