"""QDQ fusion: ``dequantize -> float op -> [relu/clip] -> quantize`` becomes one integer op.

Pre-quantized ONNX models (QDQ form) import as float ops between DequantizeLinear and
QuantizeLinear; constant weights and biases stay readable as ``cast(q) [- zp] * scale``
(``compiler/frontend/onnx_ops/quantized.py``). This pass walks the ``quantize`` nodes and,
where the float op between the boundaries has an integer kernel, replaces the quantize by it:

    conv(DQ x, DQ w, DQ b)      -> qconv       matmul(DQ x, DQ w) [+ b] -> qdense
    add/sub(DQ a, DQ b)         -> qadd        mul(DQ a, DQ b)          -> qmul
    avg_pool(DQ x), same grid   -> qavg_pool   sigmoid/tanh/...(DQ x)   -> lut
    reshape/transpose/max_pool/slice/pad/concat(DQ x...) -> the same op on the integers
    Q(DQ x)                     -> requantize (or identity when the grids are equal)

A ReLU/Clip (separate or fused into the layer) before the quantize becomes the integer
clamp ``act_min``/``act_max``. Anything else keeps float between its dequantize and quantize.
The float nodes left without users are dropped and leftover constant dequantizations folded.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..ir.graph import Graph, Node
from ..ir.ops import InferError, get, infer_types
from ..ir.ops.fixed_point import dtype_range
from ..ir.ops.registry import QUANT_PASSTHROUGH, activation_of
from ..ir.types import QuantParams, TensorType
from ..quant.params import Affine, add_multipliers, layer_multipliers, quantize_multiplier
from ..quant.quantize import LUT_OPS
from .base import Pass, PassResult
from .eliminate_dead_nodes import eliminate_dead_nodes
from .fold_constants import fold_constants
from .rewrite import add_constant

QDTYPES = ("int8", "uint8")
_SAME_SCALE_RTOL = 1e-6


@dataclass(frozen=True)
class Source:
    """A float value that is the dequantization ``(q - zp) * scale`` of an integer tensor."""

    value: str | None        # the integer tensor (None for a constant made by a transpose)
    data: np.ndarray | None  # its values, when constant
    scale: np.ndarray        # float64: one value per tensor, or one per index along ``axis``
    zp: np.ndarray           # int64, same length
    axis: int | None
    dtype: str

    @property
    def grid(self) -> Affine | None:
        """The per-tensor int8/uint8 grid of an activation, or None."""
        if self.axis is not None or self.dtype not in QDTYPES:
            return None
        return Affine(float(self.scale[0]), int(self.zp[0]), self.dtype)


def same_grid(a: Affine, b: Affine) -> bool:
    return a.dtype == b.dtype and a.zp == b.zp and abs(a.scale - b.scale) <= _SAME_SCALE_RTOL * b.scale


class _Fuser:
    def __init__(self, graph: Graph) -> None:
        self.g = graph
        self.producers = graph.producers()
        self.pending: list[Node] = []
        self.counts: Counter = Counter()

    # -- reading dequantized values ------------------------------------------------------
    def source(self, value: str) -> Source | None:
        node = self.producers.get(value)
        if node is None:
            return None
        if node.op == "dequantize":
            x = node.inputs[0]
            return Source(x, self.g.constants.get(x), np.array([node.attrs["scale"]], np.float64),
                          np.array([node.attrs["zero_point"]], np.int64), None, self.g.types[x].dtype)
        if node.op == "mul" and self.g.is_const(node.inputs[1]):
            return self._marked(node)
        if node.op == "transpose":
            inner = self.source(node.inputs[0])
            if inner is None or inner.data is None:
                return None
            perm = list(node.attrs["perm"])
            axis = None if inner.axis is None else perm.index(inner.axis)
            return Source(None, inner.data.transpose(perm), inner.scale, inner.zp, axis, inner.dtype)
        return None

    def _marked(self, mul: Node) -> Source | None:
        """``cast(q) [- zp] * scale`` as written by the DequantizeLinear converter."""
        scale = self.g.constants[mul.inputs[1]]
        inner = self.producers.get(mul.inputs[0])
        zp = np.zeros_like(scale)
        if inner is not None and inner.op == "sub" and self.g.is_const(inner.inputs[1]):
            zp = self.g.constants[inner.inputs[1]]
            inner = self.producers.get(inner.inputs[0])
        if inner is None or inner.op != "cast" or self.g.types[inner.inputs[0]].dtype.startswith("float"):
            return None
        x = inner.inputs[0]
        rank = self.g.types[x].rank
        if scale.size == 1 and zp.size == 1:
            axis = None
        else:
            dims = [i for i, d in enumerate(np.broadcast_shapes(scale.shape, zp.shape)) if d != 1]
            if len(dims) != 1 or max(scale.ndim, zp.ndim) > rank:
                return None
            axis = rank - max(scale.ndim, zp.ndim) + dims[0]
        size = 1 if axis is None else self.g.types[x].shape[axis]
        return Source(x, self.g.constants.get(x), np.broadcast_to(scale.astype(np.float64).reshape(-1), (size,)),
                      np.broadcast_to(np.rint(zp).astype(np.int64).reshape(-1), (size,)), axis,
                      self.g.types[x].dtype)

    def activation(self, value: str) -> tuple[Source, Affine] | None:
        """An int8/uint8 per-tensor dequantized input and its grid (recorded in its type if missing)."""
        src = self.source(value)
        grid = src.grid if src is not None else None
        if grid is None:
            return None
        t = self.g.types.get(src.value) if src.value is not None else None
        if t is not None and t.quant is None and src.data is None:
            self.g.types[src.value] = TensorType(t.shape, t.dtype, QuantParams((grid.scale,), (grid.zp,)))
        return src, grid

    def int_value(self, src: Source, hint: str) -> str:
        return src.value if src.value is not None else self.const(src.data, hint)

    # -- emitting ------------------------------------------------------------------------
    def const(self, array: np.ndarray, hint: str) -> str:
        return add_constant(self.g, array, hint)

    def emit(self, op: str, inputs: list[str], attrs: dict, name: str, output: str) -> str:
        attrs = get(op).full_attrs(attrs)
        (t,) = infer_types(op, [self.g.types[i] for i in inputs], attrs)
        if self.g.types.get(output) is not None and self.g.types[output].shape != t.shape:
            raise InferError(f"{op} would change the shape of {output}")
        self.g.types[output] = t
        self.pending.append(Node(op, list(inputs), [output], attrs, name))
        self.counts[op] += 1
        return output

    def temp(self, hint: str) -> str:
        name = self.g.fresh_name(hint)
        self.g.types[name] = None  # reserved until emit() types it
        return name

    # -- the walk ------------------------------------------------------------------------
    def run(self) -> None:
        nodes = []
        for node in self.g.nodes:
            if node.op == "quantize" and node.attrs["act_min"] is None and node.attrs["act_max"] is None:
                saved = (dict(self.g.types), dict(self.g.constants), Counter(self.counts))
                self.pending = []
                try:
                    fused = self.fuse(node)
                except (InferError, ValueError):
                    fused = False
                if fused:
                    nodes.extend(self.pending)
                    continue
                self.g.types, self.g.constants, self.counts = saved
            nodes.append(node)
        self.g.nodes = nodes

    def fuse(self, q: Node) -> bool:
        out = Affine(q.attrs["out_scale"], q.attrs["out_zp"], q.attrs["out_dtype"])
        value, lo, hi = self.peel(q.inputs[0])
        bounds, output = (lo, hi), q.outputs[0]
        core = self.producers.get(value)
        handler = self.handler(core) if core is not None else None
        if handler is not None and handler(core, out, bounds, output):
            return True
        found = self.activation(value)
        if found is not None and found[0].value is not None and found[0].data is None:
            return self.retarget(found[0].value, found[1], out, bounds, q.name, output)
        if bounds != (float("-inf"), float("inf")):  # quantize(relu(x)): the clamp of the quantize
            self.emit("quantize", [value], self.out_attrs(out, bounds), q.name, output)
            return True
        return False

    def handler(self, core: Node):
        """The method that may fuse ``core`` (called with core, out grid, clamp bounds, output)."""
        special = {"conv": self.layer, "matmul": self.layer, "add": self.add_or_dense, "sub": self.binary,
                   "mul": self.binary, "avg_pool": self.avg_pool, "global_avg_pool": self.avg_pool,
                   "concat": self.concat, **{op: self.lut for op in LUT_OPS}}
        if core.op in special:
            return special[core.op]
        return self.passthrough if core.op in QUANT_PASSTHROUGH and len(core.outputs) == 1 else None

    def peel(self, value: str) -> tuple[str, float, float]:
        """Step over one ReLU/Clip: (its input, real lower bound, real upper bound)."""
        node = self.producers.get(value)
        if node is not None and node.op == "relu":
            return node.inputs[0], 0.0, float("inf")
        if node is not None and node.op == "clip":
            return node.inputs[0], float(node.attrs["min"]), float(node.attrs["max"])
        return value, float("-inf"), float("inf")

    @staticmethod
    def out_attrs(out: Affine, bounds: tuple[float, float]) -> dict:
        qmin, qmax = dtype_range(out.dtype)
        lo, hi = out.quantize(bounds[0]), out.quantize(bounds[1])  # the clamp only where it bites
        return {"out_scale": out.scale, "out_zp": out.zp, "out_dtype": out.dtype,
                "act_min": lo if lo > qmin else None, "act_max": hi if hi < qmax else None}

    # -- layers --------------------------------------------------------------------------
    def layer(self, core: Node, out: Affine, bounds, output: str, bias: str | None = None) -> bool:
        """conv -> qconv, matmul (+ ``bias``) -> qdense; a fused ReLU/Clip narrows the clamp."""
        act = activation_of(core.attrs)
        if act is not None:
            if act[0] not in ("relu", "clip"):
                return False
            lo, hi = (0.0, float("inf")) if act[0] == "relu" else (act[1]["min"], act[1]["max"])
            bounds = (max(bounds[0], lo), min(bounds[1], hi))
        found = self.activation(core.inputs[0])
        w = self.source(core.inputs[1])
        is_conv = core.op == "conv"
        if (found is None or found[0].data is not None or w is None or w.data is None
                or (w.data.ndim != 2 and not is_conv)):
            return False
        if is_conv and len(core.inputs) == 3:
            bias = core.inputs[2]
        x, grid = found
        channel_axis = 0 if is_conv else 1
        weights = symmetric_int8(w, channel_axis)
        if weights is None:
            return False
        w_scales = np.broadcast_to(w.scale, (w.data.shape[channel_axis],)).astype(np.float64)
        bias_q = self.bias_int32(bias, grid.scale * w_scales)
        if bias_q is None:
            return False
        mult, shift = layer_multipliers(grid.scale, w_scales, out.scale)
        attrs = {"x_zp": grid.zp, **self.out_attrs(out, bounds)}
        if is_conv:
            attrs.update({k: core.attrs[k] for k in ("strides", "pads", "dilations", "groups")})
        else:
            weights = np.ascontiguousarray(weights.T)  # qdense stores [N, K]
        hint = output
        inputs = [x.value, self.const(weights, f"{hint}_wq"), self.const(bias_q, f"{hint}_bq"),
                  self.const(mult, f"{hint}_mult"), self.const(shift, f"{hint}_shift")]
        self.emit("qconv" if is_conv else "qdense", inputs, attrs, core.name, output)
        return True

    def add_or_dense(self, add: Node, out: Affine, bounds, output: str) -> bool:
        """``matmul(DQ x, DQ w) + bias`` (a constant, dequantized or not) -> qdense; else qadd."""
        for mm, bias in (add.inputs, add.inputs[::-1]):
            node = self.producers.get(mm)
            if node is not None and node.op == "matmul" and self.layer(node, out, bounds, output, bias):
                return True
        return self.binary(add, out, bounds, output)

    def bias_int32(self, bias: str | None, scales: np.ndarray) -> np.ndarray | None:
        """The bias on the accumulator's grid ``x_scale * w_scale[c]`` (reused as is when it is on it)."""
        n = len(scales)
        if bias is None:
            return np.zeros(n, np.int32)
        src = self.source(bias)
        if src is not None and src.data is not None and src.data.size in (1, n):
            data = np.broadcast_to(src.data.reshape(-1), (n,)).astype(np.int64)
            if np.all(src.zp == 0) and np.allclose(src.scale, scales, rtol=1e-5, atol=0):
                return data.astype(np.int32)
            real = (data - src.zp) * src.scale
        elif self.g.is_const(bias) and self.g.constants[bias].size in (1, n):
            real = np.broadcast_to(self.g.constants[bias].reshape(-1), (n,)).astype(np.float64)
        else:
            return None
        return np.clip(np.rint(real / scales), -(2 ** 31), 2 ** 31 - 1).astype(np.int32)

    # -- elementwise and pooling ---------------------------------------------------------
    def binary(self, core: Node, out: Affine, bounds, output: str) -> bool:
        pair = [self.activation(i) for i in core.inputs]
        if any(p is None for p in pair):
            return False
        (a, ga), (b, gb) = pair
        inputs = [self.int_value(a, f"{output}_a"), self.int_value(b, f"{output}_b")]
        zps = {"a_zp": ga.zp, "b_zp": gb.zp}
        if core.op == "mul":
            mult, shift = quantize_multiplier(ga.scale * gb.scale / out.scale)
            attrs = {**zps, "mult": mult, "shift": shift}
            self.emit("qmul", inputs, {**attrs, **self.out_attrs(out, bounds)}, core.name, output)
            return True
        a_mult, b_mult, shift = add_multipliers(ga.scale, gb.scale, out.scale)
        attrs = {**zps, "a_mult": a_mult, "b_mult": -b_mult if core.op == "sub" else b_mult, "shift": shift}
        self.emit("qadd", inputs, {**attrs, **self.out_attrs(out, bounds)}, core.name, output)
        return True

    def avg_pool(self, core: Node, out: Affine, bounds, output: str) -> bool:
        found = self.activation(core.inputs[0])
        if found is None or found[0].value is None or not same_grid(found[1], out):
            return False  # a change of scale keeps the float pool (one rounding, not two)
        attrs = dict(core.attrs)
        if core.op == "global_avg_pool":
            attrs = {"kernel_shape": self.g.types[core.inputs[0]].shape[2:]}
        self.emit("qavg_pool", [found[0].value], {**attrs, **self.out_attrs(out, bounds)}, core.name, output)
        return True

    def lut(self, core: Node, out: Affine, bounds, output: str) -> bool:
        """A table of the float chain itself: dequantize, the op's reference, quantize."""
        found = self.activation(core.inputs[0])
        if found is None or found[0].value is None or len(core.inputs) != 1:
            return False
        grid = found[1]
        lo, hi = dtype_range(grid.dtype)
        codes = np.arange(lo, hi + 1).astype(grid.dtype)
        real = get("dequantize").reference([codes], {"scale": grid.scale, "zero_point": grid.zp})
        y = get(core.op).reference(real, get(core.op).full_attrs(core.attrs))
        attrs = self.out_attrs(out, bounds)
        table = get("quantize").reference(y, get("quantize").full_attrs(attrs))[0]
        self.emit("lut", [found[0].value, self.const(table, f"{output}_table")], attrs, core.name, output)
        return True

    def passthrough(self, core: Node, out: Affine, bounds, output: str) -> bool:
        """Data movement runs on the integers; a change of grid or a clamp adds a requantize."""
        found = self.activation(core.inputs[0])
        if (found is None or found[0].value is None or found[0].data is not None
                or not all(self.g.is_const(i) for i in core.inputs[1:])):
            return False
        x, grid = found
        attrs = dict(core.attrs)
        if core.op == "pad" and attrs["mode"] == "constant":
            if attrs["value"] != 0.0:
                return False
            attrs["value"] = float(grid.zp)  # real zero
        direct = same_grid(grid, out) and bounds == (float("-inf"), float("inf"))
        moved = self.emit(core.op, [x.value] + core.inputs[1:], attrs, core.name,
                          output if direct else self.temp(f"{output}_moved"))
        return direct or self.retarget(moved, grid, out, bounds, core.name, output)

    def concat(self, core: Node, out: Affine, bounds, output: str) -> bool:
        parts = []
        for i, value in enumerate(core.inputs):
            found = self.activation(value)
            if found is None:
                return False
            q = self.int_value(found[0], f"{output}_part{i}")
            if not same_grid(found[1], out):
                q = self.requantize(q, found[1], out, (float("-inf"), float("inf")), core.name,
                                    self.temp(f"{output}_part{i}"))
            parts.append(q)
        direct = bounds == (float("-inf"), float("inf"))
        joined = self.emit("concat", parts, dict(core.attrs), core.name, output if direct else self.temp(output))
        return direct or self.retarget(joined, out, out, bounds, core.name, output)

    def retarget(self, q: str, grid: Affine, out: Affine, bounds, name: str, output: str) -> bool:
        """``quantize(clamp(dequantize(q)))``: identity when nothing changes, else requantize."""
        if same_grid(grid, out) and bounds == (float("-inf"), float("inf")):
            self.emit("identity", [q], {}, name, output)
        else:
            self.requantize(q, grid, out, bounds, name, output)
        return True

    def requantize(self, q: str, grid: Affine, out: Affine, bounds, name: str, output: str) -> str:
        mult, shift = quantize_multiplier(grid.scale / out.scale)
        attrs = {"in_zp": grid.zp, "mult": mult, "shift": shift, **self.out_attrs(out, bounds)}
        return self.emit("requantize", [q], attrs, name, output)


def symmetric_int8(w: Source, channel_axis: int) -> np.ndarray | None:
    """Weights as symmetric int8 (zero point 0) quantized along ``channel_axis`` or per tensor."""
    if w.axis not in (None, channel_axis) or w.dtype not in QDTYPES + ("int32", "int16"):
        return None
    shape = [1] * w.data.ndim
    if w.axis is not None:
        shape[w.axis] = -1
    centered = w.data.astype(np.int64) - (w.zp.reshape(shape) if w.axis is not None else w.zp[0])
    if centered.min(initial=0) < -128 or centered.max(initial=0) > 127:
        return None
    return centered.astype(np.int8)


def fuse_qdq(graph: Graph) -> PassResult:
    fuser = _Fuser(graph.copy())
    fuser.run()
    cleaned = eliminate_dead_nodes(fuser.g)
    folded = fold_constants(cleaned.graph)
    changes = dict(sorted(fuser.counts.items()))
    changes["nodes_removed"] = cleaned.changes["nodes_removed"]
    return PassResult(folded.graph, changes)


FuseQdq = Pass("fuse-qdq", fuse_qdq, "turn dequantize -> float op -> quantize (ONNX QDQ) into integer ops")
