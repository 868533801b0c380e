"""Dead-node elimination: drop nodes whose results nobody reads, and unused constants."""

from __future__ import annotations

from ..ir.graph import Graph
from .base import Pass, PassResult


def eliminate_dead_nodes(graph: Graph) -> PassResult:
    graph = graph.copy()
    live = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if any(out in live for out in node.outputs):
            kept.append(node)
            live.update(node.inputs)
        else:
            for out in node.outputs:
                del graph.types[out]
    removed = len(graph.nodes) - len(kept)
    graph.nodes = kept[::-1]
    constants_before = len(graph.constants)
    graph.remove_unused_constants()
    return PassResult(graph, {"nodes_removed": removed, "constants_removed": constants_before - len(graph.constants)})


EliminateDeadNodes = Pass("eliminate-dead-nodes", eliminate_dead_nodes, "drop nodes and constants nobody uses")
