"""The edgec IR: graph, types, op table, builder, verifier, printer, reference interpreter."""

from . import interpreter
from .builder import GraphBuilder
from .graph import Graph, Node
from .ops import OPS
from .printer import format_graph
from .types import QuantParams, TensorType
from .verify import verify

__all__ = ["Graph", "Node", "GraphBuilder", "TensorType", "QuantParams", "OPS", "verify", "format_graph",
           "interpreter"]
