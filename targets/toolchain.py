"""Building for a target: its TVM target object, the (cross) linker, and what ended up in the library.

Everything that can fail for a reason outside edgec (a missing cross compiler, a board file whose
TVM target TVM rejects) fails here, before the slow compile, with the fix in the message.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from compiler.errors import ArtifactError, TargetError

from .spec import TargetSpec

# ELF e_machine -> architecture name (the names TargetSpec.arch uses).
ELF_MACHINES = {3: "x86", 40: "arm", 62: "x86_64", 183: "aarch64", 243: "riscv"}


@dataclass(frozen=True)
class Toolchain:
    """The compiler that links the library, as recorded in the manifest."""

    compiler: str             # command name, e.g. aarch64-linux-gnu-g++ ("g++" = this machine's)
    path: str | None          # where it was found
    version: str | None       # first line of ``--version``
    package: str | None       # Debian package(s) that provide it
    cross: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def require_toolchain(spec: TargetSpec) -> Toolchain:
    """The linker for ``spec``, or a TargetError that says which package to install."""
    if spec.device == "mcu":
        raise TargetError(f"target '{spec.name}' is a microcontroller: 'edgec compile' builds Linux artifacts "
                          "(a shared library run by the TVM runtime); microcontroller code comes from the "
                          "microcontroller backend")
    compiler, package = spec.linker()
    cross = compiler is not None
    compiler = compiler or "g++"
    found = shutil.which(compiler)
    if found is None:
        install = f"; install it with: apt-get install {package}" if package else ""
        raise TargetError(f"target '{spec.name}' needs the compiler {compiler} to link the library, and it is "
                          f"not on PATH{install}")
    return Toolchain(compiler, found, _version(found), package, cross)


def _version(path: str) -> str | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0].strip() if out.strip() else None


def tvm_target(spec: TargetSpec):
    """The ``tvm.target.Target`` for ``spec``; a TargetError naming the file if TVM rejects it."""
    import tvm

    try:
        host = tvm.target.Target(spec.host) if spec.host else None
        return tvm.target.Target(spec.tvm, host=host) if host else tvm.target.Target(spec.tvm)
    except Exception as err:  # TVM raises ValueError/TVMError with multi-line text
        lines = [line for line in str(err).strip().splitlines() if line.strip()]
        where = "" if spec.source == "built-in" else f" (from {spec.source})"
        raise TargetError(f"TVM rejects target '{spec.name}'{where}: {lines[-1] if lines else err}") from None


def export_library(executable, path: Path, toolchain: Toolchain) -> None:
    """Link the compiled module into ``path`` with the target's compiler."""
    import tvm

    if toolchain.cross:
        executable.export_library(str(path), fcompile=tvm.support.cc.cross_compiler(toolchain.compiler))
    else:
        executable.export_library(str(path))


def device_code(executable) -> dict[str, Any]:
    """What the library holds besides host code: GPU kernels by module kind, e.g. {"cuda": 58}."""
    kernels: dict[str, int] = {}
    pending = list(executable.mod.imports)
    while pending:
        module = pending.pop()
        pending.extend(module.imports)
        if module.kind == "cuda":  # the CUDA C source: one __global__ function per kernel
            count = module.inspect_source().count("__global__")
        elif module.kind in ("opencl", "vulkan", "metal", "rocm"):
            count = 1
        else:
            continue
        kernels[module.kind] = kernels.get(module.kind, 0) + count
    return kernels


def elf_arch(path: str | Path) -> str:
    """The architecture an ELF file (the artifact's library) was built for."""
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError as err:
        raise ArtifactError(f"cannot read {path}: {err.strerror}") from None
    if len(header) < 20 or header[:4] != b"\x7fELF":
        raise ArtifactError(f"{path} is not an ELF shared library")
    endian = "<" if header[5] == 1 else ">"
    machine = struct.unpack(endian + "H", header[18:20])[0]
    return ELF_MACHINES.get(machine, f"elf-machine-{machine}")
