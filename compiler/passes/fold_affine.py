"""Affine folding: multiply / add / subtract / divide by a per-channel constant after a
conv or dense folds into that layer's weights and bias (see ``channel_affine``):

    layer(x) * c  -> scale c        layer(x) / c -> scale 1/c
    layer(x) + c  -> shift c        layer(x) - c -> shift -c     (and c + layer(x), c * layer(x))

The constant must broadcast per output channel (a scalar, or shape [C,1,1], [1,C,1,1], [C] for
dense) and must not change the output's shape; ``c - layer(x)`` and ``c / layer(x)`` are not
affine in the same way and are left alone, as is anything whose layer output is shared.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from .base import Pass, PassResult
from .channel_affine import channel_vector, fold_into_layer, out_channels
from .rewrite import single_user


def _affine(graph: Graph, node: Node) -> tuple[str, np.ndarray, np.ndarray] | None:
    """(layer output, scale, shift) if ``node`` is a foldable per-channel affine op."""
    if node.op not in ("mul", "add", "sub", "div"):
        return None
    a, b = node.inputs
    if graph.is_const(b) and not graph.is_const(a):
        x, c = a, graph.constants[b]
    elif graph.is_const(a) and node.op in ("mul", "add"):
        x, c = b, graph.constants[a]
    else:
        return None
    out = graph.types[node.outputs[0]]
    if out.shape != graph.types[x].shape or out.rank < 2:
        return None
    vec = channel_vector(graph, c, out.rank, out.shape[1])
    if vec is None:
        return None
    ones, zeros = np.ones_like(vec), np.zeros_like(vec)
    return {"mul": (x, vec, zeros), "div": (x, 1.0 / vec, zeros),
            "add": (x, ones, vec), "sub": (x, ones, -vec)}[node.op]


def fold_affine(graph: Graph) -> PassResult:
    graph = graph.copy()
    folded = 0
    for node in list(graph.nodes):
        found = _affine(graph, node)
        if found is None:
            continue
        x, scale, shift = found
        producer = graph.producers().get(x)
        if producer is None or single_user(graph, x, graph.consumers()) is not node:
            continue
        if out_channels(graph, producer) != scale.size or not np.all(np.isfinite(scale)):
            continue
        fold_into_layer(graph, producer, scale, shift)
        producer.outputs = list(node.outputs)
        graph.nodes.remove(node)
        del graph.types[x]
        folded += 1
    graph.remove_unused_constants()
    return PassResult(graph, {"affine_folded": folded})


FoldAffine = Pass("fold-affine", fold_affine, "fold per-channel mul/add/sub/div by constants into conv/dense")
