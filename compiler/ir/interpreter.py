"""The reference interpreter: runs a graph with the op table's numpy references.

It defines what every graph means, independent of TVM; passes and kernels are tested
against it. Errors are re-raised naming the node that failed.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..errors import InputError, VerifyError
from .graph import Graph
from .ops import get
from .printer import format_node
from .verify import check_array


def check_inputs(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Match ``feeds`` to the graph inputs by name, shape and dtype; raise InputError otherwise."""
    missing = [n for n in graph.inputs if n not in feeds]
    if missing:
        raise InputError(f"missing input(s) {missing}; the model takes {graph.inputs}")
    unknown = [n for n in feeds if n not in graph.inputs]
    if unknown:
        raise InputError(f"unknown input(s) {unknown}; the model takes {graph.inputs}")
    out = {}
    for name in graph.inputs:
        array, want = np.asarray(feeds[name]), graph.types[name]
        if str(array.dtype) != want.dtype:
            raise InputError(f"input '{name}' has dtype {array.dtype}, the model expects {want.dtype}")
        if tuple(array.shape) != want.shape:
            raise InputError(f"input '{name}' has shape {list(array.shape)}, the model expects {list(want.shape)}")
        out[name] = array
    return out


def run(graph: Graph, feeds: Mapping[str, np.ndarray], keep_all: bool = False) -> dict[str, np.ndarray]:
    """Evaluate the graph; returns its outputs (or every value with ``keep_all``)."""
    env: dict[str, np.ndarray] = dict(graph.constants)
    env.update(check_inputs(graph, feeds))
    for node in graph.nodes:
        try:
            opdef = get(node.op)
            results = opdef.reference([env[i] for i in node.inputs], opdef.full_attrs(node.attrs))
        except Exception as err:  # re-raise naming the node, keep the original as cause
            raise VerifyError(f"while executing {format_node(graph, node)}: {type(err).__name__}: {err}") from err
        for name, value in zip(node.outputs, results):
            value = np.asarray(value)
            check_array(name, value, graph.types[name])
            env[name] = value
    if keep_all:
        return env
    return {name: env[name] for name in graph.outputs}
