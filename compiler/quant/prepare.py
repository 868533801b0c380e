"""Get a float graph ready for quantization: split off fused activations that are not clamps.

A conv with a fused ReLU/ReLU6 stays one integer layer (the activation is its output clamp).
Any other fused activation (sigmoid, hard-swish, ...) is split back into the layer and an
elementwise op, so calibration sees the layer's own output range and the activation can become
an int8 lookup table.
"""

from __future__ import annotations

from ..ir.graph import Graph, Node
from ..ir.ops.registry import activation_of

CLAMPS = ("relu", "clip")


def split_nonclamp_activations(graph: Graph) -> Graph:
    graph = graph.copy()
    nodes: list[Node] = []
    for node in graph.nodes:
        act = activation_of(node.attrs) if "activation" in node.attrs else None
        if act is None or act[0] in CLAMPS:
            nodes.append(node)
            continue
        out = node.outputs[0]
        pre = graph.fresh_name(f"{out}_preact")
        graph.types[pre] = graph.types[out]
        nodes.append(node.copy(outputs=[pre], attrs={**node.attrs, "activation": "", "activation_attrs": ()}))
        nodes.append(Node(act[0], [pre], [out], act[1], f"{node.name}/{act[0]}"))
    graph.nodes = nodes
    return graph
