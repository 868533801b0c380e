"""The compile side of tuning: a pass that gives fused kernels their best tuned schedule.

It runs between fusion and edgec's schedule pass (``schedules.pipeline.kernel_passes``): a
function whose workload has a record that beat edgec's own schedule (``verify.record_wins``)
gets the record's schedule (and ``tirx.is_scheduled``, so the schedule pass leaves it alone);
every other function falls through to edgec's schedules. A database measured on another
target matches nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import tvm

from ..schedules import FAMILY, SCHEDULED
from .database import TuningDatabase, normalize, target_key
from .verify import applied, record_wins, searched

TUNED = "tuned"  # the ``edgec.schedule`` family of functions scheduled from the database
USE_TEXT = {"none": "none of them (the model ran faster without)",
            "variants": "only edgec's own variants (faster in the model than with MetaSchedule's kernels)"}


@dataclass
class ApplyReport:
    """What the database did for one build (recorded in the artifact's manifest)."""

    database: str
    kernels: int = 0        # fused kernels in the model
    matched: int = 0        # ... that have a working record in the database
    tuned: int = 0          # ... that use it (the rest use edgec's schedules)
    searched: int = 0       # ... of which MetaSchedule's search made (the others are edgec's variants)
    slower: int = 0         # matched, but the record was slower than edgec's schedule
    other_target: str | None = None  # the database's target when it is not this build's
    use: str = "all"        # which winners the database's whole-model check allows (``model_check.py``)

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        text = (f"{self.tuned} of {self.kernels} kernels from tuning database {self.database} "
                f"({self.matched} matched")
        if self.slower:
            text += f", {self.slower} kept edgec's faster schedule"
        if self.use != "all":
            text += f"; the whole-model check allows {USE_TEXT[self.use]}"
        if self.other_target:
            text += f"; the database was tuned for '{self.other_target}', not this target"
        return text + ")"


def _tuned_function(func: tvm.tirx.PrimFunc, workload: tvm.IRModule, record) -> tvm.tirx.PrimFunc:
    attrs = dict(func.attrs.items()) if func.attrs else {}
    return applied(workload, record)["main"].with_attrs({**attrs, SCHEDULED: True, FAMILY: TUNED})


def apply_database(db: TuningDatabase, report: ApplyReport, mod: tvm.IRModule,
                   target: tvm.target.Target) -> tvm.IRModule:
    """``mod`` with every kernel that has a winning record scheduled from it; fills ``report``."""
    if db.target and db.target != target_key(target):
        report.other_target = db.target
    report.use = (db.log.get("model") or {}).get("use", "all")
    updates = {}
    for gv, func in mod.functions.items():
        if not isinstance(func, tvm.tirx.PrimFunc) or (func.attrs and func.attrs.get(SCHEDULED, False)):
            continue
        report.kernels += 1
        workload = normalize(func)
        record = db.best(workload)
        if record is None:
            continue
        report.matched += 1
        if report.other_target:
            continue
        if not record_wins(db, workload, record):
            report.slower += 1
            continue
        if report.use == "none" or (report.use == "variants" and searched(record)):
            continue
        updates[gv] = _tuned_function(func, workload, record)
        report.searched += searched(record)
    for gv, func in updates.items():
        mod[gv] = func
    report.tuned = len(updates)
    return mod


def database_pass(path: str, report: ApplyReport | None = None) -> tuple[tvm.transform.Pass, ApplyReport]:
    """A module pass applying the database at ``path`` (read now, so a bad path fails early)."""
    db = TuningDatabase(path, create=False)
    report = report or ApplyReport(database=str(path))

    @tvm.transform.module_pass(opt_level=0, name="edgec.ApplyTuningDatabase")
    def _apply(mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        return apply_database(db, report, mod, tvm.target.Target.current(allow_none=False))

    return _apply, report
