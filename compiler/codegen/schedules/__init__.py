"""Scheduled CPU kernels for the Relax build: layouts, then one schedule per kernel family.

``cpu_pipeline(target)`` is TVM's default CPU pipeline with two passes added: the graph-level
layout choice (``layout.convert_layout``: NHWC kernels, packed weights) before legalization,
and, after operator fusion, ``schedule_module``, which gives each fused PrimFunc the schedule
of its main block's family:

- ``conv``: regular, grouped and depthwise convolution with their epilogues;
- ``dense``: dense / matmul with a constant weight;
- ``reduction``: pooling windows and spatial means;
- ``injective``: everything else (elementwise chains, concat, transpose, pad).

All tile sizes come from ``params.CpuParams``. A function whose schedule fails keeps TVM's
default loop nest (and is named in the module's ``edgec.unscheduled`` attribute), unless
``strict`` is set, as the tests do.
"""

from __future__ import annotations

import logging
import os

import tvm

from .common import Schedule, blocks, is_reduction, name
from .conv import conv_variants, depthwise_variants, schedule_conv, schedule_depthwise
from .dense import dense_variants, schedule_dense
from .injective import schedule_injective, schedule_loop_nest
from .kernels import CONV, DENSE, DEPTHWISE
from .knobs import DEFAULT, Knobs
from .params import CpuParams, cpu_params, with_host_cpu
from .qconv import qconv_variants, qdepthwise_variants, schedule_qconv, schedule_qdepthwise
from .qkernels import QCONV, QDEPTHWISE
from .reduction import schedule_reductions
from .winograd import WINO_GEMM, schedule_winograd, winograd_variants

__all__ = ["CpuParams", "Knobs", "apply_schedule", "cpu_params", "with_host_cpu", "schedule_primfunc", "schedule_module", "family",
           "variants"]

SCHEDULED = "tirx.is_scheduled"
FAMILY = "edgec.schedule"
STRICT_ENV = "EDGEC_SCHEDULE_STRICT"  # set to 1 to make a failing schedule an error (debugging)
log = logging.getLogger(__name__)


def family(func: tvm.tirx.PrimFunc) -> str:
    """Which schedule a fused function gets, from the names and kinds of its blocks."""
    sch = Schedule(func)
    names = {name(sch, b) for b in blocks(sch)}
    for block_name, kind in ((CONV, "conv"), (QCONV, "qconv"), (DEPTHWISE, "depthwise"), (QDEPTHWISE, "qdepthwise"), (DENSE, "dense"),
                            (WINO_GEMM, "winograd")):
        if block_name in names:
            return kind
    return "reduction" if any(is_reduction(sch, b) for b in blocks(sch)) else "injective"


def _schedule_reduction_func(sch: Schedule, params: CpuParams) -> None:
    schedule_reductions(sch, params)
    for block in blocks(sch):
        if not is_reduction(sch, block) and len(sch.get_loops(block)) == len(sch.get(block).iter_vars):
            schedule_loop_nest(sch, block, params)


SCHEDULES = {"conv": schedule_conv, "qconv": schedule_qconv, "qdepthwise": schedule_qdepthwise, "depthwise": schedule_depthwise, "dense": schedule_dense,
             "winograd": schedule_winograd, "reduction": _schedule_reduction_func, "injective": schedule_injective}


# The families with choices to tune (``knobs.py``), and the alternatives each lists.
VARIANTS = {"conv": conv_variants, "qconv": qconv_variants, "depthwise": depthwise_variants,
            "qdepthwise": qdepthwise_variants, "dense": dense_variants, "winograd": winograd_variants}


def apply_schedule(sch: Schedule, params: CpuParams, knobs: Knobs = DEFAULT) -> str:
    """Schedule the function of ``sch`` in place (``knobs``: other choices than the schedule's
    own, for the families of ``VARIANTS``); returns the family used."""
    kind = family(sch.mod["main"])
    if knobs != DEFAULT:
        SCHEDULES[kind](sch, params, knobs)
    else:
        SCHEDULES[kind](sch, params)
    return kind


def schedule_primfunc(func: tvm.tirx.PrimFunc, params: CpuParams, knobs: Knobs = DEFAULT) -> tvm.tirx.PrimFunc:
    """``func`` scheduled; its ``edgec.schedule`` attribute names the family used."""
    sch = Schedule(func)
    kind = apply_schedule(sch, params, knobs)
    return sch.mod["main"].with_attrs({SCHEDULED: True, FAMILY: kind})


def variants(func: tvm.tirx.PrimFunc, params: CpuParams) -> list[Knobs]:
    """The schedule choices worth measuring for ``func`` (none for families without choices);
    one of them may schedule ``func`` as the defaults do."""
    tunable = VARIANTS.get(family(func))
    return tunable(Schedule(func), params) if tunable else []


def schedule_module(mod: tvm.IRModule, params: CpuParams, strict: bool = False) -> tvm.IRModule:
    """Schedule every PrimFunc of ``mod`` that is not scheduled yet."""
    strict = strict or os.environ.get(STRICT_ENV, "") not in ("", "0")
    updates, failed = {}, []
    for gv, func in mod.functions.items():
        if not isinstance(func, tvm.tirx.PrimFunc) or (func.attrs and func.attrs.get(SCHEDULED, False)):
            continue
        try:
            updates[gv] = schedule_primfunc(func, params)
        except Exception as err:  # noqa: BLE001 - a schedule bug must not stop the build
            if strict:
                raise RuntimeError(f"scheduling {gv.name_hint} ({family(func)}) failed: {err}") from err
            log.debug("scheduling %s failed, it keeps the default loop nest: %s", gv.name_hint, err)
            failed.append(gv.name_hint)
    for gv, func in updates.items():
        mod[gv] = func
    if failed:
        mod = mod.with_attr("edgec.unscheduled", failed)
    return mod
