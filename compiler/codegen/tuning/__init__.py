"""Tuning: MetaSchedule searches schedules for a model's fused kernels; compile applies the winners.

``tune_graph`` lowers the graph exactly as the compile path does up to fusion
(``schedules.pipeline.fusion_passes``: edgec's NHWC layouts, packed weights, fused epilogues), so
every tuned workload is a function the compile path will meet. Per kernel, kernels with the
largest share of the model's time first, it measures edgec's own schedule, then edgec's schedule
with its other choices (``variants.py``), then MetaSchedule candidates up to ``trials`` in all;
the best of them is timed once more against edgec's schedule, interleaved (``verify.py``).
Last, ``model_check.py`` times the whole model with and without the winners.
Records go to a database folder (``database.py``) as they are measured, so an interrupted run
loses nothing and a re-run continues: a kernel that already has its trials is skipped.
``apply.database_pass`` is the compile side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import tvm

from ...errors import TargetError
from ...ir.graph import Graph
from ..lower import to_relax
from ..schedules import cpu_params, family, schedule_primfunc
from ..schedules.params import with_host_cpu
from ..schedules.pipeline import fusion_passes
from .apply import ApplyReport, database_pass
from .database import TuningDatabase, mean_seconds, normalize, target_key, workload_key
from .model_check import check_model
from .search import COST_MODELS, Tuner, tune_context
from .variants import measure_variants
from .verify import record_wins, verify

__all__ = ["ApplyReport", "COST_MODELS", "KernelResult", "check_model", "database_pass", "tune_graph",
           "tuning_target"]

SKIPPED_FAMILIES = ("injective",)  # layout transposes, concats: memory-bound, little to gain


@dataclass
class KernelResult:
    """One tuned kernel (a workload: identical fused functions share one)."""

    name: str
    family: str
    calls: int                  # how many times the model calls it
    trials: int                 # measured candidates in the database
    new_trials: int             # ... of which this run measured
    edgec_s: float | None       # edgec's schedule
    best_s: float | None        # the best tuned candidate

    @property
    def speedup(self) -> float | None:
        return self.edgec_s / self.best_s if self.edgec_s and self.best_s else None

    wins: bool = False          # whether compile uses the tuned kernel (``verify.record_wins``)


def tuning_target(spec: Any) -> tvm.target.Target:
    """The TVM target to tune for: candidates are measured here, so it must run on this machine."""
    from targets.toolchain import tvm_target

    target = tvm_target(spec)
    if spec.device != "cpu" or not spec.runs_on_host or target.kind.name != "llvm":
        raise TargetError(f"cannot tune for target '{spec.name}': tuning measures TVM kernels on this machine, "
                          "so it needs an LLVM CPU target that 'edgec targets' lists as running here")
    target = with_host_cpu(target)
    config = dict(target.export())
    config.setdefault("num-cores", cpu_params(target).cores)  # MetaSchedule requires it
    return tvm.target.Target(config)


@dataclass
class _Task:
    name: str
    func: tvm.tirx.PrimFunc
    workload: tvm.IRModule
    calls: int
    family: str


def _tasks(graph: Graph, target: tvm.target.Target) -> list[_Task]:
    """The model's distinct fused kernels, as the compile path makes them."""
    with target:
        mod = tvm.transform.Sequential(fusion_passes(target))(to_relax(graph))
    calls: dict[str, int] = {}
    for block in mod["main"].body.blocks:
        for binding in block.bindings:
            value = binding.value
            if isinstance(value, tvm.relax.Call) and value.op == tvm.ir.Op.get("relax.call_tir"):
                calls[value.args[0].name_hint] = calls.get(value.args[0].name_hint, 0) + 1
    tasks: dict[str, _Task] = {}
    for gv, func in mod.functions.items():
        if isinstance(func, tvm.tirx.PrimFunc):
            workload = normalize(func)
            key = workload_key(workload)
            if key in tasks:
                tasks[key].calls += calls.get(gv.name_hint, 0)
            else:
                tasks[key] = _Task(gv.name_hint, func, workload, calls.get(gv.name_hint, 0), family(func))
    return list(tasks.values())


