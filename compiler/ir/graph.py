"""The edgec IR: a typed dataflow graph in SSA form, named like ONNX.

Every value is a string name with a static ``TensorType`` in ``Graph.types``. A value is a
graph input, a constant (``Graph.constants`` holds its numpy array) or the output of exactly
one node. ``Graph.nodes`` is kept in topological order. Nodes refer to values by name, so a
pass copies a graph cheaply (``Graph.copy``) and rewrites the copy; constant arrays are shared
between copies and treated as immutable.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .types import TensorType

AttrValue = Any  # int | float | str | bool | tuple[int | float, ...]


@dataclass
class Node:
    """One operation: ``outputs = op(inputs) {attrs}``. ``name`` is for people (ONNX node name)."""

    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, AttrValue] = field(default_factory=dict)
    name: str = ""

    def copy(self, **changes: Any) -> "Node":
        node = replace(self, inputs=list(self.inputs), outputs=list(self.outputs), attrs=dict(self.attrs))
        return replace(node, **changes) if changes else node

    @property
    def label(self) -> str:
        """How errors refer to the node: its op and name (or first output)."""
        return f"{self.op} node '{self.name or self.outputs[0]}'"


@dataclass
class Graph:
    name: str
    inputs: list[str]
    outputs: list[str]
    nodes: list[Node]
    types: dict[str, TensorType]
    constants: dict[str, np.ndarray]

    def copy(self) -> "Graph":
        return Graph(self.name, list(self.inputs), list(self.outputs), [n.copy() for n in self.nodes],
                     dict(self.types), dict(self.constants))

    # -- queries -------------------------------------------------------------------------
    def producers(self) -> dict[str, Node]:
        return {out: node for node in self.nodes for out in node.outputs}

    def consumers(self) -> dict[str, list[Node]]:
        users: dict[str, list[Node]] = defaultdict(list)
        for node in self.nodes:
            for name in dict.fromkeys(node.inputs):
                users[name].append(node)
        return users

    def is_const(self, name: str) -> bool:
        return name in self.constants

    def param_count(self) -> int:
        return sum(int(a.size) for a in self.constants.values())

    def param_bytes(self) -> int:
        return sum(int(a.nbytes) for a in self.constants.values())

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.op] = counts.get(node.op, 0) + 1
        return dict(sorted(counts.items()))

    def fresh_name(self, hint: str) -> str:
        """A value name not yet used in the graph, derived from ``hint``."""
        taken = set(self.types)
        if hint not in taken:
            return hint
        i = 1
        while f"{hint}_{i}" in taken:
            i += 1
        return f"{hint}_{i}"

    def remove_unused_constants(self) -> None:
        used = {name for node in self.nodes for name in node.inputs} | set(self.outputs)
        for name in [c for c in self.constants if c not in used]:
            del self.constants[name]
            del self.types[name]

    def rename(self, old: str, new: str) -> None:
        """Rename value ``old`` to the unused name ``new`` everywhere (in place)."""
        assert new not in self.types, f"{new} is taken"
        self.types[new] = self.types.pop(old)
        if old in self.constants:
            self.constants[new] = self.constants.pop(old)
        for names in [self.inputs, self.outputs] + [n.inputs for n in self.nodes] + [n.outputs for n in self.nodes]:
            names[:] = [new if n == old else n for n in names]

    def __str__(self) -> str:
        from .printer import format_graph

        return format_graph(self)


def freeze(array: np.ndarray) -> np.ndarray:
    """Constants are shared between graph copies: keep a read-only C-ordered copy nobody edits."""
    array = np.asarray(array)
    if array.flags.writeable or not array.flags.c_contiguous:
        array = np.array(array, order="C", copy=True)
        array.flags.writeable = False
    return array
