"""The verifier: checks every invariant of the IR and says how to fix what breaks.

Run on import, after every pass in debug mode and in tests. Each error names the node.
"""

from __future__ import annotations

import numpy as np

from ..errors import VerifyError
from .graph import Graph
from .ops import OPS, InferError, infer_types
from .types import TensorType


def verify(graph: Graph) -> None:
    defined: set[str] = set()

    def define(name: str, where: str) -> None:
        if name in defined:
            raise VerifyError(f"value '{name}' is defined twice ({where}); give each value one producer")
        if name not in graph.types:
            raise VerifyError(f"value '{name}' ({where}) has no type in graph.types")
        defined.add(name)

    for name in graph.inputs:
        define(name, "graph input")
    for name, array in graph.constants.items():
        define(name, "constant")
        if TensorType.of(array) != graph.types[name]:
            raise VerifyError(f"constant '{name}' holds {TensorType.of(array)} but is typed {graph.types[name]}")
    for node in graph.nodes:
        if node.op not in OPS:
            raise VerifyError(f"{node.label}: unknown op '{node.op}' (known ops: {', '.join(sorted(OPS))})")
        for name in node.inputs:
            if name not in defined:
                raise VerifyError(f"{node.label} uses '{name}' before it is defined: "
                                  "nodes must be in topological order and every input must exist")
        try:
            expected = infer_types(node.op, [graph.types[i] for i in node.inputs], node.attrs)
        except InferError as err:
            raise VerifyError(f"{node.label}: {err}") from None
        if len(expected) != len(node.outputs):
            raise VerifyError(f"{node.label} has {len(node.outputs)} outputs, op '{node.op}' makes {len(expected)}")
        for name, want in zip(node.outputs, expected):
            define(name, node.label)
            if graph.types[name].shape != want.shape or graph.types[name].dtype != want.dtype:
                raise VerifyError(f"{node.label}: output '{name}' is typed {graph.types[name]} "
                                  f"but the op produces {want}; re-run type inference")
    for name in graph.outputs:
        if name not in defined:
            raise VerifyError(f"graph output '{name}' is never defined")
    stale = set(graph.types) - defined
    if stale:
        raise VerifyError(f"types recorded for values that do not exist: {sorted(stale)[:5]}")


def check_array(name: str, array: np.ndarray, want: TensorType) -> None:
    """Used by interpreters: a computed array must match its declared type."""
    if tuple(array.shape) != want.shape or str(array.dtype) != want.dtype:
        raise VerifyError(f"value '{name}' computed as {TensorType.of(array)} but typed {want}")
