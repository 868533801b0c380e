"""IR graph -> an AOT C project: ``OUT/src`` (model.c/.h, kernels.c/.h, the runtime), the memory
plan in ``manifest.json``, and a build: a host shared library (target ``c``) or, for a Cortex-M
board, the board project and ELF from ``targets/mcu/project.py``.

Model inputs and outputs are caller memory: ``edgec_model_run`` passes the caller's pointers to
the kernels that read the inputs and write the outputs, so neither is in the arena.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Mapping

import tvm

from ... import __version__
from ...errors import LoweringError, TargetError, last_line
from ...ir.graph import Graph
from ...ir.printer import format_graph
from ...ir.stats import model_stats, tensor_specs
from ...util.atomic import atomic_directory, check_replaceable
from ..lower import to_relax
from .emit import Layout, kernels_header, kernels_source, model_header, model_source
from .kernels import Kernels, build_kernels
from .liveness import lifetimes
from .memory_plan import MemoryPlan, plan_memory
from .program import CONST, INPUT, OUTPUT, Program, fused_module, read_program

ROOT = Path(__file__).resolve().parents[3]
RUNTIME_DIR = ROOT / "runtime" / "c"
RUNTIME_FILES = ("edgec_runtime.h", "edgec_runtime.c")
MANIFEST, IR_TEXT, HOST_LIBRARY, SRC = "manifest.json", "model.ir", "libmodel.so", "src"
RUNTIME_KIND = "edgec-c"
ALIGNMENT = 16
FORMAT = 1
HOST_CFLAGS = ["-std=c99", "-O2", "-fPIC", "-Wall", "-Wextra", "-pedantic"]


def _is_reshape(program: Program, kernel: str) -> bool:
    """A reshape kernel copies its input unchanged: its output may take the input's place."""
    return re.fullmatch(r"reshape\d*", program.origin.get(kernel, "")) is not None


def plan_program(program: Program, workspace: Mapping[str, int], alignment: int = ALIGNMENT,
                 share_reshapes: bool = True) -> tuple[MemoryPlan, Layout, int]:
    """Offsets for every intermediate tensor and every kernel's scratch (``workspace``: bytes per
    kernel); the total scratch bytes. ``share_reshapes``: a reshape's output takes its input's place."""
    keep = {n for n, t in program.tensors.items() if t.kind in (INPUT, OUTPUT, CONST)}
    sizes = {n: t.nbytes for n, t in program.tensors.items()}
    steps, inplace, scratch = [], {}, {}
    for index, step in enumerate(program.steps):
        writes = list(step.outputs)
        need = workspace.get(step.kernel, 0)
        if need:
            scratch[index] = f"ws:{index}"
            sizes[scratch[index]] = need
            writes.append(scratch[index])
        reads = [a for a in step.args if a not in step.outputs]
        if share_reshapes and _is_reshape(program, step.kernel) and len(reads) == 1 and len(step.outputs) == 1:
            inplace[step.outputs[0]] = reads[0]
        steps.append((reads, writes))
    buffers = lifetimes(steps, sizes, keep, inplace)
    plan = plan_memory(buffers, alignment)
    layout = Layout({i: (plan.offsets[name], sizes[name]) for i, name in scratch.items()})
    return plan, layout, sum(sizes[name] for name in scratch.values())


def memory_report(program: Program, plan: MemoryPlan, workspace_bytes: int, code_bytes: int | None,
                  flash_bytes: int | None = None, ram_bytes: int | None = None) -> dict[str, Any]:
    weights = sum(t.nbytes for t in program.tensors.values() if t.kind == CONST)
    return {"arena_bytes": plan.arena_bytes, "workspace_bytes": workspace_bytes, "weights_bytes": weights,
            "code_bytes": code_bytes,
            "flash_bytes": flash_bytes if flash_bytes is not None else
            (code_bytes + weights if code_bytes is not None else None),
            "ram_bytes": ram_bytes if ram_bytes is not None else plan.arena_bytes,
            "alignment": ALIGNMENT,
            "per_step_peak": [{"step": i, "kernel": s.kernel, "peak_bytes": p}
                              for i, (s, p) in enumerate(zip(program.steps, plan.peak_per_step))]}


def write_sources(src: Path, name: str, program: Program, kernels: Kernels, graph: Graph, plan: MemoryPlan,
                  layout: Layout, workspace_bytes: int, quantized: bool) -> None:
    src.mkdir(parents=True, exist_ok=True)
    weights = sum(t.nbytes for t in program.tensors.values() if t.kind == CONST)
    (src / "kernels.h").write_text(kernels_header(kernels.prototypes))
    (src / "kernels.c").write_text(kernels_source(kernels.source))
    (src / "model.h").write_text(model_header(name, program, graph, plan, workspace_bytes))
    (src / "model.c").write_text(model_source(name, program, graph, plan, layout, quantized, workspace_bytes,
                                              weights))
    for file in RUNTIME_FILES:
        shutil.copyfile(RUNTIME_DIR / file, src / file)


def _run(command: list[str], what: str) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise LoweringError(f"{what} failed: {err}") from None
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if "error" in line] or result.stderr.splitlines()
        raise LoweringError(f"{what} failed: {errors[0].strip() if errors else result.returncode}")
    return result.stdout


