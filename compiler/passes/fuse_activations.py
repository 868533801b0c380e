"""Activation fusion: a conv / dense layer followed by Relu, Clip (ReLU6), LeakyRelu, HardSwish,
HardSigmoid, Sigmoid or Tanh becomes one fused layer (the layer's ``activation`` attribute).

Codegen then emits one kernel with the activation as its epilogue, and quantization reads
the fused activation's range (e.g. ReLU6 clips the layer's output range to [0, 6]).
The activation is fused only when it is the layer's sole reader.
"""

from __future__ import annotations

from ..ir.graph import Graph
from ..ir.ops import get
from ..ir.ops.registry import FUSABLE_ACTIVATIONS
from .base import Pass, PassResult
from .rewrite import single_user


def _fusable_layer(op: str) -> bool:
    return "activation" in get(op).attrs


def fuse_activations(graph: Graph) -> PassResult:
    graph = graph.copy()
    fused = 0
    producers, consumers = graph.producers(), graph.consumers()
    for act in [n for n in graph.nodes if n.op in FUSABLE_ACTIVATIONS]:
        layer = producers.get(act.inputs[0])
        if layer is None or not _fusable_layer(layer.op) or layer.attrs.get("activation"):
            continue
        if single_user(graph, act.inputs[0], consumers) is not act:
            continue
        layer.attrs = {**layer.attrs, "activation": act.op,
                       "activation_attrs": tuple(sorted(get(act.op).full_attrs(act.attrs).items()))}
        del graph.types[layer.outputs[0]]
        layer.outputs = list(act.outputs)
        graph.nodes.remove(act)
        producers = graph.producers()
        fused += 1
    return PassResult(graph, {"activations_fused": fused})


FuseActivations = Pass("fuse-activations", fuse_activations,
                       "mark conv/dense + activation as one fused layer")
