"""Small graph-editing helpers shared by the passes (they edit a graph the pass owns)."""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node, freeze
from ..ir.types import TensorType


def replace_uses(graph: Graph, old: str, new: str) -> None:
    """Every node that reads ``old`` reads ``new`` instead (graph outputs are left alone)."""
    for node in graph.nodes:
        node.inputs = [new if name == old else name for name in node.inputs]


def bypass(graph: Graph, node: Node, replacement: str) -> bool:
    """Remove single-output ``node`` and let its users read ``replacement`` instead.

    Graph outputs keep their names: if the node's output is a graph output, ``replacement``
    is renamed to it, which is only possible when ``replacement`` is another node's private
    value. Returns False (graph untouched) when the node must stay.
    """
    (old,) = node.outputs
    if old in graph.outputs:
        if replacement in graph.inputs or replacement in graph.constants or replacement in graph.outputs:
            return False
        if graph.types[replacement] != graph.types[old]:
            return False
        graph.nodes.remove(node)
        del graph.types[old]
        graph.rename(replacement, old)
        return True
    graph.nodes.remove(node)
    replace_uses(graph, old, replacement)
    del graph.types[old]
    return True


def add_constant(graph: Graph, array: np.ndarray, hint: str) -> str:
    name = graph.fresh_name(hint)
    graph.constants[name] = freeze(np.asarray(array))
    graph.types[name] = TensorType.of(graph.constants[name])
    return name


def single_user(graph: Graph, value: str, consumers: dict[str, list[Node]]) -> Node | None:
    """The only node reading ``value``, or None if it has several readers or is a graph output."""
    users = consumers.get(value, [])
    if len(users) != 1 or value in graph.outputs:
        return None
    return users[0]


def drop_node(graph: Graph, node: Node) -> None:
    graph.nodes.remove(node)
    for out in node.outputs:
        graph.types.pop(out, None)
