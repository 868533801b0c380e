"""TIR kernels as plain C99 functions with raw-pointer arguments.

TVM 0.27 has no unpacked calling convention and no C runtime: every function it emits takes
packed ``TVMFFIAny`` arguments and checks them. Here each fused PrimFunc is first scheduled so
that it needs no per-stage scratch buffers (elementwise stages inlined, a reduction computed
where its single consumer needs it), then lowered with TVM's S-TIR passes up to the point where
``MakePackedAPI`` would run; in its place ``raw_pointer_api`` turns every buffer parameter into a
``T*`` pointer. The C target then prints ``void kernel(int8_t* x, const ...)`` functions whose only
outside dependencies are libm and the two workspace functions of ``runtime/c/edgec_runtime.c``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import tvm
from tvm import s_tir, tirx

from ...errors import LoweringError, last_line
from ..schedules.common import blocks, is_reduction, try_inline

PIPELINE_NAME = "edgec_aot"
# TVM's C prologue (FFI headers, library context, DLL export macro) that the device does not have.
_PROLOGUE = re.compile(r'^(#define TVM_EXPORTS|#include "tvm/.*"|void\* __tvm_ffi__library_ctx = NULL;)\n',
                       re.MULTILINE)
_EXTERN_C = re.compile(r'#ifdef __cplusplus\nextern "C"\n#endif\n')
_LIBM_DECL = re.compile(r"^TVM_DLL \w+ (\w+f?)\((float|double)(, (float|double))*\);\n", re.MULTILINE)
_WORKSPACE = re.compile(r"TVMBackendAllocWorkspace\(\s*\d+,\s*[^,]+,\s*\(uint64_t\)\s*(\d+)")
_ENTRY = re.compile(r"^// CodegenC: NOTE: Auto-generated entry function\n.*?\n}\n", re.MULTILINE | re.DOTALL)
WORKSPACE_ALIGN = 16  # the runtime's stack allocator rounds every request up to this


@dataclass
class Kernels:
    """The C source of all kernels, their prototypes, and each kernel's scratch need in bytes."""

    source: str
    prototypes: dict[str, str]
    workspace: dict[str, int]


def _reads_pointwise(sch: s_tir.Schedule, producer, consumer) -> bool:
    """Does each iteration of ``consumer`` read its own element of ``producer``'s output? (Every
    spatial iterator of the consumer appears in the indices.) Then computing the producer inside
    the consumer's loops recomputes nothing; a softmax's row sum, read by every element of the
    row, fails the test and stays a buffer."""
    written = {region.source.name for region in sch.get(producer).writes}
    block = sch.get(consumer)
    used: set[str] = set()
    for region in block.reads:
        if region.source.name in written:
            for rng in region.region:
                used.update(v.name for v in tirx.analysis.undefined_vars(rng.min))
    return all(iv.var.name in used for iv in block.iter_vars
               if iv.iter_type == tirx.IterVar.DataPar and int(iv.dom.extent) > 1)


def inline_stages(func: tirx.PrimFunc) -> tirx.PrimFunc:
    """Inline elementwise stages into their consumers and producers, then compute every reduction
    whose single consumer writes as many elements at that consumer's innermost loop: a conv's
    int32 accumulator becomes one local variable instead of a whole scratch tensor."""
    sch = s_tir.Schedule(tvm.IRModule({"main": func}))
    changed = True
    while changed:
        changed = False
        for block in reversed(blocks(sch)):
            if not is_reduction(sch, block) and try_inline(sch, block):
                changed = True
    for block in blocks(sch):
        if not is_reduction(sch, block):
            try:
                sch.reverse_compute_inline(block)
            except s_tir.ScheduleError:
                pass
    for block in blocks(sch):
        if not is_reduction(sch, block):
            continue
        consumers = sch.get_consumers(block)
        depth = 0
        if len(consumers) == 1 and _reads_pointwise(sch, block, consumers[0]):
            try:
                depth = len(sch.get_loops(consumers[0]))
                sch.compute_at(block, sch.get_loops(consumers[0])[-1])
            except s_tir.ScheduleError:
                depth = 0  # stays a scratch buffer: planned as the kernel's workspace
        _initialize_before_loop(sch, block, depth)
    return sch.mod["main"]


def _initialize_before_loop(sch: s_tir.Schedule, block, depth: int) -> None:
    """Move a reduction's initialization out of its loops (``acc = 0; for ...: acc += ...``):
    no branch per iteration, and no maybe-uninitialized warning from gcc."""
    loops = sch.get_loops(block)
    if depth < len(loops):
        try:
            sch.decompose_reduction(block, loops[depth])
        except s_tir.ScheduleError:
            pass


def pointer_params(func: tirx.PrimFunc) -> tuple[list, list]:
    """``func``'s parameters with every buffer one replaced by a ``T*`` pointer, and the
    ``DeclBuffer`` statements that declare each buffer over its pointer."""
    params, decls = [], []
    for param in func.params:
        if isinstance(param.ty, tirx.buffer.BufferType):
            pointer = tirx.Var(param.name, tvm.ir.PointerType(param.ty.dtype))
            decls.append(tirx.DeclBuffer(param, data=pointer))
            params.append(pointer)
        else:
            params.append(param)
    return params, decls


