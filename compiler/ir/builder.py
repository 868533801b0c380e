"""GraphBuilder: the one way to make a graph by hand (tests, frontend, passes).

Each ``op`` call checks arity and attributes and infers the output types, so a graph built
here is well-typed by construction.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .graph import Graph, Node, freeze
from .ops import get, infer_types, normalize_attr
from .types import TensorType


class GraphBuilder:
    def __init__(self, name: str = "graph") -> None:
        self.graph = Graph(name, [], [], [], {}, {})
        self._counter = 0

    def _name(self, hint: str | None) -> str:
        if hint and hint not in self.graph.types:
            return hint
        while True:
            self._counter += 1
            name = f"{hint or 'v'}_{self._counter}" if hint else f"v{self._counter}"
            if name not in self.graph.types:
                return name

    def input(self, name: str, shape: Sequence[int], dtype: str = "float32") -> str:
        assert name not in self.graph.types, f"duplicate value name {name}"
        self.graph.types[name] = TensorType(tuple(shape), dtype)
        self.graph.inputs.append(name)
        return name

    def const(self, array: Any, name: str | None = None, dtype: str | None = None) -> str:
        array = np.asarray(array, dtype=dtype)
        name = self._name(name or "const")
        self.graph.constants[name] = freeze(array)
        self.graph.types[name] = TensorType.of(array)
        return name

    def op(self, op: str, inputs: Sequence[str], attrs: dict[str, Any] | None = None, *,
           name: str = "", outputs: Sequence[str] | None = None) -> str | tuple[str, ...]:
        """Append a node; returns its output name (or a tuple of names for multi-output ops)."""
        attrs = get(op).full_attrs({k: normalize_attr(v) for k, v in (attrs or {}).items()})
        out_types = infer_types(op, [self.graph.types[i] for i in inputs], attrs)
        if outputs is None:
            outputs = [self._name(name or op) for _ in out_types]
        else:
            outputs = [self._name(o) for o in outputs]
        for out, t in zip(outputs, out_types):
            self.graph.types[out] = t
        self.graph.nodes.append(Node(op, list(inputs), list(outputs), attrs, name or outputs[0]))
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def output(self, *names: str) -> None:
        self.graph.outputs.extend(names)

    def build(self) -> Graph:
        from .verify import verify

        verify(self.graph)
        return self.graph
