"""Get a float graph ready for quantization.

- Fused activations that are not clamps are split off. A conv with a fused ReLU/ReLU6 stays one
  integer layer (the activation is its output clamp). Any other fused activation (sigmoid,
  hard-swish, ...) is split back into the layer and an elementwise op, so calibration sees the
  layer's own output range and the activation can become an int8 lookup table.
- Optionally (``pools_as_convs``), unpadded average pools become depthwise convolutions with
  constant weights ``1/window``. An integer average pool keeps its input's grid, so the mean of
  a window, whose range is much narrower than the input's (global pooling before the
  classifier), is rounded to a coarse step; as an integer conv it sums exactly in int32 and
  rounds once, to its own calibrated grid. The weights quantize exactly (every one is the
  channel's maximum, i.e. 127 steps) but cost ``channels * window`` bytes, hence opt-in.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node, freeze
from ..ir.ops import get
from ..ir.ops.pooling import pool_window
from ..ir.ops.registry import activation_of
from ..ir.types import TensorType

CLAMPS = ("relu", "clip")


def prepare(graph: Graph, pools_as_convs: bool = False) -> Graph:
    """The graph that calibration and quantization work on (same float function as ``graph``)."""
    graph = split_nonclamp_activations(graph)
    return pools_as_depthwise(graph) if pools_as_convs else graph


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


def pools_as_depthwise(graph: Graph) -> Graph:
    graph = graph.copy()
    graph.nodes = [_as_depthwise(graph, node) or node for node in graph.nodes]
    return graph


def _as_depthwise(graph: Graph, node: Node) -> Node | None:
    """The depthwise conv computing ``node`` (an unpadded avg_pool / global_avg_pool), or None."""
    x = graph.types[node.inputs[0]]
    if node.op not in ("avg_pool", "global_avg_pool") or x.dtype != "float32" or x.rank < 3 \
            or not all(isinstance(d, int) and d > 0 for d in x.shape[1:]):
        return None
    nd = x.rank - 2
    if node.op == "global_avg_pool":
        kernel, strides = tuple(x.shape[2:]), (1,) * nd
    else:
        window = pool_window(x, node.attrs)
        floor_out = tuple((x.shape[2 + i] - window.kernel[i]) // window.strides[i] + 1 for i in range(nd))
        if any(window.pads) or any(d != 1 for d in window.dilations) or window.out != floor_out:
            return None  # border windows would need their own divisors
        kernel, strides = window.kernel, window.strides
    channels = x.shape[1]
    weight = np.full((channels, 1, *kernel), 1.0 / int(np.prod(kernel)), dtype=np.float32)
    name = graph.fresh_name(f"{node.outputs[0]}_pool_weight")
    graph.constants[name] = freeze(weight)
    graph.types[name] = TensorType(weight.shape, "float32")
    attrs = get("conv").full_attrs({"strides": strides, "pads": (0,) * (2 * nd), "dilations": (1,) * nd,
                                    "groups": channels})
    return Node("conv", [node.inputs[0], name], list(node.outputs), attrs, node.name)
