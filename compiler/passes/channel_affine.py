"""Folding a per-output-channel affine map ``y * s + t`` into the layer that produced ``y``.

Shared by batch-norm folding and affine folding. For a layer with constant weights, scaling
output channel c by s[c] is the same as scaling that channel's filter, and the shift goes
into the bias:

    conv(x, W, b) * s + t        == conv(x, W * s[:, None, ...], b * s + t)
    dense(x, W, b) * s + t       == dense(x, W * s[:, None], b * s + t)
    conv_transpose(x, W, b) * s + t: W is [Cin, Cout/groups, ...]; channel o = g * Cout/groups + j
    matmul(x, B) * s + t         == dense(x, (B * s).T, t)          (B a constant matrix)

Folding happens in float64 and is cast back once.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from .rewrite import add_constant

FOLDABLE = ("conv", "conv_transpose", "dense", "matmul")


def out_channels(graph: Graph, node: Node) -> int | None:
    """Number of output channels of a foldable layer with constant weights, else None."""
    if node.op not in FOLDABLE or len(node.inputs) < 2 or not graph.is_const(node.inputs[1]):
        return None
    if len(node.inputs) == 3 and not graph.is_const(node.inputs[2]):
        return None
    out = graph.types[node.outputs[0]]
    w = graph.constants[node.inputs[1]]
    if node.op in ("dense", "matmul"):
        if out.rank != 2 or w.ndim != 2:  # channels must sit on axis 1 = the feature axis
            return None
        return out.shape[1]
    return out.shape[1]


def channel_vector(graph: Graph, value: np.ndarray, out_rank: int, channels: int) -> np.ndarray | None:
    """``value`` as a length-``channels`` vector if it broadcasts per channel along axis 1."""
    value = np.asarray(value)
    if value.ndim > out_rank:
        return None
    full = value.reshape((1,) * (out_rank - value.ndim) + value.shape)
    if any(d != 1 for i, d in enumerate(full.shape) if i != 1) or full.shape[1] not in (1, channels):
        return None
    return np.broadcast_to(full.reshape(-1), (channels,)).astype(np.float64)


def fold_into_layer(graph: Graph, node: Node, scale: np.ndarray, shift: np.ndarray) -> None:
    """Rewrite ``node`` (in ``graph``) so its output becomes ``output * scale + shift``."""
    w = graph.constants[node.inputs[1]].astype(np.float64)
    dtype = graph.constants[node.inputs[1]].dtype
    bias = graph.constants[node.inputs[2]].astype(np.float64) if len(node.inputs) == 3 else 0.0
    if node.op == "conv" or node.op == "dense":
        w = w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
    elif node.op == "conv_transpose":
        groups = node.attrs["groups"]
        cin, cout_g = w.shape[:2]
        w = (w.reshape(groups, cin // groups, cout_g, *w.shape[2:])
             * scale.reshape(groups, 1, cout_g, *([1] * (w.ndim - 2)))).reshape(w.shape)
    elif node.op == "matmul":  # becomes dense: weight [N, K]
        w = (w * scale.reshape(1, -1)).T
        node.op, node.attrs = "dense", {}
    new_bias = bias * scale + shift
    node.inputs = [node.inputs[0],
                   add_constant(graph, w.astype(dtype), f"{node.outputs[0]}_weight"),
                   add_constant(graph, np.broadcast_to(new_bias, scale.shape).astype(dtype), f"{node.outputs[0]}_bias")]
