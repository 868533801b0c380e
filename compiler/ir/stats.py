"""Model statistics from the IR: parameters, MACs per layer and in total, op counts."""

from __future__ import annotations

from typing import Any

from .graph import Graph
from .ops import get


def tensor_specs(graph: Graph, names: list[str]) -> list[dict[str, Any]]:
    """Name, shape and dtype of values, as the manifest and ``inspect --json`` list them."""
    return [{"name": n, "shape": list(graph.types[n].shape), "dtype": graph.types[n].dtype} for n in names]


def node_macs(graph: Graph, node) -> int:
    opdef = get(node.op)
    if opdef.macs is None:
        return 0
    return int(opdef.macs([graph.types[i] for i in node.inputs], [graph.types[o] for o in node.outputs],
                          opdef.full_attrs(node.attrs)))


def model_stats(graph: Graph) -> dict[str, Any]:
    layers = []
    for node in graph.nodes:
        params = sum(int(graph.constants[i].size) for i in dict.fromkeys(node.inputs) if i in graph.constants)
        layers.append({"name": node.name or node.outputs[0], "op": node.op, "macs": node_macs(graph, node),
                       "params": params, "output_shape": list(graph.types[node.outputs[0]].shape)})
    return {
        "macs": sum(layer["macs"] for layer in layers),
        "params": graph.param_count(),
        "param_bytes": graph.param_bytes(),
        "op_counts": graph.op_counts(),
        "layers": layers,
    }
