"""Common-subexpression elimination: identical constants and identical nodes computed once.

Two nodes are identical when they have the same op, the same inputs (after earlier merges)
and the same attributes; two constants when they have the same dtype, shape and bytes.
"""

from __future__ import annotations

import hashlib

from ..ir.graph import Graph
from .base import Pass, PassResult
from .rewrite import bypass, replace_uses


def eliminate_common_subexpressions(graph: Graph) -> PassResult:
    graph = graph.copy()
    seen_consts: dict[tuple, str] = {}
    merged_consts = 0
    for name, array in list(graph.constants.items()):
        key = (str(array.dtype), array.shape, hashlib.sha1(array.tobytes()).hexdigest())
        if key in seen_consts and name not in graph.outputs:
            replace_uses(graph, name, seen_consts[key])
            merged_consts += 1
        else:
            seen_consts[key] = name
    graph.remove_unused_constants()

    seen: dict[tuple, list[str]] = {}
    merged = 0
    for node in list(graph.nodes):
        key = (node.op, tuple(node.inputs), tuple(sorted(node.attrs.items())))
        if key not in seen:
            seen[key] = node.outputs
            continue
        if len(node.outputs) == 1 and bypass(graph, node, seen[key][0]):
            merged += 1
    return PassResult(graph, {"nodes_merged": merged, "constants_merged": merged_consts})


EliminateCommonSubexpressions = Pass("eliminate-common-subexpressions", eliminate_common_subexpressions,
                                     "compute identical nodes and store identical constants once")
