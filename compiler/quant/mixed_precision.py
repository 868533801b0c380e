"""Automatic mixed precision: keep in float the layers whose quantization hurts the output
most, until the output SQNR reaches a target.

Sensitivity of a layer = the output SQNR when only that layer is quantized (lower = more
harmful). Layers are kept in float from the most to the least sensitive, one at a time, until
the fully quantized rest meets ``target_db``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..ir.graph import Graph
from .quantize import QuantConfig, quantizable_layers, quantize
from .report import sqnr_report


def output_sqnr(graph: Graph, ranges, config: QuantConfig, samples: Sequence[Mapping[str, np.ndarray]]) -> float:
    result = quantize(graph, ranges, config)
    return min(sqnr_report(graph, result.graph, result.quantized_of, samples)["outputs"].values())


def choose_keep_float(graph: Graph, ranges, samples: Sequence[Mapping[str, np.ndarray]], dtype: str = "int8",
                      target_db: float = 30.0) -> tuple[list[str], list[dict]]:
    """The layers to keep in float, and the search history (for the report)."""
    layers = quantizable_layers(graph)
    everything = frozenset(layers)
    sensitivity = {name: output_sqnr(graph, ranges, QuantConfig(dtype, everything - {name}), samples)
                   for name in layers}
    keep: list[str] = []
    history = [{"kept_float": [], "output_sqnr_db": output_sqnr(graph, ranges, QuantConfig(dtype), samples)}]
    for name in sorted(layers, key=lambda n: sensitivity[n]):
        if history[-1]["output_sqnr_db"] >= target_db:
            break
        keep.append(name)
        history.append({"kept_float": list(keep),
                        "output_sqnr_db": output_sqnr(graph, ranges, QuantConfig(dtype, frozenset(keep)), samples)})
    return keep, history
