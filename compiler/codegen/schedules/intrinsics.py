"""The CPU's integer dot-product instruction, as a TVM tensor intrinsic, if the target has one.

x86 AVX-512 VNNI: ``vpdpbusd`` (16 int32 lanes += 4 uint8 x int8 products each), registered by
TVM as ``dot_16x4_vnni`` (re-registered here with int64 indices); it is exact (no int16 saturation, unlike the AVX-512BW
``pmaddubsw`` sequence, which edgec therefore does not use). Targets without it (AVX2, AVX-VNNI
only, ARM; TVM 0.27 has no ARM ``sdot`` intrinsic in this 16x4 shape) use the vectorized int32
fallback of the same kernel.
"""

from __future__ import annotations

import tvm
from tvm.target import codegen

from .common import SCRATCH

VNNI = "edgec_dot_16x4_vnni_i64"


def has_feature(target: tvm.target.Target, feature: str) -> bool:
    """Does the LLVM target have this CPU feature (False for other targets)?"""
    try:
        return bool(codegen.llvm_cpu_has_features(feature, target))
    except Exception:  # not an LLVM target, or an LLVM without that feature name
        return False


def int8_dot_intrinsic(target: tvm.target.Target) -> str:
    """The registered tensor intrinsic name for the target's int8 dot product, or ""."""
    if has_feature(target, "avx512vnni") and has_feature(target, "avx512bw"):
        _register()
        return VNNI
    return ""


def _vnni_intrinsic():
    """TVM's ``dot_16x4_vnni`` with int64 indices and the schedule's register tile (``SCRATCH``
    scope) as accumulator: Relax's ``emit_te`` kernels index in int64, the schedule accumulates in a ``cache_write`` tile,
    and tensorize compares buffer regions including their index dtype. The LLVM intrinsic takes
    its operands as <64 x i8> in the LLVM TVM 0.27 is built with."""
    from tvm.script import tirx as T

    @T.prim_func(s_tir=True)
    def desc(A: T.Buffer((T.int64(4),), "uint8", offset_factor=1),
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
    def impl(A: T.Buffer((T.int64(4),), "uint8", offset_factor=1),
             B: T.Buffer((T.int64(16), T.int64(4)), "int8", offset_factor=1),
             C: T.Buffer((T.int64(16),), "int32", offset_factor=1, scope=SCRATCH)) -> None:
        with T.sblock("root"):
            T.reads(C[0:16], A[0:4], B[0:16, 0:4])
            T.writes(C[0:16])
            # one expression, no named temporaries: TVMScript would make each a "local" buffer
            C[T.ramp(T.int64(0), 1, 16)] = T.call_llvm_pure_intrin(
                T.llvm_lookup_intrinsic_id("llvm.x86.avx512.vpdpbusd.512"),
                C.vload([T.int64(0)], dtype="int32x16"),
                T.reinterpret(T.broadcast(T.reinterpret(A.vload([T.int64(0)], "uint8x4"), dtype="int32"), 16),
                              dtype="int8x64"),
                B.vload([T.int64(0), T.int64(0)], dtype="int8x64"), dtype="int32x16")

    return desc, impl


def _register() -> None:
    from tvm.s_tir import TensorIntrin

    if TensorIntrin.get(VNNI, allow_missing=True) is None:
        TensorIntrin.register(VNNI, *_vnni_intrinsic())
