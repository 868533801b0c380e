"""Reading ONNX op arguments that moved between attributes and inputs across opsets.

Many ONNX ops took axes, shapes or pads as attributes in old opsets and as (constant) inputs
in newer ones; converters read them through ``ints_arg`` so every opset takes one path.
Errors are FrontendErrors naming the node.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..context import ImportContext


def input_at(ins: Sequence[str | None], index: int) -> str | None:
    """The IR name of optional input ``index`` (None when absent or empty)."""
    return ins[index] if len(ins) > index else None


def const_values(ctx: ImportContext, name: str, what: str) -> list[Any]:
    """A constant input as a flat list of Python numbers."""
    return np.asarray(ctx.const(name, what)).reshape(-1).tolist()


def const_ints(ctx: ImportContext, name: str, what: str) -> list[int]:
    return [int(v) for v in const_values(ctx, name, what)]


def ints_arg(ctx: ImportContext, ins: Sequence[str | None], attrs: dict[str, Any], *, attr: str, index: int,
             since: int, what: str | None = None) -> list[int] | None:
    """An int list that is attribute ``attr`` before opset ``since`` and constant input ``index`` from it on.

    None when it is not given at all.
    """
    if ctx.opset >= since:
        name = input_at(ins, index)
        return None if name is None else const_ints(ctx, name, what or attr)
    value = attrs.get(attr)
    return None if value is None else [int(v) for v in np.asarray(value).reshape(-1)]


def norm_axis(ctx: ImportContext, axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise ctx.error(f"{what} {axis} is out of range for a rank-{rank} input")
    return axis % rank if rank else 0


def norm_axes(ctx: ImportContext, axes: Sequence[int], rank: int, what: str = "axes") -> list[int]:
    """Non-negative axes; out-of-range or repeated axes are errors."""
    out = [norm_axis(ctx, a, rank, what) for a in axes]
    if len(set(out)) != len(out):
        raise ctx.error(f"{what} {list(axes)} repeat an axis")
    return out
