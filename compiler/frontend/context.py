"""What an ONNX op converter sees while the frontend imports a graph.

Converters are small functions registered per ONNX op type (``@converter("Relu")``); each
maps one ONNX node to IR ops through ``ImportContext.emit``. ``emit`` folds a node whose
inputs are all constants straight into a constant with the reference interpreter, which is
how shape-computing subgraphs (Shape -> Gather -> Concat -> Reshape) vanish at import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import onnx

from ..errors import FrontendError
from ..ir.builder import GraphBuilder
from ..ir.ops import InferError, get, infer_types, normalize_attr
from ..ir.types import TensorType
from ..util.registry import registrar

Converter = Callable[["ImportContext", onnx.NodeProto, list[str | None], dict[str, Any]], Sequence[str]]
CONVERTERS: dict[str, Converter] = {}


converter = registrar(CONVERTERS, "converters")  # @converter("OnnxOp", ...)


@dataclass
class ImportContext:
    builder: GraphBuilder
    opset: int
    node: onnx.NodeProto | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def graph(self):
        return self.builder.graph

    def type(self, name: str) -> TensorType:
        return self.graph.types[name]

    def is_const(self, name: str | None) -> bool:
        return name is not None and name in self.graph.constants

    def const(self, name: str | None, what: str) -> np.ndarray:
        """The value of a constant input; converters call it for shape-like inputs."""
        if not self.is_const(name):
            raise self.error(f"its {what} input '{name}' must be a constant (known at compile time); "
                             "edgec compiles static graphs")
        return self.graph.constants[name]

    def add_const(self, array: Any, hint: str = "const", dtype: str | None = None) -> str:
        return self.builder.const(np.asarray(array, dtype=dtype), hint)

    def emit(self, op: str, inputs: Sequence[str], attrs: dict[str, Any] | None = None,
             hint: str | None = None) -> str | tuple[str, ...]:
        """Append an IR op (or fold it to a constant when all inputs are constants)."""
        try:
            opdef = get(op)
            full = opdef.full_attrs({k: normalize_attr(v) for k, v in (attrs or {}).items()})
            out_types = infer_types(op, [self.type(i) for i in inputs], full)
        except InferError as err:
            raise self.error(str(err)) from None
        hints = self._hints(hint, len(out_types))
        if inputs and all(self.is_const(i) for i in inputs):
            values = opdef.reference([self.graph.constants[i] for i in inputs], full)
            names = tuple(self.add_const(v, h) for v, h in zip(values, hints))
            return names[0] if len(names) == 1 else names
        node_name = self.node.name if self.node is not None else ""
        return self.builder.op(op, inputs, full, name=node_name, outputs=hints)

    def _hints(self, hint: str | None, count: int) -> list[str]:
        if hint is not None:
            return [hint] * count
        outputs = list(self.node.output) if self.node is not None else []
        if len(outputs) == count:
            return outputs
        return [outputs[0] if outputs else "v"] * count

    def error(self, message: str) -> FrontendError:
        node = self.node
        where = f"{node.op_type} node '{node.name or node.output[0]}'" if node is not None else "model"
        return FrontendError(f"{where}: {message}")

    def notice(self, message: str) -> None:
        self.notices.append(message)


def onnx_attrs(node: onnx.NodeProto) -> dict[str, Any]:
    """An ONNX node's attributes as plain Python values (tensors as numpy arrays)."""
    out = {}
    for attr in node.attribute:
        value = onnx.helper.get_attribute_value(attr)
        if isinstance(value, onnx.TensorProto):
            value = onnx.numpy_helper.to_array(value)
        elif isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode() for v in value]
        out[attr.name] = value
    return out
