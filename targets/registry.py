"""The named targets edgec knows, and the lookup that turns a name (or a board file) into one.

Variants share their family's TVM target and differ in ``mcpu``/``arch``: ``cortex-a72`` is the
``aarch64`` target tuned for that core, ``cuda-sm_80`` the ``cuda`` target for Ampere.
"""

from __future__ import annotations

from typing import Iterable

from compiler.errors import TargetError

from .spec import TargetSpec, host_arch, host_cpu_flags

_AARCH64 = {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mattr": ["+neon"]}
_ARMV7 = {"kind": "llvm", "mtriple": "armv7a-linux-gnueabihf", "mattr": ["+neon"], "mfloat-abi": "hard"}
_CUDA_HOST = {"kind": "llvm"}
_SIMD_FLAGS = ("sse4_2", "avx2", "fma", "avx512f", "neon", "asimd", "asimddp", "sve")


def _host() -> TargetSpec:
    flags = [f for f in _SIMD_FLAGS if f in host_cpu_flags()]
    extra = f", {' '.join(flags)}" if flags else ""
    return TargetSpec("host", f"this machine ({host_arch()}{extra}), generic LLVM code", {"kind": "llvm"})


def _cpu(name: str, family: dict, arch: str, runner: str, mcpu: str | None, what: str,
         features: tuple[str, ...] = ()) -> TargetSpec:
    tvm = dict(family, **({"mcpu": mcpu} if mcpu else {}))
    return TargetSpec(name, what, tvm, arch=arch, runner=runner, features=features)


def _cuda(name: str, sm: str, what: str) -> TargetSpec:
    return TargetSpec(name, what, {"kind": "cuda", "arch": sm}, host=_CUDA_HOST, device="cuda", runner="cuda")


def _aarch64(name: str, mcpu: str | None, what: str) -> TargetSpec:
    return _cpu(name, _AARCH64, "aarch64", "qemu-aarch64", mcpu, what)


def _armv7(name: str, mcpu: str | None, what: str) -> TargetSpec:
    return _cpu(name, _ARMV7, "arm", "qemu-arm", mcpu, what)


def _mcu(name: str, triple: str, what: str, mattr: tuple[str, ...] = (), float_abi: str = "hard") -> TargetSpec:
    tvm = {"kind": "llvm", "mtriple": triple, "mcpu": name, "mfloat-abi": float_abi}
    tvm.update({"mattr": list(mattr)} if mattr else {})
    return TargetSpec(name, what, tvm, arch="arm", device="mcu", runner="qemu-system-arm")


def builtin_targets() -> list[TargetSpec]:
    return [
        _host(),
        TargetSpec("c", "plain C99 ahead-of-time code with the edgec C runtime (no TVM at run time), "
                   "built for this machine with gcc", {"kind": "c"}),
        _cpu("x86-avx2", {"kind": "llvm", "mtriple": "x86_64-linux-gnu"}, "x86_64", "local", "haswell",
             "x86-64 with AVX2 and FMA (Intel Haswell and later, AMD Zen)", ("avx2", "fma")),
        _cpu("x86-avxvnni", {"kind": "llvm", "mtriple": "x86_64-linux-gnu"}, "x86_64", "local", "alderlake",
             "x86-64 with AVX2 and AVX-VNNI int8 dot products, no AVX-512 (Intel Alder Lake and later client CPUs)",
             ("avx2", "fma", "avx_vnni")),
        _cpu("x86-avx512", {"kind": "llvm", "mtriple": "x86_64-linux-gnu"}, "x86_64", "local", "skylake-avx512",
             "x86-64 with AVX-512 (Intel Skylake-SP and later, AMD Zen 4)", ("avx512f", "avx512bw")),
        _aarch64("aarch64", None, "64-bit Arm Linux, generic ARMv8-A with NEON"),
        _aarch64("cortex-a53", "cortex-a53", "aarch64 tuned for Cortex-A53 (Raspberry Pi 3, many SoCs)"),
        _aarch64("cortex-a72", "cortex-a72", "aarch64 tuned for Cortex-A72 (Raspberry Pi 4)"),
        _aarch64("cortex-a76", "cortex-a76", "aarch64 tuned for Cortex-A76, dot product (Raspberry Pi 5)"),
        _armv7("armv7", None, "32-bit Arm Linux, ARMv7-A hard-float with NEON"),
        _armv7("cortex-a7", "cortex-a7", "armv7 tuned for Cortex-A7 (Raspberry Pi 2, Allwinner)"),
        _armv7("cortex-a9", "cortex-a9", "armv7 tuned for Cortex-A9 (i.MX6, Zynq-7000)"),
        _cuda("cuda", "sm_75", "NVIDIA GPU, any from Turing (sm_75) on; kernels finish compiling for the GPU at load"),
        _cuda("cuda-sm_75", "sm_75", "NVIDIA Turing (T4, RTX 20xx)"),
        _cuda("cuda-sm_80", "sm_80", "NVIDIA Ampere (A100, A30)"),
        _cuda("cuda-sm_86", "sm_86", "NVIDIA Ampere (RTX 30xx, A10, A40)"),
        _cuda("cuda-sm_89", "sm_89", "NVIDIA Ada (L4, L40, RTX 40xx)"),
        _cuda("cuda-sm_90", "sm_90", "NVIDIA Hopper (H100, H200)"),
        TargetSpec("jetson-orin", "NVIDIA Jetson Orin: Ampere GPU (sm_87), Cortex-A78AE host code",
                   {"kind": "cuda", "arch": "sm_87"}, host=dict(_AARCH64, mcpu="cortex-a78"),
                   arch="aarch64", device="cuda", runner="rpc"),
        _mcu("cortex-m3", "thumbv7m-none-eabi", "microcontroller, Cortex-M3 without FPU: int8 models only "
             "(microcontroller backend)", float_abi="soft"),
        _mcu("cortex-m4", "thumbv7em-none-eabihf", "microcontroller, Cortex-M4F (microcontroller backend)"),
        _mcu("cortex-m7", "thumbv7em-none-eabihf", "microcontroller, Cortex-M7 (microcontroller backend)"),
        _mcu("cortex-m55", "thumbv8.1m.main-none-eabihf", "microcontroller, Cortex-M55 with Helium "
             "(microcontroller backend)", ("+mve.fp",)),
    ]


TARGETS: dict[str, TargetSpec] = {t.name: t for t in builtin_targets()}


def get_target(name: str, extra: Iterable[TargetSpec] = ()) -> TargetSpec:
    """The target called ``name``: a built-in or one of ``extra`` (from ``--target-file``)."""
    known = all_targets(extra)
    if name not in known:
        raise TargetError(f"unknown target '{name}'; known targets: {', '.join(known)} "
                          "(or describe your board in a file: --target-file board.toml)")
    return known[name]


def all_targets(extra: Iterable[TargetSpec] = ()) -> dict[str, TargetSpec]:
    """Built-ins then ``extra``; a board file may not reuse a built-in's name."""
    known = dict(TARGETS)
    for spec in extra:
        if spec.name in TARGETS:
            raise TargetError(f"{spec.source}: target name '{spec.name}' is a built-in target; "
                              f"choose another name (use base = \"{spec.name}\" to start from it)")
        known[spec.name] = spec
    return known
