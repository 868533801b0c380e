"""ONNX converters (filled in per op family)."""
