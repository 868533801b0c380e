"""Small kernel scratch on the stack instead of TVM's workspace pool.

TVM 0.27's ``LowerTVMBuiltin`` turns every ``global`` allocation of 1 KiB or more (a register
tile of 8 x 2 vectors, a convolution's padded input) and every ``local`` one (MetaSchedule's
register tiles) into a ``TVMBackendAllocWorkspace`` and ``TVMBackendFreeWorkspace`` pair: a
locked pool lookup per kernel call and per allocation. For small models that is a tenth of the
kernel time (digits CNN, int8: 7% of all samples in ``perf``, against 49% in the kernels).
Allocations of static size up to ``STACK_BYTES`` get TVM's ``disable_lower_builtin`` annotation
instead, as TVM leaves its own small ``global`` ones: LLVM makes them stack slots (in a parallel
loop, on the worker thread's stack), which it can promote to registers. edgec's schedules put
their tiles in ``global`` scope (``schedules.common.SCRATCH``).
"""

from __future__ import annotations

import math

import tvm
from tvm import tirx

STACK_BYTES = 16 * 1024  # per allocation; TVM's threads have the default 8 MiB stacks
DISABLE_LOWER_BUILTIN = "disable_lower_builtin"  # TVM's transform::kDisableLowerTVMBuiltin


def _static_bytes(buffer) -> int | None:
    try:
        elements = math.prod(int(d) for d in buffer.shape)
    except TypeError:  # a symbolic extent
        return None
    dtype = tvm.DataType(str(buffer.dtype))
    return elements * dtype.bits * dtype.lanes // 8


def _on_stack(stmt):
    """``stmt`` with its small allocations annotated; the same object where nothing changed."""
    if isinstance(stmt, tirx.SeqStmt):
        seq = [_on_stack(s) for s in stmt.seq]
        return stmt if all(a.same_as(b) for a, b in zip(seq, stmt.seq)) else tirx.SeqStmt(seq, stmt.span)
    if isinstance(stmt, tirx.AllocBuffer):
        size = _static_bytes(stmt.buffer)
        if size is not None and 0 < size <= STACK_BYTES and stmt.buffer.scope() in ("global", "local"):
            return tirx.AllocBuffer(stmt.buffer, {DISABLE_LOWER_BUILTIN: tirx.IntImm("bool", 1)}, stmt.span)
        return stmt
    if isinstance(stmt, tirx.IfThenElse):
        then, other = _on_stack(stmt.then_case), stmt.else_case and _on_stack(stmt.else_case)
        if then.same_as(stmt.then_case) and (other is None or other.same_as(stmt.else_case)):
            return stmt
        return tirx.IfThenElse(stmt.condition, then, other, stmt.span)
    body = getattr(stmt, "body", None)
    if not isinstance(body, tirx.Stmt):
        return stmt
    new = _on_stack(body)
    if new.same_as(body):
        return stmt
    if isinstance(stmt, tirx.For):
        return tirx.For(stmt.loop_var, stmt.min, stmt.extent, stmt.kind, new, stmt.thread_binding, stmt.annotations,
                        stmt.step, stmt.span)
    if isinstance(stmt, tirx.AttrStmt):
        return tirx.AttrStmt(stmt.node, stmt.attr_key, stmt.value, new, stmt.span)
    if isinstance(stmt, tirx.While):
        return tirx.While(stmt.condition, new, stmt.span)
    return stmt  # a statement kind this pass does not know: left as TVM would lower it


@tvm.transform.module_pass(opt_level=0, name="edgec.StackScratch")
def stack_scratch(mod: tvm.IRModule, _ctx) -> tvm.IRModule:
    """Run before ``LowerTVMBuiltin``: small static allocations become stack slots."""
    functions = {}
    for gv, func in mod.functions.items():
        if isinstance(func, tirx.PrimFunc):
            body = _on_stack(func.body)
            func = func if body.same_as(func.body) else func.with_body(body)
        functions[gv] = func
    return tvm.IRModule(functions, attrs=mod.attrs)


def cpu_tir_pipeline(*before_host: tvm.transform.Pass):
    """TVM's default TIR pipeline with ``before_host`` and ``stack_scratch`` ahead of the host
    finalization (``LowerTVMBuiltin``): the triple ``register_tir_pipeline`` takes."""
    from tvm.s_tir.pipeline import default_s_tir_pipeline

    lower, finalize_host, finalize_device = default_s_tir_pipeline()
    return lower, lambda: tvm.transform.Sequential([*before_host, stack_scratch, finalize_host()]), finalize_device


CPU_PIPELINE = "edgec_cpu"
tvm.tirx.compilation_pipeline.register_tir_pipeline(CPU_PIPELINE, cpu_tir_pipeline)