def build_host_library(out: Path, cc: str = "gcc") -> int:
    """Compile ``out/src/*.c`` into ``out/libmodel.so``; returns the code bytes (.text) of the objects."""
    if shutil.which(cc) is None:
        raise TargetError(f"target 'c' builds the host library with {cc}, which is not on PATH; "
                          "install it with: apt-get install gcc")
    objects = []
    for source in sorted((out / SRC).glob("*.c")):
        obj = out / "build" / (source.stem + ".o")
        obj.parent.mkdir(exist_ok=True)
        _run([cc, *HOST_CFLAGS, "-c", str(source), "-o", str(obj)], f"compiling {source.name}")
        objects.append(obj)
    _run([cc, "-shared", "-o", str(out / HOST_LIBRARY), *map(str, objects), "-lm"], "linking the host library")
    return text_bytes(objects)


def text_bytes(objects: list[Path]) -> int:
    """Bytes of code (.text sections) in ``objects``, from ``size -A``."""
    total = 0
    for obj in objects:
        for line in _run(["size", "-A", str(obj)], "size").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith(".text") and parts[1].isdigit():
                total += int(parts[1])
    return total


def _board_build(tmp: Path, spec, model_info: dict[str, Any]) -> dict[str, Any] | None:
    """The board project (and its ELF when arm-none-eabi-gcc is there) from targets/mcu/project.py."""
    try:
        from targets.mcu import project
    except ImportError:
        return None
    project.write_board_project(tmp, spec, model_info)
    try:
        project.toolchain()
    except TargetError:
        return None  # sources only: the user builds with `make` where the toolchain is
    return project.build_elf(tmp, spec)


def compile_aot(graph: Graph, out_dir: str | Path, spec, passes: list[dict] | None = None,
                source: str | None = None) -> Any:
    """Generate, plan and build; returns codegen.build.BuildResult."""
    from ..build import BuildResult

    check_replaceable(out_dir, MANIFEST)
    start = time.perf_counter()
    mod = to_relax(graph)
    try:
        fused = fused_module(mod)
    except Exception as err:  # TVM's legalize/fuse passes raise multi-line TVMErrors
        raise LoweringError(f"TVM could not legalize and fuse the model for C: {last_line(err)}") from err
    program = read_program(fused, graph)
    kernels = build_kernels(program.kernels)
    plan, layout, workspace_bytes = plan_program(program, kernels.workspace)
    quantized = any(n.op.startswith("q") for n in graph.nodes)
    name = graph.name if getattr(graph, "name", None) else "model"
    host = spec.device != "mcu"
    manifest = _manifest(graph, spec, program, passes, source, quantized, host)
    with atomic_directory(out_dir, marker=MANIFEST) as tmp:
        write_sources(tmp / SRC, name, program, kernels, graph, plan, layout, workspace_bytes, quantized)
        if host:
            manifest["memory"] = memory_report(program, plan, workspace_bytes, build_host_library(tmp))
        else:
            model_info = {"name": name, "quantized": quantized, "inputs": manifest["inputs"],
                          "outputs": manifest["outputs"]}
            sizes = _board_build(tmp, spec, model_info)
            manifest["board"] = _relocate(sizes, tmp, Path(out_dir)) if sizes else None
            manifest["memory"] = memory_report(program, plan, workspace_bytes, sizes and sizes.get("text"),
                                               sizes and sizes.get("flash_bytes"), sizes and sizes.get("ram_bytes"))
        (tmp / IR_TEXT).write_text(format_graph(graph))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return BuildResult(Path(out_dir), manifest, time.perf_counter() - start)


def _relocate(sizes: dict[str, Any], tmp: Path, out: Path) -> dict[str, Any]:
    """Paths that BOARDS' build recorded inside the temporary folder, as they will be after the move."""
    return json.loads(json.dumps(sizes, default=str).replace(str(tmp), str(out)))


def _manifest(graph: Graph, spec, program: Program, passes, source, quantized: bool, host: bool) -> dict[str, Any]:
    stats = model_stats(graph)
    return {
        "format": FORMAT, "edgec_version": __version__, "tvm_version": tvm.__version__, "source": source,
        "target": {"name": spec.name, "tvm": spec.tvm, "host": spec.host, "arch": spec.arch, "device": spec.device,
                   "features": list(spec.features), "source": spec.source, "device_code": "c"},
        "runtime": RUNTIME_KIND,
        "inputs": tensor_specs(graph, graph.inputs), "outputs": tensor_specs(graph, graph.outputs),
        "library": HOST_LIBRARY if host else None,
        "sources": [f"{SRC}/{f}" for f in ("model.c", "model.h", "kernels.c", "kernels.h", *RUNTIME_FILES)],
        "quantized": quantized, "kernel_calls": len(program.steps), "kernels": len(program.kernels),
        "passes": passes or [], "schedule": "aot-inline",
        "params": stats["params"], "param_bytes": stats["param_bytes"], "macs": stats["macs"],
        "op_counts": stats["op_counts"],
    }
