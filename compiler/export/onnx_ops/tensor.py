"""Export of data-movement ops to ONNX (opset 17)."""

from __future__ import annotations

import numpy as np

from .registry import exporter


def _ints(ctx, values, hint: str) -> str:
    return ctx.const(np.array(values, dtype=np.int64).reshape(-1), hint)


@exporter("reshape")
def reshape(ctx, node, attrs):
    shape = _ints(ctx, attrs["shape"], f"{node.outputs[0]}_shape")
    ctx.add("Reshape", [node.inputs[0], shape], node.outputs, node.name, allowzero=1)  # 0 means 0


@exporter("transpose")
def transpose(ctx, node, attrs):
    ctx.add("Transpose", node.inputs, node.outputs, node.name, perm=list(attrs["perm"]))


@exporter("concat")
def concat(ctx, node, attrs):
    ctx.add("Concat", node.inputs, node.outputs, node.name, axis=attrs["axis"])


@exporter("split")
def split(ctx, node, attrs):
    sizes = _ints(ctx, attrs["sizes"], f"{node.outputs[0]}_split")
    ctx.add("Split", [node.inputs[0], sizes], node.outputs, node.name, axis=attrs["axis"])


@exporter("slice")
def slice_(ctx, node, attrs):
    shape = ctx.graph.types[node.inputs[0]].shape
    cut = [(axis, s, e, st) for axis, (s, e, st) in enumerate(zip(attrs["starts"], attrs["ends"], attrs["steps"]))
           if (s, e, st) != (0, shape[axis], 1)]
    if not cut:
        ctx.add("Identity", node.inputs, node.outputs, node.name)
        return
    axes, starts, ends, steps = zip(*cut)
    ends = [e if e >= 0 else -shape[a] - 1 for a, e in zip(axes, ends)]  # ONNX reads -1 as "last"
    hint = node.outputs[0]
    ctx.add("Slice", [node.inputs[0], _ints(ctx, starts, f"{hint}_starts"), _ints(ctx, ends, f"{hint}_ends"),
                      _ints(ctx, axes, f"{hint}_axes"), _ints(ctx, steps, f"{hint}_steps")],
            node.outputs, node.name)


@exporter("pad")
def pad(ctx, node, attrs):
    if attrs["mode"] == "wrap":  # Pad's wrap mode needs opset 19: gather along each padded axis instead
        _pad_by_gathers(ctx, node, attrs)
        return
    inputs = [node.inputs[0], _ints(ctx, attrs["pads"], f"{node.outputs[0]}_pads")]
    if attrs["mode"] == "constant":
        dtype = ctx.graph.types[node.inputs[0]].dtype
        inputs.append(ctx.const(np.array(attrs["value"]).astype(dtype), f"{node.outputs[0]}_value"))
    ctx.add("Pad", inputs, node.outputs, node.name, mode=attrs["mode"])


def _pad_by_gathers(ctx, node, attrs) -> None:
    shape = ctx.graph.types[node.inputs[0]].shape
    rank, pads = len(shape), attrs["pads"]
    axes = [a for a in range(rank) if pads[a] or pads[rank + a]] or [0]
    value = node.inputs[0]
    for i, axis in enumerate(axes):
        index = np.pad(np.arange(shape[axis]), (pads[axis], pads[rank + axis]), mode=attrs["mode"])
        out = node.outputs[0] if i == len(axes) - 1 else ctx.fresh(f"{node.outputs[0]}_axis{axis}")
        ctx.add("Gather", [value, _ints(ctx, index, f"{node.outputs[0]}_index{axis}")], [out],
                f"{node.name}_axis{axis}", axis=axis)
        value = out


@exporter("gather")
def gather(ctx, node, attrs):
    ctx.add("Gather", node.inputs, node.outputs, node.name, axis=attrs["axis"])


@exporter("broadcast_to")
def broadcast_to(ctx, node, attrs):
    shape = _ints(ctx, attrs["shape"], f"{node.outputs[0]}_shape")
    ctx.add("Expand", [node.inputs[0], shape], node.outputs, node.name)


@exporter("tile")
def tile(ctx, node, attrs):
    repeats = _ints(ctx, attrs["repeats"], f"{node.outputs[0]}_repeats")
    ctx.add("Tile", [node.inputs[0], repeats], node.outputs, node.name)
