"""Compile an IR graph with TVM and package it as an artifact directory.

An artifact is a folder: ``model.so`` (the compiled library: kernels + Relax VM bytecode),
``manifest.json`` (what goes in and out, target, passes, sizes) and ``model.ir`` (the IR
text that was compiled). It is written atomically: an existing artifact is replaced only
when the new build succeeded.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tvm

from .. import __version__
from ..errors import LoweringError
from ..ir.graph import Graph
from ..ir.printer import format_graph
from ..ir.stats import model_stats, tensor_specs
from ..util.atomic import atomic_directory, check_replaceable
from .lower import to_relax

LIBRARY = "model.so"
MANIFEST = "manifest.json"
IR_TEXT = "model.ir"
FORMAT = 1  # bump when the artifact layout changes


@dataclass
class BuildResult:
    path: Path
    manifest: dict[str, Any]
    seconds: float


def compile_graph(graph: Graph, out_dir: str | Path, target: str = "host", passes: list[dict] | None = None,
                  source: str | None = None) -> BuildResult:
    from targets import get_target

    spec = get_target(target)
    check_replaceable(out_dir, MANIFEST)  # refuse a bad output path before the slow part
    start = time.perf_counter()
    mod = to_relax(graph)
    tvm_target = tvm.target.Target(spec.tvm, host=spec.host) if spec.host else tvm.target.Target(spec.tvm)
    try:
        executable = tvm.compile(mod, target=tvm_target)
    except Exception as err:
        first = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise LoweringError(f"TVM could not compile the model for target '{target}': {first}") from err
    stats = model_stats(graph)
    manifest = {
        "format": FORMAT,
        "edgec_version": __version__,
        "tvm_version": tvm.__version__,
        "source": source,
        "target": {"name": spec.name, "tvm": spec.tvm, "cc": spec.cc},
        "inputs": tensor_specs(graph, graph.inputs),
        "outputs": tensor_specs(graph, graph.outputs),
        "library": LIBRARY,
        "passes": passes or [],
        "params": stats["params"],
        "param_bytes": stats["param_bytes"],
        "macs": stats["macs"],
        "op_counts": stats["op_counts"],
    }
    with atomic_directory(out_dir, marker=MANIFEST) as tmp:
        if spec.cc:
            executable.export_library(str(tmp / LIBRARY), fcompile=tvm.support.cc.cross_compiler(spec.cc))
        else:
            executable.export_library(str(tmp / LIBRARY))
        (tmp / IR_TEXT).write_text(format_graph(graph))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return BuildResult(Path(out_dir), manifest, time.perf_counter() - start)
