"""edgec's own schedules with their other choices (``schedules/knobs.py``), measured as records.

MetaSchedule's search starts from generic rules; it does not know edgec's micro-kernels. So
before it runs, each kernel's family lists its next-best register tiles and loop orders, and the
tuner measures those schedules like any candidate and commits them to the same database, with
their traces: the compile side applies a variant exactly as it applies a searched schedule, and
whichever is fastest wins. Variants take up to a quarter of the kernel's trials; MetaSchedule's
search has the rest.
"""

from __future__ import annotations

import tvm
from tvm import s_tir
from tvm.s_tir import meta_schedule as ms
from tvm_ffi import structural_hash

from ..schedules import CpuParams, apply_schedule, variants
from .database import TuningDatabase
from .search import Tuner

SHARE = 4  # variants get at most 1/SHARE of a kernel's trials


def variant_schedules(workload: tvm.IRModule, params: CpuParams) -> list[s_tir.Schedule]:
    """The distinct schedules of the family's variants, without the one edgec uses already."""
    default = s_tir.Schedule(workload)
    apply_schedule(default, params)
    seen = {structural_hash(default.mod)}
    out = []
    for knobs in variants(workload["main"], params):
        sch = s_tir.Schedule(workload)
        try:
            apply_schedule(sch, params, knobs)
        except s_tir.ScheduleError:  # a choice this kernel's loops do not allow
            continue
        key = structural_hash(sch.mod)
        if key not in seen:
            seen.add(key)
            out.append(sch)
    return out


def measure_variants(tuner: Tuner, db: TuningDatabase, workload: tvm.IRModule, params: CpuParams,
                     trials: int, remaining: int) -> int:
    """Measure variants of ``workload`` into ``db`` (once per database, within its share of
    ``trials`` and the ``remaining`` ones); returns how many were measured now."""
    entry = db.task_log(workload)
    limit = min(trials // SHARE, remaining)
    if entry.get("variants") is not None or limit <= 0:
        return 0
    schedules = variant_schedules(workload, params)[:limit]
    args = ms.arg_info.ArgInfo.from_prim_func(workload["main"])
    committed = db.db.commit_workload(workload)
    for sch, seconds in zip(schedules, tuner.measure([s.mod for s in schedules])):
        if seconds is not None:
            db.db.commit_tuning_record(ms.database.TuningRecord(sch.trace, committed, [seconds], tuner.target, args))
    entry["variants"] = len(schedules)
    db.save_log()
    return len(schedules)
