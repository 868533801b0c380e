"""ONNX op converters, one module per family; importing this package registers them all."""

from . import constant, elementwise, nn, pooling, quantized, reduce, resize, tensor  # noqa: F401
