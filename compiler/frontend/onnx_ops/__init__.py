"""ONNX op converters, one module per family; importing this package registers them all."""

from . import elementwise, nn, reduce, tensor  # noqa: F401
