"""ONNX export rules (filled in per op family)."""
