"""IR op -> Relax expression rules, one module per op family; importing registers them."""

from . import elementwise, nn, pooling, quantized, reduce, resize, tensor  # noqa: F401
from .registry import LOWERINGS, LowerContext, lowering

__all__ = ["LOWERINGS", "LowerContext", "lowering"]
