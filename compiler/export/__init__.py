"""IR -> other formats (ONNX), so users can view and cross-check what edgec made."""

from .onnx import export_onnx, save_onnx

__all__ = ["export_onnx", "save_onnx"]
