"""No-op elimination: identity (and inference-time dropout), reshapes to the same shape,
reshape chains, and transpose pairs that cancel or compose.

    reshape(reshape(x, s1), s2)        == reshape(x, s2)
    transpose(transpose(x, p), q)      == transpose(x, [p[i] for i in q])   (identity if that is 0..n-1)
"""

from __future__ import annotations

from ..ir.graph import Graph
from .base import Pass, PassResult
from .rewrite import bypass


def _is_noop(graph: Graph, node) -> bool:
    if node.op == "identity":
        return True
    if node.op == "reshape":
        return graph.types[node.inputs[0]].shape == graph.types[node.outputs[0]].shape
    if node.op == "transpose":
        return list(node.attrs["perm"]) == list(range(len(node.attrs["perm"])))
    return False


def eliminate_noops(graph: Graph) -> PassResult:
    graph = graph.copy()
    removed = composed = 0
    changed = True
    while changed:
        changed = False
        producers = graph.producers()
        consumers = graph.consumers()
        for node in graph.nodes:
            src = node.inputs[0] if node.inputs else None
            if _is_noop(graph, node) and bypass(graph, node, src):
                removed += 1
                changed = True
                break
            prev = producers.get(src)
            if prev is not None and prev.op == node.op and node.op in ("reshape", "transpose") \
                    and len(consumers.get(src, [])) == 1 and src not in graph.outputs:
                if node.op == "transpose":
                    perm = tuple(prev.attrs["perm"][i] for i in node.attrs["perm"])
                    node.attrs = {**node.attrs, "perm": perm}
                node.inputs = [prev.inputs[0]]
                graph.nodes.remove(prev)
                del graph.types[src]
                composed += 1
                changed = True
                break
    return PassResult(graph, {"nodes_removed": removed, "chains_composed": composed})


EliminateNoops = Pass("eliminate-noops", eliminate_noops,
                      "drop identity/dropout, same-shape reshapes, cancelling transposes; compose chains")