def _measure_baselines(tuner: Tuner, db: TuningDatabase, tasks: list[_Task]) -> None:
    """edgec's schedule of every kernel not measured yet, timed like the candidates."""
    todo = [t for t in tasks if db.baseline(t.workload) is None]
    params = cpu_params(tuner.target)
    scheduled = [normalize(schedule_primfunc(t.func, params)) for t in todo]
    for task, seconds in zip(todo, tuner.measure(scheduled)):
        entry = db.task_log(task.workload)
        entry.update(name=task.name, family=task.family)
        if seconds is not None:
            entry["edgec_s"] = seconds
    db.save_log()


def tune_graph(graph: Graph, db_dir: str | Path, spec: Any, trials: int, cost_model: str = "xgb",
               all_kernels: bool = False, seed: int = 0,
               progress: Callable[[int, str], Any] | None = None) -> list[KernelResult]:
    """Tune ``graph``'s kernels for ``spec`` (a ``TargetSpec``), ``trials`` candidates each, into the
    database at ``db_dir``. ``progress(total, _)`` is called once with the trials to run, then
    ``progress(n, kernel_name)`` after each measured batch of ``n``."""
    target = tuning_target(spec)
    db = TuningDatabase(db_dir, create=True)
    if db.target not in (None, target_key(target)):
        raise TargetError(f"tuning database {db_dir} holds records for '{db.target}', not this target "
                          f"('{target_key(target)}'); use another --db folder")
    db.log["target"] = target_key(target)
    tasks = [t for t in _tasks(graph, target) if all_kernels or t.family not in SKIPPED_FAMILIES]
    tuner = Tuner(target, cost_model)
    _measure_baselines(tuner, db, tasks)
    tasks.sort(key=lambda t: -(db.baseline(t.workload) or 0.0) * t.calls)
    remaining = {workload_key(t.workload): _remaining(db, t, trials) for t in tasks}
    report = progress or (lambda *_: None)
    report(sum(remaining.values()), "")
    params = cpu_params(target)
    results = []
    for i, task in enumerate(tasks):
        key = workload_key(task.workload)
        new = measure_variants(tuner, db, task.workload, params, trials, remaining[key])
        if new:
            report(new, task.name)
            remaining[key] = max(remaining[key] - new, 0)
        if remaining[key]:
            measured = [0]

            def on_batch(n: int, name: str = task.name) -> None:
                measured[0] += n
                report(n, name)

            tuner.tune(tune_context(task.workload, target, task.name, seed + i), db.db, str(db.path),
                       remaining[key], on_batch)
            new += measured[0]
            report(max(remaining[key] - measured[0], 0), task.name)  # the search space ran out early
        entry = db.task_log(task.workload)
        entry["trials"] = max(trials, entry.get("trials", 0))
        db.save_log()
        results.append(_result(db, task, new, verify(db, task.workload, task.func, params, target)))
    return results


def _remaining(db: TuningDatabase, task: _Task, trials: int) -> int:
    """Trials still to run: none once a run asked for ``trials`` and finished, else what is missing."""
    if db.task_log(task.workload).get("trials", 0) >= trials:
        return 0
    return max(trials - len(db.records(task.workload)), 0)


def _result(db: TuningDatabase, task: _Task, new: int, verdict: dict | None) -> KernelResult:
    """The kernel's line of the summary: the times of ``verify`` where it ran, else as tuned."""
    best = db.best(task.workload)
    edgec_s, best_s = db.baseline(task.workload), mean_seconds(best) if best is not None else None
    if verdict:
        edgec_s, best_s = verdict["edgec_s"], verdict["tuned_s"]
    return KernelResult(task.name, task.family, task.calls, len(db.records(task.workload)), new, edgec_s, best_s,
                        wins=best is not None and record_wins(db, task.workload, best))
