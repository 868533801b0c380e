"""The export table: for each IR op, a function that writes equivalent ONNX nodes.

A rule gets the ``ExportContext``, the IR node and its full attributes, and appends ONNX
nodes that read ``node.inputs`` and write ``node.outputs`` (same names as the IR values).
Extra tensors (shapes for Reshape, axes for Slice, ...) are added with ``ctx.const``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ...ir.graph import Graph, Node
from ...util.registry import registrar

OPSET = 17  # the opset exported models declare; rules write nodes valid in it


@dataclass
class ExportContext:
    graph: Graph
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    _names: set[str] = field(default_factory=set)
    _node_names: set[str] = field(default_factory=set)

    def fresh(self, hint: str) -> str:
        name, i = hint, 0
        while name in self._names or name in self.graph.types:
            i += 1
            name = f"{hint}_{i}"
        self._names.add(name)
        return name

    def const(self, array: Any, hint: str, dtype: str | None = None) -> str:
        """Add an initializer (e.g. a Reshape's shape) and return its name."""
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def add(self, op_type: str, inputs: list[str], outputs: list[str], name: str = "", **attrs: Any) -> None:
        """Append a node; node names are made unique (one IR node may become several ONNX nodes)."""
        base = name = name or outputs[0]
        i = 0
        while name in self._node_names:
            i += 1
            name = f"{base}_{i}"
        self._node_names.add(name)
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=name, **attrs))


Rule = Callable[[ExportContext, Node, dict[str, Any]], None]
EXPORTERS: dict[str, Rule] = {}


exporter = registrar(EXPORTERS, "exporters")  # @exporter("ir_op", ...)
