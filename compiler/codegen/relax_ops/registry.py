"""The lowering table: for each IR op, a function that builds its Relax expression.

A rule gets the ``LowerContext`` (for types and constants), the node, its Relax arguments
and its full attributes, and returns one Relax expression per output (a single expression
for single-output ops). Constants arrive as ``relax.Constant``; rules that need the numpy
value (e.g. a weight to pre-transform) read it from ``ctx.constant``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from tvm import relax

from ...ir.graph import Graph, Node
from ...ir.types import TensorType
from ...util.registry import registrar


@dataclass
class LowerContext:
    graph: Graph
    bb: relax.BlockBuilder

    def type(self, name: str) -> TensorType:
        return self.graph.types[name]

    def constant(self, name: str) -> np.ndarray | None:
        return self.graph.constants.get(name)

    def emit(self, expr: relax.Expr) -> relax.Expr:
        """Bind an intermediate expression (rules with several steps use this)."""
        return self.bb.emit(expr)


Rule = Callable[[LowerContext, Node, Sequence[relax.Expr], dict[str, Any]], "relax.Expr | Sequence[relax.Expr]"]
LOWERINGS: dict[str, Rule] = {}


lowering = registrar(LOWERINGS, "lowerings")  # @lowering("ir_op", ...)
