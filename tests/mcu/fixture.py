"""The hand-written fixture model: write it into a project folder, and its numpy answer."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path(__file__).resolve().parent / "fixtures" / "model.c"
WEIGHTS = np.array([(i * 7) % 5 - 2 for i in range(16)], dtype=np.int32)

MODEL_INFO = {
    "name": "fixture", "quantized": True,
    "inputs": [{"name": "a", "shape": [2, 8], "dtype": "int8"}, {"name": "b", "shape": [2, 8], "dtype": "int8"}],
    "outputs": [{"name": "sum", "shape": [2, 8], "dtype": "int8"}, {"name": "dot", "shape": [1], "dtype": "int32"}],
}


def write_fixture(out: Path, arena_bytes: int = 64, weights_bytes: int = 16, hang: bool = False,
                  fault: bool = False) -> Path:
    """OUT/src with the fixture model (sized as asked) and the runtime header, as AOT would leave it."""
    src = Path(out) / "src"
    src.mkdir(parents=True, exist_ok=True)
    defines = (f"#define FIXTURE_ARENA_BYTES {arena_bytes}\n#define FIXTURE_WEIGHTS_BYTES {weights_bytes}\n"
               f"#define FIXTURE_HANG {int(hang)}\n#define FIXTURE_FAULT {int(fault)}\n")
    (src / "model.c").write_text(defines + SOURCE.read_text())
    shutil.copyfile(ROOT / "runtime" / "c" / "edgec_runtime.h", src / "edgec_runtime.h")
    return Path(out)


def build_fixture(out: Path, target: str, **options) -> dict:
    """Write the fixture and its board project into ``out`` and build the ELF; the size report."""
    from targets.mcu.project import build_elf, write_board_project

    write_fixture(out, **options)
    write_board_project(out, target, MODEL_INFO)
    return build_elf(out, target)


def random_inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return tuple(rng.integers(-128, 128, (2, 8)).astype(np.int8) for _ in range(2))  # type: ignore[return-value]


def expected(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    total = a.astype(np.int32).ravel() + b.astype(np.int32).ravel() + WEIGHTS
    dot = np.array([np.sum(a.astype(np.int32) * b.astype(np.int32))], dtype=np.int32)
    return {"sum": np.clip(total, -128, 127).astype(np.int8).reshape(2, 8), "dot": dot}
