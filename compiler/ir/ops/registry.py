"""The op table: one ``OpDef`` per IR op, holding everything the IR knows about it.

An op definition is its arity, its attribute schema (name -> default, ``REQUIRED`` when the
frontend must always set it), shape/dtype inference, a MAC count, and a numpy reference
implementation that *defines* the op's semantics. TVM lowering and ONNX import/export live in
their own packages and are looked up by the op's name, so adding an op is one ``define`` call
here plus one entry in each of those tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..types import TensorType

REQUIRED = object()

InferFn = Callable[[Sequence[TensorType], dict[str, Any]], list[TensorType]]
RefFn = Callable[[Sequence[np.ndarray], dict[str, Any]], list[np.ndarray]]
MacsFn = Callable[[Sequence[TensorType], Sequence[TensorType], dict[str, Any]], int]


class InferError(ValueError):
    """Raised by an op's inference function; the verifier and frontend add the node's name."""


@dataclass(frozen=True)
class OpDef:
    name: str
    infer: InferFn
    reference: RefFn
    min_inputs: int = 1
    max_inputs: int | None = 1  # None: variadic
    attrs: dict[str, Any] = field(default_factory=dict)
    macs: MacsFn | None = None
    doc: str = ""

    def full_attrs(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """``attrs`` with defaults filled in; raises InferError on unknown or missing ones."""
        unknown = sorted(set(attrs) - set(self.attrs))
        if unknown:
            raise InferError(f"unknown attribute(s) {unknown} for op '{self.name}' (known: {sorted(self.attrs)})")
        out = {}
        for key, default in self.attrs.items():
            if key in attrs:
                out[key] = attrs[key]
            elif default is REQUIRED:
                raise InferError(f"op '{self.name}' needs attribute '{key}'")
            else:
                out[key] = default
        return out


OPS: dict[str, OpDef] = {}

# Elementwise ops that a layer may carry as its fused activation (see ``define(fusable=True)``).
FUSABLE_ACTIVATIONS = ("relu", "clip", "leaky_relu", "hard_swish", "hard_sigmoid", "sigmoid", "tanh")


def define(name: str, *, infer: InferFn, reference: RefFn, inputs: int | tuple[int, int | None] = 1,
           attrs: dict[str, Any] | None = None, macs: MacsFn | None = None, doc: str = "",
           fusable: bool = False) -> OpDef:
    """Register an op. ``inputs`` is an exact count or a (min, max) range, max None = variadic.

    A ``fusable`` op (a conv or dense layer) also takes ``activation`` (an op name from
    FUSABLE_ACTIVATIONS, "" for none) and ``activation_attrs`` (that op's attributes as
    (name, value) pairs): the activation applied to the layer's output as one fused layer.
    """
    lo, hi = (inputs, inputs) if isinstance(inputs, int) else inputs
    assert name not in OPS, f"op {name} defined twice"
    attrs = dict(attrs or {})
    if fusable:
        attrs.update(activation="", activation_attrs=())
        infer, reference = _with_activation(infer, reference)
    OPS[name] = OpDef(name, infer, reference, lo, hi, attrs, macs, doc)
    return OPS[name]


def activation_of(attrs: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The fused activation of a layer as (op name, full attributes), or None."""
    if not attrs.get("activation"):
        return None
    act = get(attrs["activation"])
    return act.name, act.full_attrs(dict(attrs["activation_attrs"]))


def _with_activation(infer: InferFn, reference: RefFn) -> tuple[InferFn, RefFn]:
    def fused_infer(types, attrs):
        act = attrs["activation"]
        if act and act not in FUSABLE_ACTIVATIONS:
            raise InferError(f"'{act}' cannot be a fused activation (one of {', '.join(FUSABLE_ACTIVATIONS)})")
        if act:
            activation_of(attrs)  # checks the activation's attributes
        return infer(types, attrs)

    def fused_reference(xs, attrs):
        ys = reference(xs, attrs)
        act = activation_of(attrs)
        return ys if act is None else get(act[0]).reference(ys, act[1])

    return fused_infer, fused_reference


def get(name: str) -> OpDef:
    if name not in OPS:
        raise InferError(f"unknown op '{name}'")
    return OPS[name]


def normalize_attr(value: Any) -> Any:
    """Attributes are plain Python scalars, strings or tuples of them (hashable, printable)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(normalize_attr(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value


# Ops that only move or select values: a quantized input's scale and zero point carry over.
QUANT_PASSTHROUGH = frozenset({"identity", "reshape", "transpose", "slice", "split", "pad", "gather", "concat",
                               "broadcast_to", "tile", "max_pool", "global_max_pool"})


def infer_types(op: str, in_types: Sequence[TensorType], attrs: dict[str, Any]) -> list[TensorType]:
    """Check arity and attributes of ``op`` and return its output types."""
    opdef = get(op)
    n = len(in_types)
    if n < opdef.min_inputs or (opdef.max_inputs is not None and n > opdef.max_inputs):
        want = (str(opdef.min_inputs) if opdef.min_inputs == opdef.max_inputs
                else f"{opdef.min_inputs}..{opdef.max_inputs if opdef.max_inputs is not None else 'n'}")
        raise InferError(f"op '{op}' takes {want} inputs, got {n}")
    out = list(opdef.infer(list(in_types), opdef.full_attrs(attrs)))
    quant = in_types[0].quant if in_types else None
    if op in QUANT_PASSTHROUGH and quant is not None and quant.axis is None:
        if op == "concat" and any(t.quant != quant for t in in_types):
            raise InferError("concat of quantized tensors needs one scale and zero point for all inputs "
                             "(requantize them first)")
        out = [TensorType(t.shape, t.dtype, quant) if t.dtype == in_types[0].dtype else t for t in out]
    return out


# -- helpers shared by op definitions -----------------------------------------------------
def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        raise InferError(f"shapes {' and '.join(str(list(s)) for s in shapes)} do not broadcast") from None


def same_dtype(types: Sequence[TensorType]) -> str:
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        raise InferError(f"inputs must share one dtype, got {sorted(dtypes)}")
    return types[0].dtype


def norm_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise InferError(f"axis {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def require_float(t: TensorType, what: str = "input") -> None:
    if not t.dtype.startswith("float"):
        raise InferError(f"{what} must be a float tensor, got {t.dtype}")
