"""A CPU model as one TIR entry function that calls its kernels directly: no VM in between.

TVM's Relax VM interprets ``main``: for every kernel call it looks the function up, packs the
arguments and allocates the output tensor. For a small model that costs as much as the kernels
(digits CNN: 8.6 us per call, 5.6 us of it kernels). Here the scheduled kernels of the VM build
become private TIR subroutines that take raw pointers, and one exported function

    edgec_main(input..., output..., params: uint8[P], arena: uint8[A])

calls them in the order of ``main``. The weights are one blob (``params.bin``, each tensor at a
64-byte aligned offset), every intermediate tensor has its place in one arena planned by the AOT
memory planner (``aot.memory_plan``), and inputs and outputs are the caller's tensors, checked by
TVM's packed-function prologue. A model is then one packed call; the kernels still use TVM's
thread pool. TVM's own AOT executor did this and is gone from 0.27.

Models whose ``main`` is not a straight line of kernel calls on static shapes (or that return an
input or a weight unchanged) raise ``LoweringError``; the build then keeps the VM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tvm
from tvm import tirx

from ..errors import LoweringError
from ..ir.graph import Graph
from .aot.compile import plan_program
from .aot.kernels import on_cpu, pointer_params
from .aot.program import CONST, INPUT, OUTPUT, Program, read_program
from .stack_scratch import cpu_tir_pipeline

ENTRY = "edgec_main"
PARAMS_FILE = "params.bin"
ALIGN = 64  # TVM's tensors and the runtime's staged buffers are 64-byte aligned
PIPELINE_NAME = "edgec_direct"


@dataclass
class DirectModule:
    """The TIR module to build, the weights blob it reads, and the arena size it needs."""

    module: tvm.IRModule
    params: np.ndarray       # uint8, the ``params`` argument
    arena_bytes: int         # size of the ``arena`` argument
    kernel_calls: int


def _aligned(size: int) -> int:
    return -(-size // ALIGN) * ALIGN


def pack_params(program: Program) -> tuple[np.ndarray, dict[str, int]]:
    """Every constant of ``program`` in one byte blob; the offset of each."""
    offsets, size = {}, 0
    for name, tensor in program.tensors.items():
        if tensor.kind == CONST:
            offsets[name], size = size, size + _aligned(tensor.nbytes)
    blob = np.zeros(max(size, ALIGN), np.uint8)
    for name, offset in offsets.items():
        data = np.ascontiguousarray(program.tensors[name].data).reshape(-1).view(np.uint8)
        blob[offset:offset + data.size] = data
    return blob, offsets


def subroutine(func: tirx.PrimFunc) -> tirx.PrimFunc:
    """``func`` as a private function of pointer parameters returning int32 (0, or -1 where a
    workspace allocation or a parallel launch failed), which ``edgec_main`` calls directly."""
    for param in func.params:
        if not isinstance(param.ty, tirx.buffer.BufferType):
            raise LoweringError(f"kernel parameter '{param.name}' is not a tensor")
    params, decls = pointer_params(func)
    attrs = {k: v for k, v in (func.attrs or {}).items() if k != "global_symbol"}
    return tirx.PrimFunc(params, tirx.SeqStmt(decls + [func.body]), tvm.ir.PrimType("int32"),
                         tvm.ir.make_node("ir.DictAttrs", **attrs))


def _entry(program: Program, symbols: dict[str, tvm.ir.GlobalVar], params: dict[str, int], arena: dict[str, int],
           params_bytes: int, arena_bytes: int) -> tirx.PrimFunc:
    caller = [n for n, t in program.tensors.items() if t.kind == INPUT] + program.outputs
    buffers = {n: tirx.decl_buffer(program.tensors[n].shape, program.tensors[n].dtype, name=n) for n in caller}
    blob = tirx.decl_buffer((params_bytes,), "uint8", name="params")
    scratch = tirx.decl_buffer((arena_bytes,), "uint8", name="arena")

    def pointer(name: str):
        kind = program.tensors[name].kind
        if kind in (INPUT, OUTPUT):
            return buffers[name].data
        base, offset = (blob, params[name]) if kind == CONST else (scratch, arena[name])
        return tirx.address_of(tirx.BufferLoad(base, [offset]))

    calls = []
    for step in program.steps:
        call = tvm.ir.expr.Call(symbols[step.kernel], [pointer(a) for a in step.args], ret_ty="int32")
        # TVM's Python AssertStmt passes (kind, condition) where its constructor takes (condition, kind)
        calls.append(tirx.AssertStmt(call == 0, tvm.ir.expr.StringImm("RuntimeError"),
                                     [tvm.ir.expr.StringImm(f"edgec: kernel {step.kernel} failed")]))
    return tirx.PrimFunc([buffers[n] for n in caller] + [blob, scratch], tirx.SeqStmt(calls), None,
                         tvm.ir.make_node("ir.DictAttrs", global_symbol=ENTRY))


def direct_module(scheduled: tvm.IRModule, graph: Graph) -> DirectModule:
    """``scheduled`` (Relax ``main`` calling scheduled PrimFuncs, ``kernel_passes``' output) as a
    module of subroutines and the ``edgec_main`` entry."""
    program = read_program(scheduled, graph)
    if program.copies:
        raise LoweringError(f"outputs {[out for out, _ in program.copies]} are inputs, weights or repeated outputs")
    if not program.steps:
        raise LoweringError("the model has no kernel to run")
    # no reshape in place: the subroutines' pointers are noalias, as the VM's kernels' are
    plan, _, _ = plan_program(program, {}, ALIGN, share_reshapes=False)
    blob, params = pack_params(program)
    arena_bytes = max(plan.arena_bytes, ALIGN)
    symbols = {symbol: tvm.ir.GlobalVar(symbol) for symbol in program.kernels}
    functions = {symbols[s]: subroutine(f) for s, f in program.kernels.items()}
    functions[tvm.ir.GlobalVar(ENTRY)] = _entry(program, symbols, params, plan.offsets, blob.size, arena_bytes)
    return DirectModule(tvm.IRModule(functions), blob, arena_bytes, len(program.steps))


@tvm.transform.module_pass(opt_level=0, name="edgec.SubroutineFrame")
def subroutine_frame(mod: tvm.IRModule, _ctx) -> tvm.IRModule:
    """What ``MakePackedAPI`` gives an exported function, for the private ones: the device their
    scratch allocations are for (CPU 0), and ``return 0`` after the body, outside every
    allocation so that the workspace frees before it still run."""
    functions = {}
    for gv, func in mod.functions.items():
        if isinstance(func, tirx.PrimFunc) and "global_symbol" not in (func.attrs or {}):
            func = func.with_body(tirx.SeqStmt([on_cpu(func.body), tirx.Return(tirx.IntImm("int32", 0))]))
        functions[gv] = func
    return tvm.IRModule(functions)


tvm.tirx.compilation_pipeline.register_tir_pipeline(PIPELINE_NAME, lambda: cpu_tir_pipeline(subroutine_frame))


def build_direct(direct: DirectModule, target: tvm.target.Target):
    """The executable (as ``tvm.compile`` returns) whose library exports ``edgec_main``.

    Without type-based alias analysis: TVM tags every load and store with its buffer, which says
    that two buffers never overlap. True within one kernel; but LLVM inlines the kernels into
    ``edgec_main``, where one arena slot is a kernel's output and, later, another kernel's input.
    With the tags on, LLVM moved accesses across kernels (the MLPerf Tiny int8 autoencoder came
    out wrong); the kernels' ``noalias`` pointers still tell it what it may reorder within one."""
    config = dict(target.export())
    config["cl-opt"] = [*config.get("cl-opt", []), "-enable-tbaa=0"]
    return tvm.compile(direct.module, target=tvm.target.Target(config), tir_pipeline=PIPELINE_NAME)
