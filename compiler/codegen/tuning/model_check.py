"""The last step of a tuning run: the whole model built with and without the database, timed.

Kernels are tuned one at a time, in isolation. In the model they share the caches with their
neighbours, and a database whose winners include a kernel from MetaSchedule's search makes
compile pick the VM executor (those kernels need LLVM's alias analysis, which the direct build
turns off; ``build.compile_graph``), which costs every model some time per kernel call. So the
model is built the ways compile could build it:

- ``none``: edgec's schedules only (the untuned build);
- ``all``: every record that won its kernel (``verify.record_wins``);
- ``variants``: only the winners that are edgec's own variants (no MetaSchedule kernel: the direct
  executor), where that differs from ``all``;

and the builds are timed in alternating rounds on the same inputs, in a fresh process: in the
tuning process (MetaSchedule's worker pools alive) ResNet-50 ran 30.7 ms instead of 18.6. The
database's log keeps the medians and the fastest choice under ``model``; ``apply.py`` uses the
records that choice allows.

    python -m compiler.codegen.tuning.model_check DIR USE...   (the timing child: JSON on stdout)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ...ir.graph import Graph
from .database import TuningDatabase

USES = ("none", "all", "variants")
ROUNDS = 7
ROUND_S = 0.2      # each build runs for at least this long per round
MARGIN = 0.02      # a tuned build must be this much faster than the one before it in USES


def _median_ms(models: dict[str, Any], feeds: dict[str, Any]) -> dict[str, float]:
    """Median milliseconds per run of each loaded model, timed in alternation."""
    from runtime.host import interleaved_runs

    runners = {use: (lambda model=model: model.run(feeds)) for use, model in models.items()}
    return {use: statistics.median(t) for use, t in interleaved_runs(runners, ROUNDS, min_block_s=ROUND_S).items()}


def _time_in_child(artifacts: Path, uses: list[str]) -> dict[str, float]:
    root = Path(__file__).resolve().parents[3]  # the checkout: the child imports edgec from here too
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", __name__, str(artifacts), *uses], env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"timing the tuned builds failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_model(graph: Graph, db_dir: str | Path, spec: Any) -> dict[str, Any]:
    """Build and time the model per ``USES``; record and return the log's ``model`` entry."""
    from ..build import compile_graph

    db = TuningDatabase(db_dir, create=False)
    before = db.log.get("model")
    executors, tuned = {}, {}
    try:
        with tempfile.TemporaryDirectory(prefix="edgec-tune-check-") as tmp:
            for use in USES:
                db.log["model"] = {"use": use}  # what the apply pass reads while this build compiles
                db.save_log()
                result = compile_graph(graph, Path(tmp) / use, spec, tuning_db=None if use == "none" else db_dir)
                report = result.manifest["tuning"] or {}
                if use != "none" and not report.get("tuned"):
                    continue  # nothing won: the same build as "none"
                if use == "variants" and report.get("tuned") == tuned.get("all"):
                    continue  # no MetaSchedule kernel among the winners: the same build as "all"
                tuned[use] = report.get("tuned", 0)
                executors[use] = result.manifest["executor"]["kind"]
            times = _time_in_child(Path(tmp), list(executors))
    except BaseException:
        db.log["model"] = before  # an interrupted check leaves the choice as it was
        db.save_log()
        raise
    best = "none"
    for use in USES[1:]:
        if use in times and times[use] < times[best] * (1 - MARGIN):
            best = use
    entry = {"use": best, "ms": times, "executor": executors, "tuned_kernels": tuned}
    db.log["model"] = entry
    db.save_log()
    return entry


def _child(artifacts: Path, uses: list[str]) -> None:
    import runtime

    models = {use: runtime.load(artifacts / use) for use in uses}
    print(json.dumps(_median_ms(models, models["none"].random_inputs(seed=0))))


if __name__ == "__main__":
    _child(Path(sys.argv[1]), sys.argv[2:])
