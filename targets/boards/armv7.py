"""32-bit Arm (armv7) under qemu-arm: load a cross-built library and run its kernels.

There is no apache-tvm wheel for 32-bit Arm, so TVM's runtime cannot run there; instead
``kernel_runner.c`` (built with Debian's arm-linux-gnueabihf-gcc) loads the library with the
armhf dynamic loader and calls kernels through tvm-ffi's packed convention. That checks what the
armv7 target is responsible for: code generation, the hard-float ABI, linking, and the numbers.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from compiler.errors import TargetError

from .userland import ROOT

SOURCE = Path(__file__).with_name("kernel_runner.c")
CACHE = ROOT / ".cache" / "boards" / "armv7"
SYSROOT = "/usr/arm-linux-gnueabihf"  # Debian's libc6-armhf-cross
COMPILER = "arm-linux-gnueabihf-gcc"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise TargetError(f"the armv7 check needs {name}; install it with: apt-get install {package}")
    return path


def build_runner(cache: Path = CACHE) -> Path:
    """The armhf kernel_runner executable (rebuilt when its source changes)."""
    runner = cache / "kernel_runner"
    if runner.is_file() and runner.stat().st_mtime >= SOURCE.stat().st_mtime:
        return runner
    import tvm_ffi

    include = Path(tvm_ffi.__file__).parent / "include"
    cache.mkdir(parents=True, exist_ok=True)
    command = [_tool(COMPILER, "gcc-arm-linux-gnueabihf libc6-dev-armhf-cross"), "-O1", "-std=c11",
               "-D_POSIX_C_SOURCE=200809L", "-rdynamic", f"-I{include}", str(SOURCE), "-o", str(runner), "-ldl"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise TargetError(f"building kernel_runner failed: {result.stderr.strip().splitlines()[-1]}")
    return runner


def qemu_arm(args: Sequence[str], timeout: float = 120.0) -> subprocess.CompletedProcess:
    command = [_tool("qemu-arm", "qemu-user"), "-L", SYSROOT, str(build_runner()), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def check_loads(library: str | Path) -> str:
    """Load ``library`` in an armhf process (every symbol resolved); its output line, or TargetError."""
    result = qemu_arm([library])
    if result.returncode != 0:
        raise TargetError(f"{library} does not load under qemu-arm: {(result.stderr or result.stdout).strip()}")
    return result.stdout.strip()


def run_kernel(library: str | Path, function: str, inputs: Sequence[np.ndarray],
               output_shapes: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Call kernel ``function`` (float32 tensors: inputs, then outputs) under qemu-arm."""
    with tempfile.TemporaryDirectory() as tmp:
        args: list[str] = [str(library), function]
        for i, array in enumerate(inputs):
            path = Path(tmp) / f"in{i}.bin"
            np.ascontiguousarray(array, dtype="<f4").tofile(path)
            args.append(f"in:{path}:{'x'.join(map(str, array.shape))}")
        outs = [Path(tmp) / f"out{i}.bin" for i in range(len(output_shapes))]
        args += [f"out:{p}:{'x'.join(map(str, s))}" for p, s in zip(outs, output_shapes)]
        result = qemu_arm(args)
        if result.returncode != 0:
            raise TargetError(f"kernel {function} failed under qemu-arm: {(result.stderr or result.stdout).strip()}")
        return [np.fromfile(p, dtype="<f4").reshape(s) for p, s in zip(outs, output_shapes)]
