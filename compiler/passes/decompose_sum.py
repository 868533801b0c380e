"""Sum of many inputs -> a chain of two-input adds, the form the fusion and kernels handle.

    sum(a, b, c) == add(add(a, b), c)
"""

from __future__ import annotations

from ..ir.graph import Graph, Node
from ..ir.ops import infer_types
from .base import Pass, PassResult


def decompose_sum(graph: Graph) -> PassResult:
    graph = graph.copy()
    rewritten = 0
    nodes: list[Node] = []
    for node in graph.nodes:
        if node.op != "sum":
            nodes.append(node)
            continue
        rewritten += 1
        if len(node.inputs) == 1:
            nodes.append(Node("identity", node.inputs, node.outputs, {}, node.name))
            continue
        acc = node.inputs[0]
        for i, operand in enumerate(node.inputs[1:], start=1):
            last = i == len(node.inputs) - 1
            out = node.outputs[0] if last else graph.fresh_name(f"{node.outputs[0]}_partial")
            (t,) = infer_types("add", [graph.types[acc], graph.types[operand]], {})
            graph.types[out] = t
            nodes.append(Node("add", [acc, operand], [out], {}, f"{node.name}/add{i}"))
            acc = out
    graph.nodes = nodes
    return PassResult(graph, {"sums_decomposed": rewritten})


DecomposeSum = Pass("decompose-sum", decompose_sum, "turn n-ary sums into chains of adds")
