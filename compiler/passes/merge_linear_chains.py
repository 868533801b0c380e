"""Linear-chain merging: two linear layers with nothing nonlinear between them are one layer.

    dense(dense(x, W1, b1), W2, b2)  == dense(x, W2 @ W1, W2 @ b1 + b2)
    matmul(matmul(x, A), B)          == matmul(x, A @ B)                   (A, B constant)
    conv1x1(conv(x, W1, b1), W2, b2) == conv(x, W2 . W1, W2 @ b1 + b2)     (the 1x1 conv has stride 1,
                                                                            no padding, groups 1)

Merging is exact in real arithmetic, but it is not always cheaper: a bottleneck (K -> small ->
N) has fewer MACs and parameters as two layers. A cost check merges only when the merged layer
has no more MACs and no more parameters than the pair.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from ..ir.stats import node_macs
from .base import Pass, PassResult
from .rewrite import add_constant, single_user


def _is_pointwise_conv(graph: Graph, node: Node) -> bool:
    w = graph.constants.get(node.inputs[1]) if len(node.inputs) > 1 else None
    return (node.op == "conv" and w is not None and all(k == 1 for k in w.shape[2:]) and node.attrs["groups"] == 1
            and all(s == 1 for s in node.attrs["strides"]) and not any(node.attrs["pads"]))


def _consts(graph: Graph, node: Node) -> bool:
    return all(graph.is_const(i) for i in node.inputs[1:]) and len(node.inputs) >= 2


def _merged(graph: Graph, first: Node, second: Node) -> tuple[str, np.ndarray, np.ndarray | None] | None:
    """(op, weight, bias) of the merged layer, or None if the pair does not merge exactly."""
    w1 = graph.constants[first.inputs[1]].astype(np.float64)
    w2 = graph.constants[second.inputs[1]].astype(np.float64)
    if first.op == second.op == "matmul" and w1.ndim == w2.ndim == 2:
        return "matmul", w1 @ w2, None
    if first.op == second.op == "dense":
        weight = w2 @ w1
    elif first.op == second.op == "conv" and first.attrs["groups"] == 1 and _is_pointwise_conv(graph, second):
        w2 = w2.reshape(w2.shape[0], w2.shape[1])
        weight = np.tensordot(w2, w1, axes=([1], [0]))
    else:
        return None
    b1 = graph.constants[first.inputs[2]].astype(np.float64) if len(first.inputs) == 3 else None
    b2 = graph.constants[second.inputs[2]].astype(np.float64) if len(second.inputs) == 3 else None
    if b1 is None and b2 is None:
        return first.op, weight, None
    bias = (w2 @ b1 if b1 is not None else 0.0) + (b2 if b2 is not None else 0.0)
    return first.op, weight, np.broadcast_to(bias, (weight.shape[0],))


def _merged_macs(graph: Graph, first: Node, op: str, weight: np.ndarray) -> int:
    """MACs of the merged layer: the first layer's, with its output width replaced."""
    w1 = graph.constants[first.inputs[1]]
    width_before, width_after = (w1.shape[1], weight.shape[1]) if op == "matmul" else (w1.shape[0], weight.shape[0])
    return node_macs(graph, first) * width_after // width_before


def merge_linear_chains(graph: Graph) -> PassResult:
    graph = graph.copy()
    merged = declined = 0
    changed = True
    while changed:
        changed = False
        producers, consumers = graph.producers(), graph.consumers()
        for second in graph.nodes:
            if second.op not in ("dense", "matmul", "conv") or not _consts(graph, second):
                continue
            first = producers.get(second.inputs[0])
            if first is None or not _consts(graph, first) or single_user(graph, first.outputs[0], consumers) is not second:
                continue
            result = _merged(graph, first, second)
            if result is None:
                continue
            op, weight, bias = result
            params_before = sum(graph.constants[i].size for n in (first, second) for i in n.inputs[1:])
            params_after = weight.size + (bias.size if bias is not None else 0)
            macs_before = node_macs(graph, first) + node_macs(graph, second)
            if params_after > params_before or _merged_macs(graph, first, op, weight) > macs_before:
                declined += 1
                continue
            dtype = graph.constants[second.inputs[1]].dtype
            inputs = [first.inputs[0], add_constant(graph, weight.astype(dtype), f"{second.outputs[0]}_weight")]
            if bias is not None:
                inputs.append(add_constant(graph, bias.astype(dtype), f"{second.outputs[0]}_bias"))
            graph.nodes.remove(second)
            graph.nodes[graph.nodes.index(first)] = first.copy(inputs=inputs, outputs=list(second.outputs))
            del graph.types[first.outputs[0]]
            merged += 1
            changed = True
            break
    graph.remove_unused_constants()
    return PassResult(graph, {"layers_merged": merged, "merges_declined_by_cost": declined})


MergeLinearChains = Pass("merge-linear-chains", merge_linear_chains,
                         "merge consecutive linear layers when that saves MACs and parameters")
