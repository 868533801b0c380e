"""Compile an IR graph with TVM and package it as an artifact directory.

An artifact is a folder: ``model.so`` (the compiled library), ``manifest.json`` (what goes in
and out, target, executor, passes, sizes) and ``model.ir`` (the IR text that was compiled). The
library holds the kernels and either the Relax VM's bytecode (executor "vm") or, for scheduled
CPU builds, the ``edgec_main`` entry that calls the kernels directly (executor "direct",
``codegen/direct.py``) with its weights in ``params.bin``. It is written atomically: an existing
artifact is replaced only when the new build succeeded.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tvm

from .. import __version__
from ..errors import LoweringError, UsageError, last_line
from ..ir.graph import Graph
from ..ir.printer import format_graph
from ..ir.stats import model_stats, tensor_specs
from ..util.atomic import atomic_directory, check_replaceable
from .aot import is_aot_target
from .direct import ENTRY, PARAMS_FILE, DirectModule
from .lower import to_relax
from .schedules.pipeline import compile_direct, compile_module

LIBRARY = "model.so"
MANIFEST = "manifest.json"
IR_TEXT = "model.ir"
FORMAT = 1  # bump when the artifact layout changes
EXECUTORS = ("auto", "direct", "vm")


@dataclass
class BuildResult:
    path: Path
    manifest: dict[str, Any]
    seconds: float


def compile_graph(graph: Graph, out_dir: str | Path, target: Any = "host", passes: list[dict] | None = None,
                  source: str | None = None, schedule: bool = True,
                  tuning_db: str | Path | None = None, executor: str = "auto") -> BuildResult:
    """``target``: a target name (see ``edgec targets``) or a ``targets.TargetSpec`` (board files).
    ``schedule=False`` builds TVM's unscheduled default kernels (naive, single-threaded loops).
    ``tuning_db``: a database folder from ``edgec tune``; its winning kernels replace edgec's.
    ``executor``: "direct" (scheduled CPU builds only), "vm", or "auto": direct where the model
    allows it (``codegen/direct.py``), else the VM."""
    from targets import get_target
    from targets.toolchain import device_code, export_library, require_toolchain, tvm_target as make_target

    spec = target if not isinstance(target, str) else get_target(target)
    if is_aot_target(spec):  # microcontrollers and plain C: generated C99, no TVM runtime
        from .aot.compile import compile_aot

        if tuning_db is not None:
            raise UsageError(f"--tuning-db applies to CPU targets; target '{spec.name}' generates C code "
                             "whose kernels are not tuned")

        return compile_aot(graph, out_dir, spec, passes, source)
    toolchain = require_toolchain(spec)  # a missing cross compiler fails here, before the slow part
    tvm_target = make_target(spec)
    check_replaceable(out_dir, MANIFEST)  # refuse a bad output path before the slow part
    tuned, tuning = _tuning_pass(tuning_db)
    if executor not in EXECUTORS:
        raise UsageError(f"unknown executor '{executor}'; choose one of {', '.join(EXECUTORS)}")
    direct_ok = schedule and tvm_target.kind.name == "llvm"
    if executor == "direct" and not direct_ok:
        raise UsageError("the direct executor runs scheduled CPU code: drop --no-schedule, or use a CPU target")
    start = time.perf_counter()
    mod = to_relax(graph)
    executable, direct, why_vm = None, None, "not a scheduled CPU build"
    if direct_ok and executor != "vm":
        try:
            executable, direct = compile_direct(mod, graph, tvm_target, tuned)
        except Exception as err:  # the VM runs every model; the direct entry only straight-line ones
            if executor == "direct":
                raise LoweringError(f"the direct executor cannot run this model: {last_line(err)}") from err
            why_vm = last_line(err)
        if executor == "auto" and tuning is not None and tuning.searched:
            # the direct build compiles without LLVM's type-based alias analysis (codegen/direct.py),
            # which MetaSchedule's searched kernels need: SqueezeNet tuned ran 5.7 ms direct, 4.1 ms in the VM
            executable, direct, why_vm = None, None, "kernels from MetaSchedule's search run faster in the VM build"
        if executable is None:
            tuned, tuning = _tuning_pass(tuning_db)  # a fresh report for the VM build
    elif executor == "vm":
        why_vm = "chosen (--executor vm)"
    if executable is None:
        try:
            executable = compile_module(mod, tvm_target, schedule=schedule, tuned=tuned)
        except Exception as err:
            raise LoweringError(f"TVM could not compile the model for target '{spec.name}': {last_line(err)}") from err
    stats = model_stats(graph)
    manifest = {
        "format": FORMAT,
        "edgec_version": __version__,
        "tvm_version": tvm.__version__,
        "source": source,
        "target": {"name": spec.name, "tvm": spec.tvm, "host": spec.host, "arch": spec.arch, "device": spec.device,
                   "features": list(spec.features), "source": spec.source, "device_code": device_code(executable)},
        "toolchain": toolchain.as_dict(),
        "inputs": tensor_specs(graph, graph.inputs),
        "outputs": tensor_specs(graph, graph.outputs),
        "library": LIBRARY,
        "executor": _executor_entry(direct, why_vm),
        "passes": passes or [],
        "schedule": schedule,
        "tuning": tuning.as_dict() if tuning is not None else None,
        "params": stats["params"],
        "param_bytes": stats["param_bytes"],
        "macs": stats["macs"],
        "op_counts": stats["op_counts"],
    }
    with atomic_directory(out_dir, marker=MANIFEST) as tmp:
        export_library(executable, tmp / LIBRARY, toolchain)
        if direct is not None:
            direct.params.tofile(tmp / PARAMS_FILE)
        (tmp / IR_TEXT).write_text(format_graph(graph))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return BuildResult(Path(out_dir), manifest, time.perf_counter() - start)


def _executor_entry(direct: DirectModule | None, why_vm: str) -> dict[str, Any]:
    if direct is None:
        return {"kind": "vm", "why": why_vm}
    return {"kind": "direct", "entry": ENTRY, "params": PARAMS_FILE, "params_bytes": int(direct.params.size),
            "arena_bytes": direct.arena_bytes, "kernel_calls": direct.kernel_calls}


def _tuning_pass(tuning_db: str | Path | None):
    """The pass applying ``tuning_db`` and the report it fills (None, None without a database)."""
    if tuning_db is None:
        return None, None
    from .tuning import database_pass

    return database_pass(str(tuning_db))
