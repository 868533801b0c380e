"""Batch-norm folding.

In inference, batch_norm(x) = x * s + t per channel with

    s = gamma / sqrt(var + eps),   t = beta - mean * s.

When x comes from a conv / conv_transpose / dense / matmul with constant weights that nobody
else reads, s and t fold into that layer's weights and bias (see ``channel_affine``) and the
batch norm disappears. The same holds through a transparent op between the layer and the
batch norm, one that acts on each channel alone and commutes with x * s + t:

    max_pool, global_max_pool        max(x * s + t) == max(x) * s + t     (only if every s > 0)
    avg_pool (no counted padding),   mean(x * s + t) == mean(x) * s + t
    global_avg_pool
    identity, reshape keeping the batch and channel axes

A batch norm that cannot fold (its input is shared, or comes from
another op) becomes one per-channel multiply and add, which later passes or the kernels fuse.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from .base import Pass, PassResult
from .channel_affine import fold_into_layer, out_channels
from .rewrite import add_constant, single_user


def _scale_shift(graph: Graph, bn: Node) -> tuple[np.ndarray, np.ndarray] | None:
    if not all(graph.is_const(name) for name in bn.inputs[1:]):
        return None
    gamma, beta, mean, var = (graph.constants[name].astype(np.float64) for name in bn.inputs[1:])
    scale = gamma / np.sqrt(var + bn.attrs["epsilon"])
    return scale, beta - mean * scale


def _transparent(graph: Graph, node: Node, scale: np.ndarray) -> bool:
    """Does ``node`` commute with a per-channel x * scale + shift?"""
    if node.op in ("max_pool", "global_max_pool"):
        return bool(np.all(scale > 0))
    if node.op == "avg_pool":
        return node.attrs["count_include_pad"] == 0 or not any(node.attrs["pads"])
    if node.op == "reshape":
        return graph.types[node.inputs[0]].shape[:2] == graph.types[node.outputs[0]].shape[:2]
    return node.op in ("global_avg_pool", "identity")


def _foldable_chain(graph: Graph, bn: Node, scale: np.ndarray) -> list[Node] | None:
    """[layer] or [layer, transparent op] whose outputs only feed the next, ending at ``bn``."""
    producers, consumers = graph.producers(), graph.consumers()
    chain: list[Node] = []
    reader = bn
    while True:
        node = producers.get(reader.inputs[0])
        if node is None or single_user(graph, node.outputs[0], consumers) is not reader:
            return None
        chain.insert(0, node)
        if out_channels(graph, node) == scale.size:
            return chain
        if len(chain) > 1 or not _transparent(graph, node, scale):
            return None
        reader = node


def fold_batchnorm(graph: Graph) -> PassResult:
    graph = graph.copy()
    folded = rewritten = 0
    for bn in [n for n in graph.nodes if n.op == "batch_norm"]:
        affine = _scale_shift(graph, bn)
        if affine is None:
            continue
        scale, shift = affine
        chain = _foldable_chain(graph, bn, scale)
        if chain is not None:
            fold_into_layer(graph, chain[0], scale, shift)
            last = chain[-1]
            del graph.types[last.outputs[0]]
            last.outputs = list(bn.outputs)
            graph.nodes.remove(bn)
            folded += 1
        else:
            _to_mul_add(graph, bn, scale, shift)
            rewritten += 1
    graph.remove_unused_constants()
    return PassResult(graph, {"batchnorms_folded": folded, "batchnorms_to_scale_shift": rewritten})


def _to_mul_add(graph: Graph, bn: Node, scale: np.ndarray, shift: np.ndarray) -> None:
    t = graph.types[bn.inputs[0]]
    per_channel = (-1,) + (1,) * (t.rank - 2)
    s = add_constant(graph, scale.reshape(per_channel).astype(t.dtype), f"{bn.outputs[0]}_scale")
    b = add_constant(graph, shift.reshape(per_channel).astype(t.dtype), f"{bn.outputs[0]}_shift")
    scaled = graph.fresh_name(f"{bn.outputs[0]}_scaled")
    graph.types[scaled] = t
    index = graph.nodes.index(bn)
    graph.nodes[index:index + 1] = [Node("mul", [bn.inputs[0], s], [scaled], {}, f"{bn.name}/scale"),
                                    Node("add", [scaled, b], list(bn.outputs), {}, f"{bn.name}/shift")]


FoldBatchNorm = Pass("fold-batchnorm", fold_batchnorm,
                     "fold batch norm into the preceding conv/dense, else one per-channel scale and shift")
