"""Channel importance: filter norms (l1, l2), batch-norm scale (bn) and activation magnitude.

Scores are computed per position of each source layer's output, divided by that layer's mean
score (so layers coupled by a residual add weigh equally), and summed per class: a class's
importance aggregates every filter it would remove.
"""

from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..ir.graph import Graph
from .groups import ChannelMap, source_layers

CRITERIA = ("l1", "l2", "bn", "activation")
DATA_DRIVEN = ("activation",)


def bn_gammas(graph: Graph) -> dict[str, np.ndarray]:
    """|gamma| of every batch norm that directly follows a conv/dense, by that layer's node name.

    Read before batch-norm folding (which keeps the layer's node and name), so the ``bn``
    criterion sees the scales even though the pruned graph has no batch norms left.
    """
    producers = graph.producers()
    gammas = {}
    for bn in (n for n in graph.nodes if n.op == "batch_norm" and graph.is_const(n.inputs[1])):
        layer = producers.get(bn.inputs[0])
        if layer is not None and layer.op in ("conv", "dense"):
            gammas[layer.name] = np.abs(graph.constants[bn.inputs[1]].astype(np.float64))
    return gammas


def _filter_norm(w: np.ndarray, order: int) -> np.ndarray:
    """L1 or L2 norm of each output filter, accumulated in float64 without a float64 copy of ``w``."""
    flat = w.reshape(w.shape[0], -1)
    if order == 1:
        return np.abs(flat).sum(axis=1, dtype=np.float64)
    return np.sqrt(np.einsum("ij,ij->i", flat, flat, dtype=np.float64))


def layer_scores(graph: Graph, criterion: str, bn_scales: dict[str, np.ndarray] | None = None,
                 activations: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Per-output-position importance of every source layer (by output value name)."""
    if criterion not in CRITERIA:
        raise UsageError(f"unknown pruning criterion '{criterion}' (choose from {', '.join(CRITERIA)})")
    gammas = dict(bn_gammas(graph))
    gammas.update(bn_scales or {})
    scores = {}
    for node in source_layers(graph):
        w = graph.constants[node.inputs[1]]
        if criterion == "activation" and activations is not None:
            s = activations[node.outputs[0]]
        elif criterion == "bn" and node.name in gammas and gammas[node.name].size == w.shape[0]:
            s = gammas[node.name]
        else:
            s = _filter_norm(w, 2 if criterion == "l2" else 1)
        scores[node.outputs[0]] = s / max(float(np.mean(s)), 1e-30)
    return scores


def class_scores(cmap: ChannelMap, scores: dict[str, np.ndarray]) -> np.ndarray:
    """Importance of every class root (indexed by channel id; non-roots hold 0)."""
    total = np.zeros(len(cmap.root))
    for value, s in scores.items():
        np.add.at(total, cmap.classes(value), s)
    return total
