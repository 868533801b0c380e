"""The MLPerf Tiny models on Cortex-M boards: flash, RAM, instructions, beside TFLite Micro's arena.

Per model (``../shared/models/mlperf-tiny/*_int8_qdq.onnx``, batch 1) and board (cortex-m4 on
QEMU mps2-an386, cortex-m55 on mps3-an547):

- flash bytes: code + weights + initial data of the whole firmware (``arm-none-eabi-size``);
- RAM bytes: .data + .bss (edgec's arena and the I/O buffers) + the call-graph stack estimate
  (beside it, the stack the board actually used: the firmware paints its stack at reset);
- instructions per inference: SysTick under ``qemu-system-arm -icount shift=0`` (exact to one tick);
- instructions per MAC (MACs of the float model at batch 1, from edgec's IR statistics);
- TFLite Micro arena: the smallest ``arena_size`` with which the ``tflite-micro`` package's
  interpreter allocates and runs the official int8 ``.tflite`` (bisection, on this 64-bit host).

RAM rule: TFLite Micro's arena holds every tensor, the model's input and output included, plus the
interpreter's own allocations; its stack and the interpreter object are not in it. edgec's figure
compared with it ("RAM (all)") is everything the firmware needs: the arena, the I/O buffers, the
protocol firmware's own data and the stack estimate, so the comparison favours TFLite Micro.

    python -m bench.mcu [--models kws,ad] [--boards cortex-m4,cortex-m55] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import onnx

from bench.common import emit, machine, markdown_table
from compiler.errors import EdgecError

MODELS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "mlperf-tiny"
MODELS = {"ic": "ic_resnet8", "kws": "kws_dscnn", "vww": "vww_mobilenetv1", "ad": "ad_autoencoder"}
BOARDS = ("cortex-m4", "cortex-m55")


def batch_one_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Every graph input's shape with symbolic dimensions (the batch) fixed to 1."""
    graph = onnx.load(str(path), load_external_data=False).graph
    inits = {i.name for i in graph.initializer}
    return {i.name: tuple(d.dim_value if d.HasField("dim_value") else 1 for d in i.type.tensor_type.shape.dim)
            for i in graph.input if i.name not in inits}


def float_macs(key: str) -> int:
    from compiler.ir.stats import model_stats
    from compiler.pipeline import load

    path = MODELS_DIR / f"{MODELS[key]}_fp32.onnx"
    return int(model_stats(load(path, batch_one_shapes(path)))["macs"])


# -- edgec ----------------------------------------------------------------------------------------------
def model_info_from_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    return {"name": manifest.get("name", "model"), "inputs": manifest["inputs"], "outputs": manifest["outputs"],
            "quantized": manifest.get("quantized")}


