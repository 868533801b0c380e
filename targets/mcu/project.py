"""The bare-metal project edgec writes beside a model's C sources, and its build.

``edgec compile --target cortex-m4 -o OUT`` leaves the model in ``OUT/src`` (generated ``model.c``,
the runtime, ...). ``write_board_project`` adds ``OUT/board`` (startup code, linker script, the
device main loop that speaks the host protocol, UART and SysTick drivers, ``board_config.h``) and
``OUT/Makefile``; ``build_elf`` runs ``make`` with arm-none-eabi-gcc and measures the result.
"""

from __future__ import annotations

import json
import re
import shutil
import string
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from compiler.errors import LoweringError, TargetError

from .boards import Board, board_for
from .stack import estimate_stack

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = Path(__file__).resolve().parent / "templates"
DEVICE_SOURCES = ROOT / "runtime" / "c" / "board"
RUNTIME_HEADER = ROOT / "runtime" / "c" / "edgec_runtime.h"
ELF = Path("build") / "model.elf"
STACK_RESERVE = 8 * 1024   # linker reserve until the call-graph estimate is known (grown if it is larger)
BENCH_MAX = 64             # most timed runs one BENCH request asks for
ALIGN = 16                 # each I/O tensor starts 16-byte aligned in the device's buffers
TOOLCHAIN_PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi"


class DoesNotFit(TargetError):
    """The model needs more flash or RAM than the board has."""


# -- writing the project ------------------------------------------------------------------------------
def tensor_bytes(tensor: dict[str, Any]) -> int:
    """Bytes of one I/O tensor description ({name, shape, dtype} or with 'bytes')."""
    if "bytes" in tensor:
        return int(tensor["bytes"])
    return int(np.prod(tensor["shape"], dtype=np.int64)) * np.dtype(tensor["dtype"]).itemsize


