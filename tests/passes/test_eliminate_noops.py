from compiler.ir import GraphBuilder
from compiler.passes.eliminate_noops import eliminate_noops
from tests.passes.equivalence import assert_equivalent


def test_removes_identity_same_shape_reshape_and_cancelling_transposes():
    b = GraphBuilder()
    x = b.input("x", (2, 3, 4))
    a = b.op("identity", [x])
    r = b.op("reshape", [a], {"shape": (2, 3, 4)})
    t1 = b.op("transpose", [r], {"perm": (2, 0, 1)})
    t2 = b.op("transpose", [t1], {"perm": (1, 2, 0)})
    y = b.op("relu", [t2], name="y")
    b.output(y)
    g = b.build()
    result = eliminate_noops(g)
    assert [n.op for n in result.graph.nodes] == ["relu"]
    assert_equivalent(g, result.graph)


def test_composes_reshape_and_transpose_chains():
    b = GraphBuilder()
    x = b.input("x", (2, 3, 4))
    r = b.op("reshape", [b.op("reshape", [x], {"shape": (6, 4)})], {"shape": (4, 6)})
    t = b.op("transpose", [b.op("transpose", [r], {"perm": (1, 0)})], {"perm": (1, 0)})
    y = b.op("transpose", [b.op("transpose", [b.op("relu", [t])], {"perm": (1, 0)})], {"perm": (1, 0)}, name="y")
    b.output(y)
    g = b.build()
    result = eliminate_noops(g)
    assert [n.op for n in result.graph.nodes] == ["reshape", "relu"]
    assert result.graph.outputs == ["y"]
    assert_equivalent(g, result.graph)


def test_keeps_real_transposes_and_shared_values():
    b = GraphBuilder()
    x = b.input("x", (3, 3))
    t = b.op("transpose", [x], {"perm": (1, 0)})          # same shape but a real permutation
    r1 = b.op("reshape", [t], {"shape": (9,)})
    r2 = b.op("reshape", [r1], {"shape": (1, 9)})         # r1 is also an output: no composing
    b.output(r1, r2)
    g = b.build()
    result = eliminate_noops(g)
    assert not result.modified and [n.op for n in result.graph.nodes] == ["transpose", "reshape", "reshape"]


def test_identity_between_input_and_output_stays():
    b = GraphBuilder()
    x = b.input("x", (3,))
    y = b.op("identity", [x], name="y")
    b.output(y)
    result = eliminate_noops(b.build())
    assert [n.op for n in result.graph.nodes] == ["identity"]
