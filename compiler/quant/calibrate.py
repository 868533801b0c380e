"""Calibration: run the float graph on sample inputs and record each activation's range.

The reference interpreter computes every value of the graph for each sample; per float
value, a streaming observer (``observers.py``) keeps what its range method needs (min/max,
then a histogram for percentile/entropy/mse), and ``ranges.py`` turns it into ``(lo, hi)``.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from ..errors import InputError, UsageError
from ..ir import interpreter
from ..ir.graph import Graph
from .observers import calibrate_ranges
from .ranges import METHODS

Ranges = dict[str, tuple[float, float]]


def activation_values(graph: Graph) -> list[str]:
    """The float values whose ranges quantization needs: the inputs and everything computed."""
    names = list(graph.inputs) + [o for n in graph.nodes for o in n.outputs]
    return [n for n in names if graph.types[n].dtype == "float32"]


def calibrate(graph: Graph, samples: Iterable[Mapping[str, np.ndarray]], method: str = "minmax",
              percentile: float = 99.99) -> Ranges:
    """Activation ranges over ``samples`` (each a dict of input arrays) with ``method``."""
    if method not in METHODS:
        raise UsageError(f"unknown calibration method '{method}'; choose one of {', '.join(METHODS)}")
    samples = list(samples)
    if not samples:
        raise InputError("the calibration set is empty")
    values = activation_values(graph)

    def run(sample):
        env = interpreter.run(graph, sample, keep_all=True)
        return {name: env[name] for name in values}

    return calibrate_ranges(run, lambda: samples, method, total=len(samples), percentile=percentile)