def on_cpu(body: tirx.Stmt) -> tirx.Stmt:
    """``body`` with what MakePackedAPI would say of it: the device its scratch allocations are
    for (CPU 0)."""
    for key, value in (("device_id", 0), ("device_type", 1)):
        body = tirx.AttrStmt(tvm.ir.expr.StringImm("default"), key, tirx.IntImm("int32", value), body)
    return body


@tvm.transform.module_pass(opt_level=0, name="edgec.RawPointerAPI")
def raw_pointer_api(mod: tvm.IRModule, _ctx) -> tvm.IRModule:
    """Buffer parameters -> ``T*`` pointer parameters with the buffer declared over them: the
    unpacked calling convention TVM 0.27 lacks."""
    functions = {}
    for gv, func in mod.functions.items():
        if isinstance(func, tirx.PrimFunc):
            params, decls = pointer_params(func)
            func = tirx.PrimFunc(params, on_cpu(tirx.SeqStmt(decls + [func.body])), func.ret_type, func.attrs)
        functions[gv] = func
    return tvm.IRModule(functions)


def _aot_pipeline():
    """TVM's S-TIR lowering for a CPU without threads or vectors, ending in ``raw_pointer_api``
    where the default pipeline has ``MakePackedAPI``."""
    from tvm.s_tir.pipeline import finalize_device_passes, finalize_host_passes

    passes = [
        s_tir.transform.CanonicalizeLoop(),
        s_tir.transform.LowerInitBlock(),
        s_tir.transform.PlanAndUpdateBufferAllocationLocation(),
        s_tir.transform.ConvertBlocksToOpaque(),
        s_tir.transform.CompactBufferAllocation(),
        s_tir.transform.LowerMatchBuffer(),
        s_tir.transform.StmtSimplify(),
        s_tir.transform.LowerOpaqueBlock(),
        tirx.transform.FlattenBuffer(),
        tirx.transform.NarrowDataType(32),
        s_tir.transform.LoopPartition(),
        tirx.transform.VectorizeLoop(False),
        tirx.transform.StorageRewrite(),
        s_tir.transform.HoistIfThenElse(),
        tirx.transform.UnrollLoop(),
        s_tir.transform.RenormalizeSplitPattern(),
        tirx.transform.StmtSimplify(),
        tirx.transform.RemoveNoOp(),
        s_tir.transform.RewriteUnsafeSelect(),
        tirx.transform.CommonSubexprElim(),
        tirx.transform.VerifyMemory(),
        raw_pointer_api,
    ]
    return tvm.transform.Sequential(passes), finalize_host_passes, finalize_device_passes


tvm.tirx.compilation_pipeline.register_tir_pipeline(PIPELINE_NAME, _aot_pipeline)


def build_kernels(funcs: dict[str, tirx.PrimFunc]) -> Kernels:
    """C source for ``funcs`` (name -> PrimFunc, names become the C symbols)."""
    prepared = {}
    for symbol, func in funcs.items():
        try:
            func = inline_stages(func)
        except Exception as err:  # a schedule error leaves the function as it was
            raise LoweringError(f"kernel '{symbol}': scheduling for C failed: {last_line(err)}") from err
        # calling_conv 1 tells MakePackedAPI-aware passes that the function is already lowered
        prepared[symbol] = func.with_attr("global_symbol", symbol).with_attr("calling_conv", 1)
    try:
        with tvm.transform.PassContext(config={"tirx.disable_assert": True}):
            lib = tvm.tirx.build(tvm.IRModule(prepared), target=tvm.target.Target({"kind": "c"}),
                                 pipeline=PIPELINE_NAME)
    except Exception as err:
        raise LoweringError(f"TVM could not generate C for the kernels: {last_line(err)}") from err
    return _clean(lib.inspect_source(), list(funcs))


def _clean(source: str, symbols: list[str]) -> Kernels:
    """TVM's C without its runtime prologue; prototypes and workspace needs per kernel."""
    source = _EXTERN_C.sub("", _PROLOGUE.sub("", source))
    source = _LIBM_DECL.sub("", source)  # math.h declares these
    source = re.sub(r"^// tvm target:.*\n", "", source, flags=re.MULTILINE)
    source = _ENTRY.sub("", source)  # model.c is the entry point, not a packed main
    source = source.replace("TVM_DLL ", "")
    # kernels return void; TVM's failed-allocation exit says "return -1" (the runtime has already
    # recorded the failure, which edgec_model_run reports as EDGEC_ERROR_WORKSPACE)
    source = source.replace("return -1;", "return;")
    prototypes, workspace = {}, {}
    for symbol in symbols:
        match = re.search(rf"^void {re.escape(symbol)}\(([^)]*)\);$", source, re.MULTILINE)
        if match is None:
            raise LoweringError(f"kernel '{symbol}' is missing from TVM's C output")
        prototypes[symbol] = match.group(0)
        workspace[symbol] = _workspace_bytes(_body(source, symbol))
    return Kernels(source, prototypes, workspace)


def _body(source: str, symbol: str) -> str:
    start = source.find(f"void {symbol}(", source.find(f"void {symbol}(") + 1)  # the definition
    end = source.find("\n}\n", start)
    return source[start:end]


def _workspace_bytes(body: str) -> int:
    """Scratch a kernel asks of ``TVMBackendAllocWorkspace`` (all live at once, at worst)."""
    return sum(-(-int(n) // WORKSPACE_ALIGN) * WORKSPACE_ALIGN for n in _WORKSPACE.findall(body))
