"""Bias correction: remove the systematic error quantization adds to each output channel.

Rounding weights shifts each channel's expected output by E[x] * (w_q - w) summed over the
window, a bias that the same calibration data can measure. Layer by layer, in graph order, the
mean difference between the layer's dequantized output and the float output (over samples and
positions where neither is clamped) is subtracted from its int32 bias, in accumulator units:

    bias_q[c] -= round(mean_error[c] / (x_scale * w_scale[c]))
    x_scale * w_scale[c] = mult[c] / 2^shift[c] * out_scale

Sequential, because a layer's measured error includes what earlier layers pass on: correcting
all layers from one measurement would correct the inherited part twice.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..ir import interpreter
from ..ir.graph import Graph, Node, freeze
from .report import dequantized


def _mean_error(node: Node, graph: Graph, got: np.ndarray, want: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel sum of (dequantized - float) over unclamped outputs, and their count."""
    axis = 1 if node.op == "qconv" else got.ndim - 1
    info = np.iinfo(got.dtype)
    lo = node.attrs["act_min"] if node.attrs["act_min"] is not None else info.min
    hi = node.attrs["act_max"] if node.attrs["act_max"] is not None else info.max
    free = (got > lo) & (got < hi)  # clamped outputs say nothing about the bias
    diff = np.where(free, dequantized(graph, node.outputs[0], got) - want, 0.0)
    others = tuple(i for i in range(diff.ndim) if i != axis)
    return diff.sum(axis=others), free.sum(axis=others)


def correct_bias(float_graph: Graph, quant_graph: Graph, quantized_of: Mapping[str, str],
                 samples: Sequence[Mapping[str, np.ndarray]]) -> tuple[Graph, int]:
    """A copy of ``quant_graph`` with corrected biases, and the number of layers changed."""
    graph = quant_graph.copy()
    original = {q: v for v, q in quantized_of.items()}
    references = [interpreter.run(float_graph, s, keep_all=True) for s in samples]
    changed = 0
    for node in graph.nodes:
        q = node.outputs[0]
        if node.op not in ("qconv", "qdense") or len(node.inputs) != 5 or q not in original:
            continue
        error = count = 0.0
        for sample, want in zip(samples, references):
            got = interpreter.run(graph, sample, keep_all=True)[q]
            e, c = _mean_error(node, graph, got, want[original[q]])
            error, count = error + e, count + c
        if not np.any(count):
            continue
        mean = error / np.maximum(count, 1)
        mult, shift = (graph.constants[i].astype(np.float64) for i in node.inputs[3:5])
        unit = mult / 2.0 ** shift * node.attrs["out_scale"]
        steps = np.rint(np.divide(mean, unit, out=np.zeros_like(mean), where=unit > 0))  # mult 0: nothing to fix
        bias = graph.constants[node.inputs[2]].astype(np.int64) - steps.astype(np.int64)
        graph.constants[node.inputs[2]] = freeze(np.clip(bias, -(2 ** 31), 2 ** 31 - 1).astype(np.int32))
        changed += 1
    return graph, changed
