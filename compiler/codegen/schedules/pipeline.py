"""The Relax pipeline edgec builds CPU code with: TVM's default CPU pipeline plus the layout
pass before legalization and the schedule pass after fusion."""

from __future__ import annotations

import tvm
from tvm import relax
from tvm.relax.backend.cpu_generic import pipeline as cpu_generic

from ..narrow_constants import narrow_constants_pass
from ..stack_scratch import CPU_PIPELINE
from . import schedule_module
from .layout import convert_layout
from .params import cpu_params, with_host_cpu


def _module_pass(fn, pass_name: str):
    return tvm.transform.module_pass(lambda mod, _ctx: fn(mod), opt_level=0, name=pass_name)


def fusion_passes(target: tvm.target.Target) -> list:
    """Dispatch, layout, legalize + fuse: the unscheduled fused kernels. Tuning (``codegen.tuning``)
    starts from these same functions, so tuned and untuned builds share layouts and fusion."""
    params = cpu_params(target)
    layout = _module_pass(lambda mod: convert_layout(mod, params), "edgec.ConvertLayout")
    legalize = cpu_generic.legalize_passes(target)  # ..., FoldConstant, FuseOps, FuseTIR
    fold = next(i for i, p in enumerate(legalize) if p.info.name == "FoldConstant")
    narrow = [narrow_constants_pass(("int64", "uint64")),  # requantize constants: widening loads
              relax.transform.LegalizeOps(), relax.transform.AnnotateTIROpPattern()]  # the casts it adds
    return cpu_generic.library_dispatch_passes(target) + [layout] + legalize[:fold + 1] + narrow + legalize[fold + 1:]


def kernel_passes(target: tvm.target.Target, strict: bool = False, tuned=None) -> list:
    """``fusion_passes``, then schedule: the passes that make the kernels. ``tuned`` (a pass that
    applies a tuning database) runs in between; the functions it schedules keep their tuned code."""
    params = cpu_params(target)
    scheduler = _module_pass(lambda mod: schedule_module(mod, params, strict), "edgec.Schedule")
    return fusion_passes(target) + ([tuned] if tuned is not None else []) + [scheduler]


def scheduled_kernels(mod: tvm.IRModule, target: tvm.target.Target, strict: bool = False) -> tvm.IRModule:
    """``mod`` after ``kernel_passes``: Relax ``main`` calling the scheduled PrimFuncs."""
    with target:
        return tvm.transform.Sequential(kernel_passes(target, strict))(mod)


def cpu_pipeline(target: tvm.target.Target, schedule: bool = True, strict: bool = False, tuned=None):
    """The pipeline for ``tvm.compile(..., relax_pipeline=...)``; ``schedule=False`` gives TVM's
    default (unscheduled, single-threaded loops); ``tuned`` as for ``kernel_passes``."""
    if not schedule or target.kind.name != "llvm":
        return relax.get_default_pipeline(target)

    @tvm.transform.module_pass(opt_level=0, name="edgec.CpuPipeline")
    def _pipeline(mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        with target:
            passes = (kernel_passes(target, strict, tuned) + cpu_generic.dataflow_lower_passes(target)
                      + cpu_generic.finalize_passes(target))
            return tvm.transform.Sequential(passes)(mod)

    return _pipeline


def compile_module(mod: tvm.IRModule, target: tvm.target.Target, schedule: bool = True, strict: bool = False,
                   tuned=None):
    """``tvm.compile`` with edgec's pipeline. Scheduled LLVM code for this machine names the host
    CPU, so that LLVM emits the vector width the schedules were tiled for. ``tuned``: a pass that
    applies a tuning database (``codegen.tuning``); it reads the target from the pass context."""
    if schedule and target.kind.name == "llvm":
        target = with_host_cpu(target)
    tir_pipeline = CPU_PIPELINE if schedule and target.kind.name == "llvm" else "default"
    return tvm.compile(mod, target=target, relax_pipeline=cpu_pipeline(target, schedule, strict, tuned),
                       tir_pipeline=tir_pipeline)


def compile_direct(mod: tvm.IRModule, graph, target: tvm.target.Target, tuned=None):
    """The scheduled kernels of ``compile_module`` behind the direct entry (``codegen/direct.py``)
    instead of the VM: the runtime module and its ``DirectModule`` (weights, arena size)."""
    from ..direct import build_direct, direct_module

    target = with_host_cpu(target)
    with target:
        scheduled = tvm.transform.Sequential(kernel_passes(target, tuned=tuned))(mod)
    direct = direct_module(scheduled, graph)
    return build_direct(direct, target), direct
