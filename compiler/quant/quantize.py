"""Post-training quantization: a float graph plus activation ranges -> an integer graph.

Each float value keeps up to two versions in the new graph, made on demand: its float
version (named as before) and its quantized version (``<name>_q``). A conv/dense layer always
takes a quantized input (a ``quantize`` is inserted where needed) and produces a quantized
output; adds, multiplies, concats, pools, clamps and table-lookup activations stay in integers
when their input already is (an average pool only if an integer op reads its mean: one that
feeds only softmax or the graph output is computed in float, without rounding the mean to its
input's grid); anything else (softmax, resize, ...) runs in float between
``dequantize`` and ``quantize`` boundaries. Graph inputs and outputs keep their float types.

Fused ReLU/ReLU6 become the output clamp (``act_min``/``act_max``); other fused activations are
split off first (``prepare``) so the layer's own output range is calibrated and the activation
becomes a lookup table. A ReLU/Clip that is the only consumer of an add/sub/mul (a residual
block's ``relu(x + f(x))``) is fused the same way: the integer add writes the clamp's output on the
clamp's own (non-negative) grid, instead of the add's signed one, which would waste half the levels.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from ..errors import PassError, UsageError
from ..ir.builder import GraphBuilder
from ..ir.graph import Graph, Node
from ..ir.ops import get
from ..ir.ops.fixed_point import dtype_range
from ..ir.ops.registry import activation_of
from .params import (Affine, activation_params, add_multipliers, layer_multipliers, layer_weight_scales, quantize_bias,
                     quantize_multiplier, quantize_weights, requantize_multiplier)

CLAMPS = ("relu", "clip")
LUT_OPS = ("sigmoid", "tanh", "hard_swish", "hard_sigmoid", "leaky_relu")
PASSTHROUGH = ("reshape", "transpose", "max_pool", "global_max_pool", "slice", "identity")
Ranges = dict[str, tuple[float, float]]
INTEGER_OPS = frozenset(("conv", "dense", "add", "sub", "mul", "concat", "pad", "avg_pool", "global_avg_pool",
                         *CLAMPS, *LUT_OPS, *PASSTHROUGH))


@dataclass
class QuantConfig:
    dtype: str = "int8"                         # activations: int8 or uint8
    keep_float: frozenset[str] = frozenset()    # node names (or output value names) kept in float


@dataclass
class Quantized:
    graph: Graph
    quantized_of: dict[str, str]                # original float value -> its quantized value
    counts: dict[str, int] = field(default_factory=dict)


def quantizable_layers(graph: Graph) -> list[str]:
    """Names of the nodes quantize() would turn into integer layers (for --keep-float checks)."""
    return [n.name for n in graph.nodes if _is_layer(graph, n)]


def _is_layer(graph: Graph, node: Node) -> bool:
    act = activation_of(node.attrs) if node.op in ("conv", "dense") else None
    return (node.op in ("conv", "dense") and graph.is_const(node.inputs[1])
            and all(graph.is_const(i) for i in node.inputs[2:]) and graph.types[node.inputs[0]].dtype == "float32"
            and (act is None or act[0] in CLAMPS))


def quantize(graph: Graph, ranges: Ranges, config: QuantConfig | None = None) -> Quantized:
    config = config or QuantConfig()
    if config.dtype not in ("int8", "uint8"):
        raise UsageError(f"activation dtype must be int8 or uint8, got {config.dtype}")
    known = {n.name for n in graph.nodes} | {o for n in graph.nodes for o in n.outputs}
    unknown = sorted(set(config.keep_float) - known)
    if unknown:
        raise UsageError(f"--keep-float names unknown layer(s) {unknown}; layers that can be quantized: "
                         f"{', '.join(quantizable_layers(graph)) or 'none'}")
    rewriter = _Rewriter(graph, ranges, config)
    rewriter.run()
    return Quantized(rewriter.b.graph, dict(rewriter.q_of), dict(rewriter.counts))


class _Rewriter:
    def __init__(self, graph: Graph, ranges: Ranges, config: QuantConfig) -> None:
        self.src, self.ranges, self.config = graph, ranges, config
        self.b = GraphBuilder(graph.name)
        self.float_of: dict[str, str] = {}
        self.q_of: dict[str, str] = {}
        self.params: dict[str, Affine] = {}   # new quantized value -> its grid
        self.counts: Counter = Counter()
        self.fused_clamp = _fusable_clamps(graph)   # binary op output -> the clamp node it feeds
        self.absorbed: set[str] = set()             # outputs of clamps already written by their producer
        self.consumers = graph.consumers()

    # -- value versions --------------------------------------------------------------------
    def grid(self, value: str) -> Affine:
        if value not in self.ranges:
            raise PassError(f"no calibration range for '{value}' (was the graph calibrated?)")
        return activation_params(*self.ranges[value], self.config.dtype)

    def get_f(self, value: str) -> str:
        if value not in self.float_of:
            if value in self.src.constants:
                self.float_of[value] = self.b.const(self.src.constants[value], value)
            else:
                q = self.q_of[value]
                p = self.params[q]
                self.float_of[value] = self.b.op("dequantize", [q], {"scale": p.scale, "zero_point": p.zp},
                                                 outputs=[value])
                self.counts["dequantize"] += 1
        return self.float_of[value]

    def get_q(self, value: str) -> str:
        if value not in self.q_of:
            if value in self.src.constants:
                array = self.src.constants[value].astype(np.float64)
                p = activation_params(array.min(), array.max(), self.config.dtype)
                lo, hi = dtype_range(p.dtype)
                data = np.clip(np.rint(array / p.scale) + p.zp, lo, hi).astype(p.dtype)
                self.set_q(value, self.b.const(data, f"{value}_q"), p)
            else:
                p = self.grid(value)
                q = self.b.op("quantize", [self.get_f(value)], {"out_scale": p.scale, "out_zp": p.zp,
                                                                "out_dtype": p.dtype}, outputs=[f"{value}_q"])
                self.set_q(value, q, p)
                self.counts["quantize"] += 1
        return self.q_of[value]

    def set_q(self, value: str, q: str, p: Affine) -> None:
        self.q_of[value], self.params[q] = q, p

    def is_q(self, value: str) -> bool:
        return value in self.q_of

    def out_attrs(self, p: Affine, lo: int | None = None, hi: int | None = None) -> dict:
        return {"out_scale": p.scale, "out_zp": p.zp, "out_dtype": p.dtype, "act_min": lo, "act_max": hi}

    def emit_q(self, node: Node, op: str, inputs: list[str], attrs: dict, p: Affine, value: str | None = None) -> None:
        """Emit ``op`` as the quantized version of ``value`` (default: the node's output)."""
        value = value or node.outputs[0]
        out = self.b.op(op, inputs, attrs, name=node.name, outputs=[f"{value}_q"])
        self.set_q(value, out, p)
        self.counts[op] += 1

    # -- the walk --------------------------------------------------------------------------
    def run(self) -> None:
        for name in self.src.inputs:
            t = self.src.types[name]
            self.float_of[name] = self.b.input(name, t.shape, t.dtype)
        for node in self.src.nodes:
            if node.outputs and node.outputs[0] in self.absorbed:
                continue
            handler = None if self.kept_float(node) else self.handler(node)
            if handler is None:
                self.float_node(node)
            else:
                handler(node)
        for out in self.src.outputs:
            name = self.get_f(out)
            if name != out:  # make the output carry its original name
                self.b.graph.rename(name, self.b.graph.fresh_name(out) if out in self.b.graph.types else out)
            self.b.graph.outputs.append(out if out in self.b.graph.types else name)
        self.b.graph.remove_unused_constants()

    def kept_float(self, node: Node) -> bool:
        return node.name in self.config.keep_float or any(o in self.config.keep_float for o in node.outputs)

    def handler(self, node: Node):
        op = node.op
        first_q = bool(node.inputs) and self.is_q(node.inputs[0])
        if _is_layer(self.src, node):
            return self.layer
        if op in ("add", "sub", "mul") and any(self.is_q(i) for i in node.inputs):
            return self.binary
        if op == "concat" and all(self.is_q(i) or i in self.src.constants for i in node.inputs) \
                and any(self.is_q(i) for i in node.inputs):
            return self.concat
        if not first_q:
            return None
        if op in PASSTHROUGH or (op == "pad" and node.attrs["mode"] == "constant" and node.attrs["value"] == 0.0):
            return self.passthrough
        if op in ("avg_pool", "global_avg_pool"):
            # a mean that only float code reads (softmax, the graph output) is better left unrounded
            return None if self.read_in_float(node.outputs[0]) else self.avg_pool
        if op in CLAMPS:
            return self.clamp
        if op in LUT_OPS:
            return self.lut
        return None

    def read_in_float(self, value: str) -> bool:
        """Whether every reader of ``value`` is float: graph outputs and ops without an integer form."""
        return all(n.op not in INTEGER_OPS for n in self.consumers.get(value, []))

    def float_node(self, node: Node) -> None:
        inputs = [self.get_f(i) for i in node.inputs]
        outs = self.b.op(node.op, inputs, node.attrs, name=node.name, outputs=list(node.outputs))
        for original, new in zip(node.outputs, [outs] if isinstance(outs, str) else outs):
            self.float_of[original] = new
        self.counts["float " + node.op] += 1

    def layer(self, node: Node) -> None:
        x = self.get_q(node.inputs[0])
        xp = self.params[x]
        w = self.src.constants[node.inputs[1]]
        bias = self.src.constants[node.inputs[2]] if len(node.inputs) == 3 else None
        out = self.grid(node.outputs[0])
        ws = layer_weight_scales(w, bias, xp.scale, out.scale)
        mult, shift = layer_multipliers(xp.scale, ws, out.scale)
        lo = hi = None
        act = activation_of(node.attrs)
        if act is not None:
            lo = out.quantize(0.0 if act[0] == "relu" else act[1]["min"])
            hi = None if act[0] == "relu" else out.quantize(act[1]["max"])
        hint = node.outputs[0]
        inputs = [x, self.b.const(quantize_weights(w, ws, 0), f"{hint}_wq"),
                  self.b.const(quantize_bias(bias, xp.scale, ws), f"{hint}_bq"),
                  self.b.const(mult, f"{hint}_mult"), self.b.const(shift, f"{hint}_shift")]
        attrs = {"x_zp": xp.zp, **self.out_attrs(out, lo, hi)}
        if node.op == "conv":
            attrs.update({k: node.attrs[k] for k in ("strides", "pads", "dilations", "groups")})
        self.emit_q(node, "qconv" if node.op == "conv" else "qdense", inputs, attrs, out)

    def binary(self, node: Node) -> None:
        a, c = (self.get_q(i) for i in node.inputs)
        pa, pc = self.params[a], self.params[c]
        clamp = self.fused_clamp.get(node.outputs[0])
        if clamp is not None and not self.kept_float(clamp):
            out = self.grid(clamp.outputs[0])
            lo, hi = self.clamp_bounds(clamp, out)
            self.absorbed.add(clamp.outputs[0])
            target = clamp.outputs[0]
        else:
            out, lo, hi, target = self.grid(node.outputs[0]), None, None, node.outputs[0]
        zps = {"a_zp": pa.zp, "b_zp": pc.zp}
        if node.op == "mul":
            mult, shift = quantize_multiplier(pa.scale * pc.scale / out.scale)
            attrs = {**zps, "mult": mult, "shift": shift, **self.out_attrs(out, lo, hi)}
            self.emit_q(node, "qmul", [a, c], attrs, out, target)
            return
        a_mult, b_mult, shift = add_multipliers(pa.scale, pc.scale, out.scale)
        if node.op == "sub":
            b_mult = -b_mult
        self.emit_q(node, "qadd", [a, c], {**zps, "a_mult": a_mult, "b_mult": b_mult, "shift": shift,
                                           **self.out_attrs(out, lo, hi)}, out, target)

    def concat(self, node: Node) -> None:
        out = self.grid(node.outputs[0])
        parts = []
        for value in node.inputs:
            q = self.get_q(value)
            p = self.params[q]
            if p != out:
                mult, shift = requantize_multiplier(p.scale, out.scale)
                q = self.b.op("requantize", [q], {"in_zp": p.zp, "mult": mult, "shift": shift, **self.out_attrs(out)},
                              outputs=[f"{value}_rq"])
                self.counts["requantize"] += 1
            parts.append(q)
        self.emit_q(node, "concat", parts, dict(node.attrs), out)

    def passthrough(self, node: Node) -> None:
        x = self.q_of[node.inputs[0]]
        p = self.params[x]
        attrs = dict(node.attrs)
        if node.op == "pad":
            attrs["value"] = float(p.zp)  # padding with real zero
        self.emit_q(node, node.op, [x] + [self.get_f(i) for i in node.inputs[1:]], attrs, p)

    def avg_pool(self, node: Node) -> None:
        x = self.q_of[node.inputs[0]]
        p = self.params[x]
        attrs = dict(node.attrs)
        if node.op == "global_avg_pool":
            attrs = {"kernel_shape": self.src.types[node.inputs[0]].shape[2:]}
        self.emit_q(node, "qavg_pool", [x], {**attrs, **self.out_attrs(p)}, p)

    @staticmethod
    def clamp_bounds(node: Node, p: Affine) -> tuple[int, int | None]:
        """A relu/clip node's bounds on grid ``p`` (act_min, act_max)."""
        lo = p.quantize(0.0 if node.op == "relu" else node.attrs["min"])
        hi = None if node.op == "relu" else p.quantize(node.attrs["max"])
        return lo, hi

    def clamp(self, node: Node) -> None:
        x = self.q_of[node.inputs[0]]
        p = self.params[x]
        lo, hi = self.clamp_bounds(node, p)
        self.emit_q(node, "requantize", [x], {"in_zp": p.zp, "mult": 1 << 30, "shift": 30,
                                              **self.out_attrs(p, lo, hi)}, p)

    def lut(self, node: Node) -> None:
        x = self.q_of[node.inputs[0]]
        p, out = self.params[x], self.grid(node.outputs[0])
        lo, hi = dtype_range(p.dtype)
        real = (np.arange(lo, hi + 1, dtype=np.float64) - p.zp) * p.scale
        opdef = get(node.op)
        y = opdef.reference([real.astype(np.float32)], opdef.full_attrs(node.attrs))[0].astype(np.float64)
        olo, ohi = dtype_range(out.dtype)
        table = np.clip(np.rint(y / out.scale) + out.zp, olo, ohi).astype(out.dtype)
        self.emit_q(node, "lut", [x, self.b.const(table, f"{node.outputs[0]}_table")], self.out_attrs(out), out)


def _fusable_clamps(graph: Graph) -> dict[str, Node]:
    """add/sub/mul outputs whose only use is one relu/clip (not graph outputs): value -> that clamp."""
    consumers = graph.consumers()
    fused = {}
    for node in graph.nodes:
        if node.op not in ("add", "sub", "mul") or node.outputs[0] in graph.outputs:
            continue
        users = consumers.get(node.outputs[0], [])
        if len(users) == 1 and users[0].op in CLAMPS and users[0].inputs[0] == node.outputs[0]:
            fused[node.outputs[0]] = users[0]
    return fused


def iter_layers(graph: Graph) -> Iterable[Node]:
    return (n for n in graph.nodes if n.op in ("qconv", "qdense"))
