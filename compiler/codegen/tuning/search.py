"""MetaSchedule, set up for this machine: builder, runner, search space and cost model.

Two departures from MetaSchedule's defaults, both measured on the 2-core machines edgec is
developed on:

- The builder's default build function imports ``tvm.s_tir.tensor_intrin`` (every GPU and CPU
  tensor intrinsic: 30-60 s) in a fresh worker pool for every batch, so every build timed out.
  ``_Builder`` builds the same way without that import, in one pool kept for the whole run.
- ``TuneContext`` imports the same module (30-70 s) although the generic LLVM rules need none of
  it; ``_without_tensor_intrinsics`` skips that import while a context is made.
- The search space uses the generic LLVM rules, not the x86 VNNI ones MetaSchedule picks for
  an AVX-512 VNNI CPU (they need those intrinsics). edgec's own int8 schedules use VNNI.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import types
from typing import Callable, Iterator

import tvm
from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.builder import PyBuilder
from tvm.s_tir.meta_schedule.measure_callback import MeasureCallback, PyMeasureCallback
from tvm.support.popen_pool import PopenPoolExecutor, StatusKind

from ...errors import EdgecError

COST_MODELS = ("xgb", "random")
BATCH = 32  # candidates per search iteration: each costs a full evolutionary search (~10-40 s here)


def build_candidate(mod: tvm.IRModule, target: tvm.target.Target) -> tvm.runtime.Module:
    """One scheduled kernel built as edgec builds it (its TIR pipeline: time what will run)."""
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    from ..stack_scratch import CPU_PIPELINE

    mod = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    return tvm.tirx.build(mod, target=target, pipeline=CPU_PIPELINE)


def build_artifact(mod: tvm.IRModule, target: tvm.target.Target) -> str:
    """Build one candidate and export it for the runner (runs in a builder worker)."""
    from tvm.s_tir.meta_schedule.builder.local_builder import default_export

    return default_export(build_candidate(mod, target))


@derived_object
class _Builder(PyBuilder):
    """MetaSchedule's ``LocalBuilder`` without the imports, and with one worker pool for the whole
    run: starting a pool (importing TVM in each worker) took ~15 s per batch on a busy machine."""

    def __init__(self, workers: int, timeout_s: float):
        self.timeout_s = timeout_s
        self.pool = PopenPoolExecutor(max_workers=workers, timeout=timeout_s)

    def build(self, build_inputs: list[ms.builder.BuilderInput]) -> list[ms.builder.BuilderResult]:
        jobs = [(b.mod, b.target) for b in build_inputs]
        return [self._result(r) for r in self.pool.map_with_error_catching(lambda job: build_artifact(*job), jobs)]

    def _result(self, outcome) -> ms.builder.BuilderResult:
        if outcome.status == StatusKind.COMPLETE:
            return ms.builder.BuilderResult(outcome.value, None)
        if outcome.status == StatusKind.TIMEOUT:
            return ms.builder.BuilderResult(None, f"build timed out after {self.timeout_s:.0f} s")
        return ms.builder.BuilderResult(None, f"build failed: {outcome.value}")


def cost_model(name: str) -> ms.cost_model.CostModel:
    """``xgb`` (MetaSchedule's default: learns from the measurements) or ``random``."""
    if name == "random":
        return ms.cost_model.RandomModel()
    try:
        import xgboost  # noqa: F401
    except ImportError:
        raise EdgecError("the xgb cost model needs the xgboost package: pip install xgboost (or xgboost-cpu, "
                         "or pip install 'edgec[tune]'), or tune with --cost-model random") from None
    return ms.cost_model.XGBModel(num_tuning_cores=_cores())


def _require(*packages: str) -> None:
    import importlib.util

    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    if missing:
        raise EdgecError(f"tuning needs {' and '.join(missing)}: pip install {' '.join(missing)} "
                         "(or pip install 'edgec[tune]')")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def builder() -> ms.builder.Builder:
    return _Builder(_cores(), timeout_s=60.0)


def runner() -> ms.runner.Runner:
    """Measures on this machine with every core (the runtime's thread count, ``runtime/host.py``)."""
    os.environ.setdefault("TVM_NUM_THREADS", str(_cores()))  # inherited by the runner's workers
    config = ms.runner.EvaluatorConfig(number=3, repeat=3, min_repeat_ms=20, enable_cpu_cache_flush=False)
    return ms.runner.LocalRunner(timeout_sec=30.0, evaluator_config=config)


@contextlib.contextmanager
def _without_tensor_intrinsics() -> Iterator[None]:
    """Make ``import tvm.s_tir.tensor_intrin`` a no-op for a moment (unless it is imported already)."""
    name = "tvm.s_tir.tensor_intrin"
    if name in sys.modules:
        yield
        return
    stub = sys.modules[name] = types.ModuleType(name)
    try:
        yield
    finally:
        if sys.modules.get(name) is stub:
            del sys.modules[name]


def tune_context(workload: tvm.IRModule, target: tvm.target.Target, name: str, seed: int) -> ms.TuneContext:
    space = ms.space_generator.PostOrderApply(
        sch_rules=ms.schedule_rule.ScheduleRule.create("llvm"), postprocs=ms.postproc.Postproc.create("llvm"),
        mutator_probs=ms.mutator.Mutator.create("llvm"))
    strategy = ms.search_strategy.EvolutionarySearch(population_size=256, init_min_unmeasured=32, genetic_num_iters=3)
    with _without_tensor_intrinsics():
        return ms.TuneContext(mod=workload, target=target, space_generator=space, search_strategy=strategy,
                              task_name=name, rand_state=seed, num_threads=_cores()).clone()


@derived_object
class _Progress(PyMeasureCallback):
    """Calls ``on_batch(measured)`` after every measured batch (drives the progress bar)."""

    def __init__(self, on_batch: Callable[[int], None]):
        self.on_batch = on_batch

    def apply(self, _scheduler, _task_id, candidates, _builds, _runs) -> None:
        self.on_batch(len(candidates))


class Tuner:
    """Builder, runner and cost model shared by every task of one ``edgec tune`` run."""

    def __init__(self, target: tvm.target.Target, cost: str):
        _require("psutil", "cloudpickle")  # MetaSchedule's worker pools
        self.target = target
        self.cost = cost_model(cost)
        self.builder = builder()
        self.runner = runner()

    def measure(self, mods: list[tvm.IRModule]) -> list[float | None]:
        """Mean seconds of each (already scheduled) module, measured like the tuning candidates."""
        if not mods:
            return []
        built = self.builder.build([ms.builder.BuilderInput(m, self.target) for m in mods])
        inputs = [ms.runner.RunnerInput(b.artifact_path, "cpu", ms.arg_info.ArgInfo.from_prim_func(m["main"]))
                  for b, m in zip(built, mods) if b.error_msg is None]
        results = iter([f.result() for f in self.runner.run(inputs)])
        times = []
        for b in built:
            result = next(results) if b.error_msg is None else None
            ok = result is not None and result.error_msg is None and result.run_secs
            times.append(sum(float(s) for s in result.run_secs) / len(result.run_secs) if ok else None)
            if b.artifact_path:
                shutil.rmtree(os.path.dirname(b.artifact_path), ignore_errors=True)
        return times

    def tune(self, context: ms.TuneContext, db: ms.database.Database, work_dir: str, trials: int,
             on_batch: Callable[[int], None]) -> None:
        """Up to ``trials`` more measured candidates for one task, recorded in ``db``."""
        callbacks = MeasureCallback.create("default") + [_Progress(on_batch)]
        ms.tune.tune_tasks(tasks=[context], task_weights=[1.0], work_dir=work_dir, max_trials_global=trials,
                           max_trials_per_task=trials, num_trials_per_iter=min(BATCH, trials),
                           builder=self.builder, runner=self.runner, database=db, cost_model=self.cost,
                           measure_callbacks=callbacks, task_scheduler="round-robin")