def compile_for_board(model: Path, target: str, out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``edgec compile --target TARGET`` at batch 1 (C sources, board project, ELF): (manifest, sizes)."""
    from compiler.pipeline import compile_model
    from targets.mcu.project import build_elf, write_board_project

    manifest = compile_model(model, out, target=target, input_shapes=batch_one_shapes(model)).manifest
    sizes = manifest.get("board")
    if not sizes:  # the compile path left the ELF (or the whole board project) to us
        if not (out / "board" / "board.json").is_file():
            write_board_project(out, target, model_info_from_manifest(manifest))
        sizes = build_elf(out, target)
    return manifest, sizes


def measure_edgec(key: str, target: str, macs: int, work: Path) -> dict[str, Any]:
    from runtime.mcu.model import McuModel

    model = MODELS_DIR / f"{MODELS[key]}_int8_qdq.onnx"
    out = work / f"{key}-{target}"
    row: dict[str, Any] = {"model": MODELS[key], "board": target, "macs": macs}
    try:
        manifest, sizes = compile_for_board(model, target, out)
        with McuModel(out, timeout=600) as board:
            feeds = board.random_inputs()
            steps = max_steps_from_reference(model, feeds, board.run(feeds))
            ticks = board.benchmark_ticks(feeds, repeat=1)[0]
            figures = board.figures(ticks)
            arena, stack_used = board.info.arena_bytes, board.stack_used()
    except EdgecError as err:
        return {**row, "error": f"{err.kind}: {err}"}
    memory = manifest.get("memory", {})
    return {**row, "flash_bytes": sizes["flash_bytes"], "ram_bytes": sizes["ram_bytes"], "arena_bytes": arena,
            "workspace_bytes": memory.get("workspace_bytes"), "code_bytes": sizes.get("text"),
            "weights_bytes": memory.get("weights_bytes"), "io_bytes": io_bytes(manifest),
            "stack_bytes": sizes["stack_bytes"], "stack_used_bytes": stack_used, "static_ram_bytes": sizes["ram_static_bytes"],
            "instructions": figures["instructions"], "instructions_per_mac": figures["instructions"] / macs,
            "max_steps_vs_reference": steps, "machine": board.board.machine, "clock_hz": figures["clock_hz"], "sections": sizes["sections"]}


def max_steps_from_reference(model: Path, feeds: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> int:
    """Largest difference, in integer steps, between the board's outputs and the numpy reference
    interpreter on the integer IR of the same model and inputs (0 = bit-exact)."""
    from compiler.ir import interpreter
    from compiler.pipeline import load

    want = interpreter.run(load(model, batch_one_shapes(model)), feeds)
    return max(int(np.max(np.abs(outputs[name].astype(np.int64) - np.asarray(want[name]).astype(np.int64))))
               for name in outputs)


def io_bytes(manifest: dict[str, Any]) -> int:
    """Bytes of the model's inputs and outputs (the firmware's I/O buffers, part of its RAM)."""
    return sum(int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize
               for t in manifest["inputs"] + manifest["outputs"])


# -- TFLite Micro ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """TFLite Micro prints every failed allocation to the C stderr: hide it during the bisection."""
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def tflm_runs(path: Path, arena: int) -> bool:
    from tflite_micro.python.tflite_micro import runtime

    try:
        interpreter = runtime.Interpreter.from_file(str(path), arena_size=arena)
        details = interpreter.get_input_details(0)  # every MLPerf Tiny model has one input
        interpreter.set_input(np.zeros(details["shape"], details["dtype"]), 0)
        interpreter.invoke()
        return True
    except Exception:  # the interpreter raises RuntimeError (or ValueError) when the arena is too small
        return False


def tflm_arena(key: str) -> dict[str, Any]:
    """Smallest arena (to 4 bytes) with which TFLite Micro allocates and runs the official model."""
    try:
        import tflite_micro  # noqa: F401
    except ImportError:
        return {"tflm_arena_bytes": None, "tflm_note": "tflite-micro not installed (pip install tflite-micro)"}
    path = MODELS_DIR / f"{MODELS[key]}_int8.tflite"
    low, high = 0, 1 << 16
    with quiet_stderr():
        while not tflm_runs(path, high):
            low, high = high, high * 2
            if high > 64 << 20:
                return {"tflm_arena_bytes": None, "tflm_note": "does not run with a 64 MiB arena"}
        while high - low > 4:
            middle = (low + high) // 2
            low, high = (low, middle) if tflm_runs(path, middle) else (middle, high)
    import tflite_micro

    return {"tflm_arena_bytes": high, "tflm_version": getattr(tflite_micro, "__version__", "?")}


# -- report ---------------------------------------------------------------------------------------------
def table(rows: list[dict[str, Any]]) -> str:
    headers = ["model", "board", "flash B (code+weights)", "RAM B (all)", "arena B", "I/O B", "stack B (used)",
               "instructions", "instr/MAC", "steps vs reference", "TFLM arena B", "RAM (all) < TFLM arena"]
    lines = []
    for r in rows:
        tflm = r.get("tflm_arena_bytes")
        if "error" in r:
            lines.append([r["model"], r["board"], r["error"][:80]] + [""] * 7 + [tflm or "n/a", ""])
            continue
        lines.append([r["model"], r["board"], r["flash_bytes"], r["ram_bytes"], r["arena_bytes"], r["io_bytes"],
                      f"{r['stack_bytes']:,} ({r['stack_used_bytes']:,})", r["instructions"], round(r["instructions_per_mac"], 2),
                      r["max_steps_vs_reference"], tflm if tflm else "n/a", ("yes" if r["ram_bytes"] < tflm else "NO") if tflm else "n/a"])
    return markdown_table(headers, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma list of {', '.join(MODELS)}")
    parser.add_argument("--boards", default=",".join(BOARDS))
    parser.add_argument("--json", help="also write the JSON here")
    parser.add_argument("--keep", help="keep the built projects in this folder")
    args = parser.parse_args()
    keys = [k.strip() for k in args.models.split(",") if k.strip()]
    boards = [b.strip() for b in args.boards.split(",") if b.strip()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        for key in keys:
            macs, tflm = float_macs(key), tflm_arena(key)
            for target in boards:
                row = {**measure_edgec(key, target, macs, work), **tflm}
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "sections"}), flush=True)
    results = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "machine": machine(),
               "notes": "instructions: SysTick under qemu-system-arm -icount shift=0 (1 instruction = 1 ns), exact "
                        "to one tick (40 instructions at 25 MHz, 31 at 32 MHz); RAM is .data + .bss (arena, I/O "
                        "buffers, firmware state) + the stack estimate from GCC's call graph; TFLite Micro "
                        "arena (tensors incl. I/O, no stack) measured on this 64-bit host",
               "rows": rows}
    emit(results, table(rows), args.json)


if __name__ == "__main__":
    main()
