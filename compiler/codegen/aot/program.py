"""The straight-line program of an AOT model: which kernel runs at each step, on which tensors.

edgec's Relax module is legalized and fused exactly as for the VM build (TVM's "zero"
pipeline); its ``main`` is then a dataflow block of ``call_tir`` bindings, which is read here
into ``Step``s over named ``Tensor``s: model inputs and outputs (caller memory), constants
(flash) and intermediates (the arena).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import tvm
from tvm import relax, tirx

from ...errors import LoweringError
from ...ir.graph import Graph

INPUT, OUTPUT, CONST, TEMP = "input", "output", "const", "temp"


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    kind: str = TEMP
    data: np.ndarray | None = None  # constants only

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass
class Step:
    kernel: str            # C symbol
    args: list[str]        # tensor names, inputs then outputs (the kernel's parameter order)
    outputs: list[str]


@dataclass
class Program:
    tensors: dict[str, Tensor]
    steps: list[Step]
    kernels: dict[str, tirx.PrimFunc]                 # C symbol -> PrimFunc
    outputs: list[str]                                # tensor holding each model output, in order
    origin: dict[str, str] = field(default_factory=dict)  # C symbol -> TVM PrimFunc name
    copies: list[tuple[str, str]] = field(default_factory=list)  # (model output, tensor) to copy at the end


def fused_module(mod: tvm.IRModule) -> tvm.IRModule:
    """TVM's "zero" pipeline (legalize, fuse) plus two memory passes: ``narrow_constants`` before
    FuseOps (int64 constants stored narrow) and ``regroup_for_memory`` between FuseOps and FuseTIR
    (pads and widening casts travel with the kernel that reads them)."""
    from ..narrow_constants import narrow_constants_pass
    from .regroup import regroup_for_memory

    t = relax.transform
    return tvm.transform.Sequential([t.LegalizeOps(), t.AnnotateTIROpPattern(), t.FoldConstant(), narrow_constants_pass(),
                                     t.LegalizeOps(), t.AnnotateTIROpPattern(), t.FuseOps(), regroup_for_memory,
                                     t.FuseTIR()])(mod)


def _shape_of(ty, where: str) -> tuple[tuple[int, ...], str]:
    if not isinstance(ty, relax.TensorType) or ty.shape is None:
        raise LoweringError(f"'{where}': the C backend needs tensors of static shape, got {ty}")
    try:
        return tuple(int(d) for d in ty.shape.values), str(ty.dtype)
    except (TypeError, AttributeError):
        raise LoweringError(f"'{where}': the C backend needs a static shape, got {ty}") from None


class _Reader:
    """Walks ``main``'s bindings, naming every tensor and recording the kernel calls."""

    def __init__(self, mod: tvm.IRModule, graph: Graph) -> None:
        self.mod, self.graph = mod, graph
        self.tensors: dict[str, Tensor] = {}
        self.env: dict = {}
        self.consts: list = []  # (relax constant, tensor name)
        self.steps: list[Step] = []
        self.kernels: dict[str, tirx.PrimFunc] = {}
        self.symbols: dict[str, str] = {}

    def add(self, name: str, ty, kind: str = TEMP, data: np.ndarray | None = None,
            like: Tensor | None = None) -> str:
        """A new tensor typed by ``ty`` (Relax), ``data`` (a constant) or ``like`` (same shape, dtype)."""
        base, n = name, 1
        while name in self.tensors:
            name, n = f"{base}_{n}", n + 1
        if like is not None:
            shape, dtype = like.shape, like.dtype
        else:
            shape, dtype = _shape_of(ty, base) if data is None else (tuple(data.shape), str(data.dtype))
        self.tensors[name] = Tensor(name, shape, dtype, kind, data)
        return name

    def const(self, expr) -> str:
        for seen, name in self.consts:
            if seen.same_as(expr):
                return name
        name = self.add(f"c{len(self.consts)}", None, CONST, expr.value.numpy())
        self.consts.append((expr, name))
        return name

    def value(self, expr):
        if isinstance(expr, tvm.ir.expr.Constant):
            return self.const(expr)
        if isinstance(expr, relax.Tuple):
            return [self.value(f) for f in expr.fields]
        if isinstance(expr, relax.TupleGetItem):
            return self.value(expr.tuple_value)[expr.index]
        if expr in self.env:
            return self.env[expr]
        raise LoweringError(f"the C backend cannot handle {type(expr).__name__} '{expr}' in the lowered model")

    def kernel(self, gv) -> str:
        """A short, unique C symbol per PrimFunc: edgec_k<N>_<first op>."""
        if gv.name_hint not in self.symbols:
            stem = gv.name_hint.removeprefix("fused_").split("_")[0]
            symbol = f"edgec_k{len(self.symbols)}_{stem}"
            self.symbols[gv.name_hint] = symbol
            self.kernels[symbol] = self.mod[gv]
        return self.symbols[gv.name_hint]

    def node_of(self, relax_name: str) -> str:
        """The IR node whose output became ``relax_name``, for error messages."""
        from ..lower import relax_var_name

        for node in getattr(self.graph, "nodes", []):
            if any(relax_var_name(o) == relax_name for o in node.outputs):
                return f"node {node.label}"
        return f"producing '{relax_name}'"

    def binding(self, var, value) -> None:
        where = var.name
        if isinstance(value, relax.Call) and getattr(value.op, "name", "") == "relax.call_tir":
            args = [self.value(a) for a in value.args[1].fields]
            if isinstance(var.ty, relax.TupleType):
                outs = [self.add(f"{where}_{i}", ty) for i, ty in enumerate(var.ty.fields)]
                self.env[var] = outs
            else:
                outs = [self.add(where, var.ty)]
                self.env[var] = outs[0]
            self.steps.append(Step(self.kernel(value.args[0]), list(args) + outs, outs))
        elif isinstance(value, relax.Call):
            op = getattr(value.op, "name", value.op)
            raise LoweringError(f"the C backend cannot lower '{op}' ({self.node_of(where)}): it has no "
                                "TIR kernel for it")
        else:
            self.env[var] = self.value(value)


def read_program(mod: tvm.IRModule, graph: Graph) -> Program:
    """``mod`` after ``fused_module`` -> the kernel calls of its ``main``, in order."""
    main = mod["main"]
    reader = _Reader(mod, graph)
    for param, name in zip(main.params, graph.inputs):
        reader.env[param] = reader.add(name, param.ty, INPUT)
    for block in main.body.blocks:
        for binding in block.bindings:
            reader.binding(binding.var, binding.value)
    results = reader.value(main.body.body)
    results = results if isinstance(results, list) else [results]
    return _bind_outputs(reader, graph, results)


def _bind_outputs(reader: _Reader, graph: Graph, results: list[str]) -> Program:
    """Make each model output a caller tensor: the kernel that computes it writes there directly,
    unless the value is also a model input, a constant or another output (then it is copied)."""
    tensors, outputs, copies = reader.tensors, [], []
    renamed: dict[str, str] = {}
    for name, tensor_name in zip(graph.outputs, results):
        tensor = tensors[tensor_name]
        if tensor.kind == TEMP and tensor_name not in renamed:
            tensor.kind = OUTPUT
            renamed[tensor_name] = name
            outputs.append(tensor_name)
        else:
            out = reader.add(f"out_{name}", None, OUTPUT, like=tensor)
            copies.append((out, tensor_name))
            outputs.append(out)
    origin = {symbol: name for name, symbol in reader.symbols.items()}
    return Program(tensors, reader.steps, reader.kernels, outputs, origin, copies)
