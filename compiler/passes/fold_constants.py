"""Constant folding: a node whose inputs are all constants becomes a constant.

The value is computed by the op's numpy reference, so folding is exact by definition. Nodes
that produce graph outputs stay (an output must be computed, not stored).
"""

from __future__ import annotations

from ..ir.graph import Graph
from ..ir.ops import get
from .base import Pass, PassResult
from .rewrite import add_constant, replace_uses


def fold_constants(graph: Graph) -> PassResult:
    graph = graph.copy()
    folded = 0
    for node in list(graph.nodes):
        if not node.inputs or not all(graph.is_const(i) for i in node.inputs):
            continue
        if any(out in graph.outputs for out in node.outputs):
            continue
        opdef = get(node.op)
        values = opdef.reference([graph.constants[i] for i in node.inputs], opdef.full_attrs(node.attrs))
        graph.nodes.remove(node)
        for out, value in zip(node.outputs, values):
            del graph.types[out]
            replace_uses(graph, out, add_constant(graph, value.astype(value.dtype), out))
        folded += 1
    graph.remove_unused_constants()
    return PassResult(graph, {"nodes_folded": folded})


FoldConstants = Pass("fold-constants", fold_constants, "evaluate nodes whose inputs are all constants")
