"""A tuning database folder: MetaSchedule's JSON records plus edgec's log of what was tuned.

- ``database_workload.json`` and ``database_tuning_record.json``: MetaSchedule's ``JSONDatabase``,
  every measured schedule keyed by its workload (the unscheduled fused PrimFunc, compared
  structurally, so a kernel matches whatever model it comes from).
- ``edgec_tuning.json``: the target the records were measured on and, per workload, its kernel
  name, the trials asked for, and the time of edgec's own schedule measured the same way. The
  compile path uses a tuned record only where it beats that time.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import tvm
from tvm.s_tir import meta_schedule as ms
from tvm_ffi import structural_hash

from ...errors import InputError, last_line
from ...util.atomic import atomic_write_bytes

LOG = "edgec_tuning.json"
WORKLOADS = "database_workload.json"
RECORDS = "database_tuning_record.json"
FORMAT = 1
FAILED_SECONDS = 1e9  # MetaSchedule records 1e10 s for candidates that failed to build or run


def target_key(target: tvm.target.Target) -> str:
    """What a tuned kernel depends on: kind, triple, CPU and features (not the core count)."""
    config = target.export()
    parts = [config["kind"], str(config.get("mtriple", "")), str(config.get("mcpu", "")),
             ",".join(sorted(str(a) for a in config.get("mattr", [])))]
    return " ".join(p for p in parts if p)


def workload_key(mod: tvm.IRModule) -> str:
    return f"{structural_hash(mod) & (2**64 - 1):016x}"


def normalize(func: tvm.tirx.PrimFunc) -> tvm.IRModule:
    """The workload MetaSchedule keys a fused function by (as ``extract_tasks`` makes it)."""
    return tvm.get_global_func("tvm.s_tir.meta_schedule.normalize_mod")(func)


def mean_seconds(record: ms.database.TuningRecord) -> float:
    secs = [float(s) for s in (record.run_secs or [])]
    return sum(secs) / len(secs) if secs else float("inf")


class TuningDatabase:
    """One database folder. ``create=False`` (compile) requires an existing database."""

    def __init__(self, path: str | Path, create: bool):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"tuning database {self.path} is a file; give a folder (edgec tune --db DIR)")
        if not create and not (self.path / WORKLOADS).is_file():
            what = "does not exist" if not self.path.exists() else f"has no {WORKLOADS}"
            raise InputError(f"tuning database {self.path} {what}; make one with 'edgec tune MODEL --db DIR'")
        if create:
            self.path.mkdir(parents=True, exist_ok=True)
        try:
            self.db = ms.database.JSONDatabase(work_dir=str(self.path), allow_missing=create)
        except Exception as err:  # a corrupt JSON file: TVM raises with pages of text
            raise InputError(f"tuning database {self.path} cannot be read: {last_line(err)}") from None
        self.log = self._read_log()

    def _read_log(self) -> dict[str, Any]:
        path = self.path / LOG
        if not path.is_file():
            return {"format": FORMAT, "target": None, "tasks": {}}
        try:
            log = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise InputError(f"tuning database {self.path}: {LOG} is not valid JSON ({err})") from None
        log.setdefault("tasks", {})
        return log

    def save_log(self) -> None:
        atomic_write_bytes(self.path / LOG, (json.dumps(self.log, indent=1, sort_keys=True) + "\n").encode())

    @property
    def target(self) -> str | None:
        return self.log.get("target")

    def task_log(self, mod: tvm.IRModule) -> dict[str, Any]:
        """The log entry of a workload, created empty if new."""
        return self.log["tasks"].setdefault(workload_key(mod), {})

    def records(self, mod: tvm.IRModule) -> list[ms.database.TuningRecord]:
        """Every record of the workload, best first (failed candidates last)."""
        if not self.db.has_workload(mod):
            return []
        return list(self.db.get_top_k(self.db.commit_workload(mod), 1 << 30))

    def best(self, mod: tvm.IRModule) -> ms.database.TuningRecord | None:
        """The fastest working record of the workload, or None."""
        if not self.db.has_workload(mod):
            return None
        top = self.db.get_top_k(self.db.commit_workload(mod), 1)
        return top[0] if top and mean_seconds(top[0]) < FAILED_SECONDS else None

    def keep_best(self) -> int:
        """Drop every record but each workload's best (what compile uses; the log keeps the trial
        counts, so a re-run does not search again). Returns the records dropped."""
        records = list(self.db.get_all_tuning_records())
        workloads = {workload_key(r.workload.mod): r.workload.mod for r in records}
        best = {key: record for key, mod in workloads.items() if (record := self.best(mod)) is not None}
        staging = self.path / ".keep_best"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        kept = ms.database.JSONDatabase(work_dir=str(staging), allow_missing=True)
        for record in best.values():
            workload = kept.commit_workload(record.workload.mod)
            kept.commit_tuning_record(ms.database.TuningRecord(record.trace, workload, record.run_secs,
                                                               record.target, record.args_info))
        # the old files stay as *.old until both new ones are in place: an interruption loses nothing
        for name in (WORKLOADS, RECORDS):
            os.replace(self.path / name, self.path / f"{name}.old")
        for name in (WORKLOADS, RECORDS):
            os.replace(staging / name, self.path / name)
        for name in (WORKLOADS, RECORDS):
            (self.path / f"{name}.old").unlink()
        staging.rmdir()
        self.db = ms.database.JSONDatabase(work_dir=str(self.path), allow_missing=False)
        return len(records) - len(best)

    def baseline(self, mod: tvm.IRModule) -> float | None:
        """Seconds edgec's own schedule of the workload took when it was tuned (None if unknown)."""
        return self.log["tasks"].get(workload_key(mod), {}).get("edgec_s")
