"""Calibration: run the float graph on sample inputs and record each activation's range.

The reference interpreter computes every value of the graph for each sample; per float
value, a streaming observer keeps the statistics its range method needs, and the method
turns them into ``(lo, hi)``.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from ..errors import InputError
from ..ir import interpreter
from ..ir.graph import Graph

Ranges = dict[str, tuple[float, float]]


def activation_values(graph: Graph) -> list[str]:
    """The float values whose ranges quantization needs: the inputs and everything computed."""
    names = list(graph.inputs) + [o for n in graph.nodes for o in n.outputs]
    return [n for n in names if graph.types[n].dtype == "float32"]


def calibrate(graph: Graph, samples: Iterable[Mapping[str, np.ndarray]], method: str = "minmax") -> Ranges:
    """Activation ranges over ``samples`` (each a dict of input arrays) with ``method``."""
    samples = list(samples)
    if not samples:
        raise InputError("the calibration set is empty")
    values = activation_values(graph)
    lo = {n: np.inf for n in values}
    hi = {n: -np.inf for n in values}
    for sample in samples:
        env = interpreter.run(graph, sample, keep_all=True)
        for n in values:
            lo[n] = min(lo[n], float(env[n].min()))
            hi[n] = max(hi[n], float(env[n].max()))
    if method != "minmax":
        raise InputError(f"unknown calibration method '{method}'")
    return {n: (lo[n], hi[n]) for n in values}
