"""How much quantization costs, layer by layer: SQNR of each quantized value against float.

    SQNR = 10 log10( sum(float^2) / sum((float - dequantized)^2) )   in dB, over the samples

Higher is better; each extra bit of precision adds about 6 dB.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from ..ir import interpreter
from ..ir.graph import Graph


def sqnr_db(signal_power: float, noise_power: float) -> float:
    if noise_power == 0.0:
        return float("inf")
    return float(10.0 * np.log10(max(signal_power, 1e-30) / noise_power))


def dequantized(graph: Graph, name: str, array: np.ndarray) -> np.ndarray:
    q = graph.types[name].quant
    if q is None:
        return array.astype(np.float64)
    return (array.astype(np.float64) - q.zero_point[0]) * q.scale[0]


def sqnr_report(float_graph: Graph, quant_graph: Graph, quantized_of: Mapping[str, str],
                samples: Iterable[Mapping[str, np.ndarray]]) -> dict:
    """Per-value SQNR (for every value that has a quantized version) and per-output SQNR."""
    pairs = {v: q for v, q in quantized_of.items() if v in float_graph.types}
    signal = {v: 0.0 for v in pairs} | {f"output:{o}": 0.0 for o in float_graph.outputs}
    noise = dict.fromkeys(signal, 0.0)
    for sample in samples:
        want = interpreter.run(float_graph, sample, keep_all=True)
        got = interpreter.run(quant_graph, sample, keep_all=True)
        for v, q in pairs.items():
            ref = want[v].astype(np.float64)
            signal[v] += float(np.sum(ref ** 2))
            noise[v] += float(np.sum((ref - dequantized(quant_graph, q, got[q])) ** 2))
        for o in float_graph.outputs:
            ref = want[o].astype(np.float64)
            signal[f"output:{o}"] += float(np.sum(ref ** 2))
            noise[f"output:{o}"] += float(np.sum((ref - got[o].astype(np.float64)) ** 2))
    layers = {v: sqnr_db(signal[v], noise[v]) for v in pairs}
    outputs = {o: sqnr_db(signal[f"output:{o}"], noise[f"output:{o}"]) for o in float_graph.outputs}
    return {"layers": layers, "outputs": outputs}
