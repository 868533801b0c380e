"""All IR ops. Importing this package fills the op table ``OPS``."""

from . import elementwise, nn, pooling, quantized, reduce, resize, tensor  # noqa: F401  (registers the ops)
from .registry import OPS, REQUIRED, InferError, OpDef, get, infer_types, normalize_attr

__all__ = ["OPS", "REQUIRED", "InferError", "OpDef", "get", "infer_types", "normalize_attr"]
