"""The target parameters the schedules are derived from, in one place.

Every tile size in this package comes from a ``CpuParams``: the fp32 lanes of one vector
register, how many vector registers there are, the data cache sizes and the core count. The
same schedule code serves x86 (SSE/AVX2/AVX-512) and ARM (NEON) through these numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import tvm
from tvm.target import codegen

from .intrinsics import has_feature, int8_dot_intrinsic


@dataclass(frozen=True)
class CpuParams:
    lanes: int = 4          # fp32 lanes per vector register
    registers: int = 16     # architectural vector registers
    l1_bytes: int = 32 * 1024
    l2_bytes: int = 1024 * 1024
    l1_ways: int = 8        # L1 data cache associativity (8 or more on the CPUs edgec targets)
    cores: int = 1
    int8_dot: str = ""      # tensor intrinsic for int8 dot products (``intrinsics.py``), "" if none

    @property
    def tile_registers(self) -> int:
        """Vector registers a micro-kernel tile may hold (accumulators + one row of operand
        vectors); the rest are left to the compiler, else LLVM spills. Measured on AVX-512:
        tiles of 7x4 (28 + 4 registers) and 14x2 (28 + 2) run at 2/3 the speed of 6x4 (24 + 4)."""
        return self.registers - 4 if self.registers > 16 else self.registers - 2


def _is_aarch64(target: tvm.target.Target) -> bool:
    triple = str(target.attrs.get("mtriple", "")) or codegen.llvm_get_system_triple()
    return triple.startswith(("aarch64", "arm64"))


def _host_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_params(target: tvm.target.Target) -> CpuParams:
    """What the schedules need to know about a CPU target."""
    cores = int(target.attrs.get("num-cores", 0)) or _host_cores()
    dot = int8_dot_intrinsic(target)
    if _is_aarch64(target):
        return CpuParams(lanes=4, registers=32, l1_bytes=32 * 1024, l2_bytes=512 * 1024, cores=cores, int8_dot=dot)
    if has_feature(target, "avx512f"):
        return CpuParams(lanes=16, registers=32, l1_bytes=32 * 1024, l2_bytes=1024 * 1024, cores=cores, int8_dot=dot)
    if has_feature(target, "avx2") or has_feature(target, "avx"):
        return CpuParams(lanes=8, registers=16, l1_bytes=32 * 1024, l2_bytes=512 * 1024, cores=cores, int8_dot=dot)
    return CpuParams(lanes=4, registers=16, l1_bytes=32 * 1024, l2_bytes=256 * 1024, cores=cores, int8_dot=dot)


def with_host_cpu(target: tvm.target.Target) -> tvm.target.Target:
    """An LLVM target for this machine that names no CPU generates baseline x86-64 (SSE2) code;
    name the host CPU so the vector width the schedules assume is the one LLVM emits."""
    if target.kind.name != "llvm" or target.attrs.get("mcpu"):
        return target
    triple = str(target.attrs.get("mtriple", ""))
    if triple and triple.split("-")[0] != codegen.llvm_get_system_triple().split("-")[0]:
        return target  # cross-compiling: the host CPU says nothing about the device
    config = dict(target.export())
    config["mcpu"] = codegen.llvm_get_system_cpu()
    host = target.host
    return tvm.target.Target(config, host=host) if host is not None else tvm.target.Target(config)
