"""Pad folding: an explicit zero Pad on the spatial axes before a conv or pool becomes the
layer's own padding (one pass over the data instead of two, and no padded copy in memory).

    conv(pad(x, p))                        == conv(x) with pads + p          (zero padding)
    avg_pool(pad(x, p)), count_include_pad == avg_pool(x) with pads + p, count_include_pad=1
    max_pool(pad(x, p, value=-inf))        == max_pool(x) with pads + p      (padding never wins)

An average pool that already pads without counting its padding cannot also count the
explicit zeros, so it is left alone; so are reflect/edge pads, negative (cropping) pads,
pads on the batch or channel axes, and Pads whose output has other readers.
"""

from __future__ import annotations

import math

from ..ir.graph import Graph, Node
from .base import Pass, PassResult
from .rewrite import single_user


def _spatial_pads(graph: Graph, pad: Node) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    pads = pad.attrs["pads"]
    rank = graph.types[pad.inputs[0]].rank
    begin, end = pads[:rank], pads[rank:]
    if pad.attrs["mode"] != "constant" or min(pads) < 0 or any(begin[:2]) or any(end[:2]):
        return None
    return tuple(begin[2:]), tuple(end[2:])


def _accepts(layer: Node, value: float) -> bool:
    if layer.op == "conv":
        return value == 0.0
    if layer.op == "max_pool":
        return value == -math.inf
    if layer.op == "avg_pool":
        return value == 0.0 and (layer.attrs["count_include_pad"] == 1 or not any(layer.attrs["pads"]))
    return False


def fold_pad(graph: Graph) -> PassResult:
    graph = graph.copy()
    folded = 0
    producers, consumers = graph.producers(), graph.consumers()
    for layer in [n for n in graph.nodes if n.op in ("conv", "max_pool", "avg_pool")]:
        pad = producers.get(layer.inputs[0])
        if pad is None or pad.op != "pad" or single_user(graph, pad.outputs[0], consumers) is not layer:
            continue
        spatial = _spatial_pads(graph, pad)
        if spatial is None or not _accepts(layer, float(pad.attrs["value"])):
            continue
        begin, end = spatial
        nd = len(begin)
        old = layer.attrs["pads"] or (0,) * (2 * nd)
        new_pads = tuple(old[i] + begin[i] for i in range(nd)) + tuple(old[nd + i] + end[i] for i in range(nd))
        layer.attrs = {**layer.attrs, "pads": new_pads}
        if layer.op == "avg_pool":
            layer.attrs["count_include_pad"] = 1
        del graph.types[layer.inputs[0]]
        layer.inputs = [pad.inputs[0]] + layer.inputs[1:]
        graph.nodes.remove(pad)
        folded += 1
    return PassResult(graph, {"pads_folded": folded})


FoldPad = Pass("fold-pad", fold_pad, "fold explicit zero padding into the next conv or pool")
