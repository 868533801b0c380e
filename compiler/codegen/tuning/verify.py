"""Each tuned winner timed again against edgec's own schedule: in one process, interleaved.

MetaSchedule's runner times every candidate once, for about 60 ms, in a worker process, batch
after batch. On a shared 2-core machine that decides nothing at the 10% level: the same kernel
measured twice in one batch came out up to 2.6x apart (the first candidates of a batch ran slow),
and databases "won" on kernels that were no faster in the model. Here both schedules of a
kernel are built, loaded and warmed up side by side, then timed in alternating rounds; the
medians decide. The result is kept in the database's log, per record, for the compile side
(``apply.py``) to read.
"""

from __future__ import annotations

import hashlib
import json
import statistics

import numpy as np
import tvm
from tvm import s_tir
from tvm.s_tir import meta_schedule as ms

from ..schedules import CpuParams, schedule_primfunc
from .database import TuningDatabase, mean_seconds, normalize, workload_key
from .search import build_candidate

ROUNDS = 7
ROUND_MS = 10      # each round runs a schedule for at least this long
MARGIN = 0.02      # a tuned kernel must be this much faster to replace edgec's
RECHECK = 1.1      # records up to this much slower than edgec's schedule (as tuned) are timed again


def record_key(record: ms.database.TuningRecord) -> str:
    """Identifies a record's schedule (its trace), so a verdict is not reused for another."""
    text = json.dumps(record.trace.as_json(remove_postproc=False), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def applied(workload: tvm.IRModule, record: ms.database.TuningRecord) -> tvm.IRModule:
    """``workload`` scheduled by ``record``'s trace (as compile applies it)."""
    sch = s_tir.Schedule(workload)
    record.trace.apply_to_schedule(sch, remove_postproc=False)
    return sch.mod


def _arguments(workload: tvm.IRModule, device) -> list:
    from runtime.host import random_array

    rng = np.random.default_rng(0)
    return [tvm.runtime.tensor(random_array(rng, tuple(int(d) for d in info.shape), str(info.dtype)), device)
            for info in ms.arg_info.ArgInfo.from_prim_func(workload["main"])]


def interleaved_seconds(mods: list[tvm.IRModule], target: tvm.target.Target) -> list[float]:
    """Median seconds per call of each scheduled module, timed in alternation on the same inputs."""
    device = tvm.cpu()
    args = _arguments(mods[0], device)
    timers = []
    for mod in mods:
        lib = build_candidate(mod, target)
        timer = lib.time_evaluator("main", device, number=1, repeat=1, min_repeat_ms=ROUND_MS)
        timer(*args)  # warm up: first-call costs, caches, the thread pool
        timers.append(timer)
    rounds: list[list[float]] = [[] for _ in mods]
    for _ in range(ROUNDS):
        for timer, times in zip(timers, rounds):
            times.append(timer(*args).mean)
    return [statistics.median(times) for times in rounds]


def verify(db: TuningDatabase, workload: tvm.IRModule, func: tvm.tirx.PrimFunc, params: CpuParams,
           target: tvm.target.Target) -> dict | None:
    """Time the workload's best record against edgec's schedule (unless done for this record, or
    the record was clearly slower when tuned); returns the verdict kept in the log."""
    best, baseline = db.best(workload), db.baseline(workload)
    if best is None or (baseline is not None and mean_seconds(best) > baseline * RECHECK):
        return None
    entry, key = db.task_log(workload), record_key(best)
    if (entry.get("verified") or {}).get("record") == key:
        return entry["verified"]
    edgec_s, tuned_s = interleaved_seconds([normalize(schedule_primfunc(func, params)), applied(workload, best)],
                                           target)
    entry["verified"] = {"record": key, "edgec_s": edgec_s, "tuned_s": tuned_s}
    db.save_log()
    return entry["verified"]


def record_wins(db: TuningDatabase, workload: tvm.IRModule, record: ms.database.TuningRecord) -> bool:
    """Whether compile uses ``record`` over edgec's schedule: by the verdict of ``verify`` where
    there is one for this record, else by the times measured while tuning."""
    verdict = db.log["tasks"].get(workload_key(workload), {}).get("verified")
    if verdict and verdict.get("record") == record_key(record):
        return verdict["tuned_s"] < verdict["edgec_s"] * (1 - MARGIN)
    baseline = db.baseline(workload)
    return baseline is None or mean_seconds(record) < baseline


def searched(record: ms.database.TuningRecord) -> bool:
    """Whether a record comes from MetaSchedule's search (its trace samples), not an edgec variant."""
    return any(inst.kind.name.startswith("Sample") for inst in record.trace.insts)
