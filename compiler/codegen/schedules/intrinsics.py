"""The CPU's integer dot-product instruction, as a TVM tensor intrinsic, if the target has one.

Every intrinsic here has the int8 kernels' one shape (``qkernels``): 16 int32 lanes, each += the
dot product of the same 4 data bytes with its own 4 weight bytes.

- x86 AVX-512 VNNI: one 512-bit ``vpdpbusd`` (uint8 data x int8 weights), TVM's ``dot_16x4_vnni``
  re-registered with int64 indices. It is exact (no int16 saturation, unlike the AVX-512BW
  ``pmaddubsw`` sequence, which edgec therefore does not use).
- x86 AVX-VNNI (no AVX-512: Intel Alder Lake and later client cores): two 256-bit ``vpdpbusd``.
- Armv8.2 dot product (``+dotprod``: Cortex-A55/A76 and later): four ``sdot``, int8 x int8, so
  the data is signed here (``signed_data``); TVM 0.27 only has ``sdot`` in a 4x4 shape.

Targets without one use the vectorized int32 fallback of the same kernel.
"""

from __future__ import annotations

import tvm
from tvm.target import codegen

from .common import SCRATCH

VNNI = "edgec_dot_16x4_vnni_i64"
AVX_VNNI = "edgec_dot_16x4_avxvnni_i64"
SDOT = "edgec_dot_16x4_sdot_i64"


def has_feature(target: tvm.target.Target, feature: str) -> bool:
    """Does the LLVM target have this CPU feature (False for other targets)?"""
    try:
        return bool(codegen.llvm_cpu_has_features(feature, target))
    except Exception:  # not an LLVM target, or an LLVM without that feature name
        return False


def int8_dot_intrinsic(target: tvm.target.Target) -> str:
    """The registered tensor intrinsic name for the target's int8 dot product, or ""."""
    if has_feature(target, "avx512vnni") and has_feature(target, "avx512bw"):
        name = VNNI
    elif has_feature(target, "avxvnni"):
        name = AVX_VNNI
    elif has_feature(target, "dotprod"):
        name = SDOT
    else:
        return ""
    _register(name)
    return name


def signed_data(intrinsic: str) -> bool:
    """Does ``intrinsic`` take int8 data (Arm ``sdot``), not uint8 (``vpdpbusd`` and the fallback)?"""
    return intrinsic == SDOT


# per intrinsic: the LLVM instruction, and the int32 lanes one instruction adds into
_INSTRUCTIONS = {VNNI: ("llvm.x86.avx512.vpdpbusd.512", 16), AVX_VNNI: ("llvm.x86.avx512.vpdpbusd.256", 8),
                 SDOT: ("llvm.aarch64.neon.sdot.v4i32.v16i8", 4)}


def _intrinsic(name: str):
    """(desc, impl) of ``name``: the impl is 16 // lanes instructions, each adding the 4 data bytes
    (broadcast) times ``lanes`` rows of weights into ``lanes`` accumulators. Indices are int64
    (Relax's ``emit_te`` kernels index in int64, and tensorize compares buffer regions including
    their index dtype); the accumulator is the schedule's register tile (``SCRATCH`` scope, from
    ``cache_write``). The impl is plain stores, no named temporaries: TVMScript would make each a
    "local" buffer. The LLVM intrinsics take their byte operands as i8 vectors in the LLVM TVM
    0.27 is built with."""
    from tvm.script import tirx as T

    data = "int8" if signed_data(name) else "uint8"
    instruction, lanes = _INSTRUCTIONS[name]
    acc, byte = f"int32x{lanes}", f"int8x{4 * lanes}"

    @T.prim_func(s_tir=True)
    def desc(A: T.Buffer((T.int64(4),), data, offset_factor=1),
             B: T.Buffer((T.int64(16), T.int64(4)), "int8", offset_factor=1),
             C: T.Buffer((T.int64(16),), "int32", offset_factor=1, scope=SCRATCH)) -> None:
        with T.sblock("root"):
            T.reads(C[0:16], A[0:4], B[0:16, 0:4])
            T.writes(C[0:16])
            for i in T.serial(T.int64(0), T.int64(16)):
                for k in T.serial(T.int64(0), T.int64(4)):
                    with T.sblock("update"):
                        vi, vk = T.axis.remap("SR", [i, k])
                        C[vi] = C[vi] + T.cast(A[vk], "int32") * T.cast(B[vi, vk], "int32")

    @T.prim_func(s_tir=True)
    def impl(A: T.Buffer((T.int64(4),), data, offset_factor=1),
             B: T.Buffer((T.int64(16), T.int64(4)), "int8", offset_factor=1),
             C: T.Buffer((T.int64(16),), "int32", offset_factor=1, scope=SCRATCH)) -> None:
        with T.sblock("root"):
            T.reads(C[0:16], A[0:4], B[0:16, 0:4])
            T.writes(C[0:16])
            for part in T.unroll(T.int64(16 // lanes)):
                C[T.ramp(part * lanes, 1, lanes)] = T.call_llvm_pure_intrin(
                    T.llvm_lookup_intrinsic_id(instruction),
                    C.vload([part * lanes], dtype=acc),
                    T.reinterpret(T.broadcast(T.reinterpret(A.vload([T.int64(0)], f"{data}x4"), dtype="int32"), lanes),
                                  dtype=byte),
                    B.vload([part * lanes, T.int64(0)], dtype=byte), dtype=acc)

    return desc, impl


def _register(name: str) -> None:
    from tvm.s_tir import TensorIntrin

    if TensorIntrin.get(name, allow_missing=True) is None:
        TensorIntrin.register(name, *_intrinsic(name))