def io_capacity(tensors: list[dict[str, Any]]) -> int:
    return max(ALIGN, sum(-(-tensor_bytes(t) // ALIGN) * ALIGN for t in tensors))


def float_tensors(model_info: dict[str, Any]) -> list[str]:
    """Names that make the model a float model: [] for a quantized model (whose float inputs or
    outputs, if any, only need a few software-float (de)quantize steps at the edges); otherwise its
    float I/O tensors, or the model's name when it says it is not quantized."""
    if model_info.get("quantized"):
        return []
    tensors = list(model_info.get("inputs", [])) + list(model_info.get("outputs", []))
    floats = [t["name"] for t in tensors if str(t.get("dtype", "")).startswith(("float", "bfloat"))]
    if model_info.get("quantized") is False and not floats:
        floats = [str(model_info.get("name", "model"))]
    return floats


def check_fpu(model_info: dict[str, Any], board: Board) -> None:
    """Refuse a float model on a board without an FPU (software float would be orders of magnitude slower)."""
    floats = float_tensors(model_info)
    if floats and not board.has_fpu:
        raise TargetError(f"{board.target} ({board.machine}) has no FPU but the model is not quantized "
                          f"(float tensors: {', '.join(floats[:4])}); compile it with --quantize int8, "
                          f"or choose a target with an FPU (cortex-m4, cortex-m7, cortex-m55)")


def fill(template: str, **values: Any) -> str:
    return string.Template((TEMPLATES / template).read_text()).substitute(values)


def board_config(board: Board, model_info: dict[str, Any]) -> str:
    inputs, outputs = model_info.get("inputs", []), model_info.get("outputs", [])
    return "\n".join([
        "/* Written by edgec for this model and board: the device's I/O buffers and board parameters. */",
        "#ifndef EDGEC_BOARD_CONFIG_H", "#define EDGEC_BOARD_CONFIG_H", "",
        f'#define EDGEC_BOARD_NAME "{board.target} ({board.machine})"',
        f"#define EDGEC_UART_BASE 0x{board.uart_base:08X}u",
        f"#define EDGEC_CLOCK_HZ {board.clock_hz}u",
        f"#define EDGEC_INPUT_CAPACITY {io_capacity(inputs)}u  /* inputs, each 16-byte aligned */",
        f"#define EDGEC_OUTPUT_CAPACITY {io_capacity(outputs)}u /* outputs, each 16-byte aligned */",
        f"#define EDGEC_BENCH_MAX {BENCH_MAX}u", "", "#endif", ""])


def write_board_project(out_dir: Path, spec: Any, model_info: dict[str, Any]) -> None:
    """Add the board files and the Makefile to ``out_dir`` (the model's sources are in ``out_dir/src``).

    ``model_info`` describes the model: ``inputs``/``outputs`` as lists of {name, shape, dtype} (or
    {name, bytes}), optionally ``name`` and ``quantized``.
    """
    board = board_for(spec)
    check_fpu(model_info, board)
    out_dir = Path(out_dir)
    board_dir = out_dir / "board"
    board_dir.mkdir(parents=True, exist_ok=True)
    for source in sorted(DEVICE_SOURCES.glob("*.[ch]")):
        shutil.copyfile(source, board_dir / source.name)
    shutil.copyfile(TEMPLATES / "startup.c", board_dir / "startup.c")
    if not (out_dir / "src" / "edgec_runtime.h").exists():
        (out_dir / "src").mkdir(exist_ok=True)
        shutil.copyfile(RUNTIME_HEADER, out_dir / "src" / "edgec_runtime.h")
    (board_dir / "board_config.h").write_text(board_config(board, model_info))
    (board_dir / "board.json").write_text(json.dumps(board.summary(), indent=2) + "\n")
    names = dict(board=board.target, machine=board.machine, stack_size=f"0x{STACK_RESERVE:X}")
    (board_dir / "link.ld").write_text(fill(
        "link.ld.in", flash_what=board.flash.what, ram_what=board.ram.what,
        flash_origin=f"0x{board.flash.origin:08X}", flash_size=f"0x{board.flash.size:X}",
        ram_origin=f"0x{board.ram.origin:08X}", ram_size=f"0x{board.ram.size:X}", **names))
    (out_dir / "Makefile").write_text(fill("Makefile.in", cpu_flags=" ".join(board.cflags), **names))


# -- building -----------------------------------------------------------------------------------------
def toolchain() -> tuple[str, str, str]:
    """(make, gcc, size) commands, or a TargetError saying what to install."""
    found = [shutil.which(tool) for tool in ("make", "arm-none-eabi-gcc", "arm-none-eabi-size")]
    if None in found:
        missing = [t for t, f in zip(("make", "arm-none-eabi-gcc", "arm-none-eabi-size"), found) if f is None]
        raise TargetError(f"building for a Cortex-M board needs {', '.join(missing)}; install with: "
                          f"apt-get install make {TOOLCHAIN_PACKAGES}")
    return found[0], found[1], found[2]  # type: ignore[return-value]


OVERFLOW = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")


def run_make(out_dir: Path, board: Board, stack_size: int, timeout: float) -> None:
    """``make`` in ``out_dir``; a linker overflow becomes DoesNotFit naming the sizes."""
    make, _, _ = toolchain()
    command = [make, "-C", str(out_dir), f"STACK_SIZE={stack_size}", "-W", "board/link.ld"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LoweringError(f"building {out_dir / ELF} took longer than {timeout:.0f} s") from None
    if result.returncode == 0:
        return
    log = result.stdout + result.stderr
    overflows = {region: int(n) for region, n in OVERFLOW.findall(log)}
    if overflows:
        raise DoesNotFit(fit_message(board, {
            "flash_bytes": board.flash.size + overflows.get("FLASH", 0) if "FLASH" in overflows else None,
            "ram_bytes": board.ram.size + overflows["RAM"] if "RAM" in overflows else None}))
    errors = [line for line in log.splitlines() if "error" in line.lower()] or log.strip().splitlines()[-3:]
    raise LoweringError(f"arm-none-eabi-gcc failed building {out_dir}: {errors[0].strip() if errors else '?'}"
                        f" (see `make -C {out_dir}`)")


def section_sizes(elf: Path) -> dict[str, int]:
    """{section: bytes} from ``arm-none-eabi-size -A``."""
    _, _, size = toolchain()
    text = subprocess.run([size, "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sizes: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def measure(out_dir: Path, board: Board, stack_reserve: int) -> dict[str, Any]:
    """Flash and RAM of the built ELF: flash = code (text) + const data (rodata: weights) + .data's
    initial values; RAM = .data + .bss (arena, I/O buffers) + the stack estimate (the linker's
    reserve where unknown)."""
    sections = section_sizes(out_dir / ELF)
    code = sum(v for k, v in sections.items() if k in (".vectors", ".text", ".ARM.exidx"))
    rodata, data, bss = sections.get(".rodata", 0), sections.get(".data", 0), sections.get(".bss", 0)
    stack = estimate_stack(out_dir / "build")
    stack_bytes = stack["bytes"] if stack["bytes"] is not None else stack_reserve
    return {"board": board.target, "machine": board.machine, "elf": str(out_dir / ELF), "sections": sections,
            "text": code, "rodata": rodata, "data": data, "bss": bss, "flash_bytes": code + rodata + data,
            "ram_static_bytes": data + bss, "stack_bytes": stack_bytes, "stack_estimate": stack,
            "stack_reserve_bytes": stack_reserve, "ram_bytes": data + bss + stack_bytes,
            "flash_capacity": board.flash.size, "ram_capacity": board.ram.size}


def build_elf(out_dir: Path, spec: Any, timeout: float = 600.0) -> dict[str, Any]:
    """Build ``OUT/build/model.elf`` and return its sizes (see ``measure``). The stack reserve grows to
    the call-graph estimate when that is larger than the default; the result must fit the board."""
    board = board_for(spec)
    out_dir = Path(out_dir)
    run_make(out_dir, board, STACK_RESERVE, timeout)
    sizes = measure(out_dir, board, STACK_RESERVE)
    needed = sizes["stack_estimate"]["bytes"]
    if needed is not None and needed > STACK_RESERVE:
        reserve = -(-needed // 1024) * 1024
        run_make(out_dir, board, reserve, timeout)
        sizes = measure(out_dir, board, reserve)
    check_fits(sizes, board)
    return sizes


def fit_message(board: Board, sizes: dict[str, Any]) -> str:
    parts = []
    for key, memory in (("flash_bytes", board.flash), ("ram_bytes", board.ram)):
        needed = sizes.get(key)
        if needed is not None and needed > memory.size:
            parts.append(f"{key[:-6].upper() if key == 'ram_bytes' else 'flash'} needs {needed:,} bytes but "
                         f"the board has {memory.size:,} ({memory.what})")
    return f"the model does not fit {board.target} ({board.machine}): " + "; ".join(parts)


def check_fits(sizes: dict[str, Any], board: Board | str) -> None:
    """Raise DoesNotFit naming the sizes when flash or RAM (with the stack estimate) is too small."""
    board = board_for(board) if not isinstance(board, Board) else board
    if sizes.get("flash_bytes", 0) > board.flash.size or sizes.get("ram_bytes", 0) > board.ram.size:
        raise DoesNotFit(fit_message(board, sizes))
