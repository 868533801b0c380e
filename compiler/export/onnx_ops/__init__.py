"""IR op -> ONNX node rules, one module per op family; importing registers them."""

from . import elementwise, nn, pooling, quantized, reduce, resize, tensor  # noqa: F401
from .registry import EXPORTERS, ExportContext, exporter

__all__ = ["EXPORTERS", "ExportContext", "exporter"]
