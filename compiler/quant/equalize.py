"""Cross-layer equalization (Nagel et al., 2019) for depthwise-separable nets, before quantizing.

Per-channel weight ranges of a depthwise conv differ wildly, which per-tensor activation
grids and int8 weights handle badly. For a layer pair L1 -> L2 where channel i of L1's output
only feeds input channel i of L2, and the activation between is ReLU or none (positively
homogeneous: relu(x / s) = relu(x) / s for s > 0), scaling is free:

    W1[i] /= s_i,  b1[i] /= s_i,  W2[:, i] *= s_i,   with  s_i = sqrt(r1_i / r2_i)

(r1_i = max|W1[i]|, r2_i = max|W2[:, i]|), which leaves both ranges at sqrt(r1_i * r2_i).
The float outputs are unchanged; only the quantization error moves.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from ..passes.base import Pass, PassResult
from ..passes.rewrite import add_constant, single_user


def _first(graph: Graph, node: Node) -> bool:
    act = node.attrs.get("activation", "")
    return (node.op in ("conv", "dense") and act in ("", "relu") and graph.is_const(node.inputs[1])
            and all(graph.is_const(i) for i in node.inputs[2:]))


def _second(graph: Graph, node: Node) -> bool:
    return node.op in ("conv", "dense") and node.attrs.get("groups", 1) == 1 and graph.is_const(node.inputs[1])


def equalize(graph: Graph) -> PassResult:
    graph = graph.copy()
    pairs = 0
    consumers = graph.consumers()
    for l1 in graph.nodes:
        if not _first(graph, l1):
            continue
        l2 = single_user(graph, l1.outputs[0], consumers)
        if l2 is None or not _second(graph, l2) or l2.inputs[0] != l1.outputs[0]:
            continue
        w1 = graph.constants[l1.inputs[1]].astype(np.float64)
        w2 = graph.constants[l2.inputs[1]].astype(np.float64)
        r1 = np.abs(w1.reshape(w1.shape[0], -1)).max(axis=1)
        r2 = np.abs(np.moveaxis(w2, 1, 0).reshape(w2.shape[1], -1)).max(axis=1)
        if r1.shape != r2.shape:
            continue
        s = np.where((r1 > 0) & (r2 > 0), np.sqrt(r1 / np.maximum(r2, 1e-30)), 1.0)
        dtype = graph.constants[l1.inputs[1]].dtype
        ins1 = [l1.inputs[0], add_constant(graph, (w1 / s.reshape((-1,) + (1,) * (w1.ndim - 1))).astype(dtype),
                                           f"{l1.outputs[0]}_weq")]
        if len(l1.inputs) == 3:
            ins1.append(add_constant(graph, (graph.constants[l1.inputs[2]] / s).astype(dtype), f"{l1.outputs[0]}_beq"))
        l1.inputs = ins1
        shape2 = (1, -1) + (1,) * (w2.ndim - 2)
        l2.inputs = [l2.inputs[0], add_constant(graph, (w2 * s.reshape(shape2)).astype(dtype), f"{l2.outputs[0]}_weq")] \
            + l2.inputs[2:]
        pairs += 1
    graph.remove_unused_constants()
    return PassResult(graph, {"pairs_equalized": pairs})


Equalize = Pass("equalize-cross-layer", equalize, "balance per-channel weight ranges of consecutive layers")
