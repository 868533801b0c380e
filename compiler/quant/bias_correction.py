"""Bias correction: remove the systematic error quantization adds to each output channel.

Rounding weights shifts each channel's expected output by E[x] * (w_q - w) summed over the
window, a bias that the same calibration data can measure. For each integer layer, the mean
difference between its dequantized output and the float output (over samples and positions
where neither is clamped) is subtracted from its int32 bias, in accumulator units:

    bias_q[c] -= round(mean_error[c] / (x_scale * w_scale[c]))
    x_scale * w_scale[c] = mult[c] / 2^shift[c] * out_scale
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..ir import interpreter
from ..ir.graph import Graph, freeze
from .report import dequantized


def correct_bias(float_graph: Graph, quant_graph: Graph, quantized_of: Mapping[str, str],
                 samples: Sequence[Mapping[str, np.ndarray]]) -> tuple[Graph, int]:
    """A copy of ``quant_graph`` with corrected biases, and the number of layers changed."""
    layers = {n.outputs[0]: n for n in quant_graph.nodes if n.op in ("qconv", "qdense") and len(n.inputs) == 5}
    original = {q: v for v, q in quantized_of.items() if q in layers}
    error = {q: 0.0 for q in original}
    count = {q: 0.0 for q in original}
    for sample in samples:
        want = interpreter.run(float_graph, sample, keep_all=True)
        got = interpreter.run(quant_graph, sample, keep_all=True)
        for q, v in original.items():
            node = layers[q]
            axis = 1 if node.op == "qconv" else got[q].ndim - 1
            lo = node.attrs["act_min"] if node.attrs["act_min"] is not None else np.iinfo(got[q].dtype).min
            hi = node.attrs["act_max"] if node.attrs["act_max"] is not None else np.iinfo(got[q].dtype).max
            free = (got[q] > lo) & (got[q] < hi)           # clamped outputs say nothing about the bias
            diff = np.where(free, dequantized(quant_graph, q, got[q]) - want[v], 0.0)
            others = tuple(i for i in range(diff.ndim) if i != axis)
            error[q] = error[q] + diff.sum(axis=others)
            count[q] = count[q] + free.sum(axis=others)
    graph = quant_graph.copy()
    changed = 0
    for q, node in layers.items():
        if q not in original or not np.any(count[q]):
            continue
        mean = np.where(count[q] > 0, error[q] / np.maximum(count[q], 1), 0.0)
        mult, shift = (graph.constants[i].astype(np.float64) for i in node.inputs[3:5])
        unit = mult / 2.0 ** shift * node.attrs["out_scale"]
        bias = graph.constants[node.inputs[2]].astype(np.int64) - np.rint(mean / unit).astype(np.int64)
        graph.constants[node.inputs[2]] = freeze(np.clip(bias, -(2 ** 31), 2 ** 31 - 1).astype(np.int32))
        changed += 1
    return graph, changed
