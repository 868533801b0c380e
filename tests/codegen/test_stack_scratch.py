"""``codegen/stack_scratch.py``: small kernel scratch becomes stack slots, large scratch stays in
TVM's workspace pool, and the results do not change (checked against numpy)."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm.script import tirx as T

from compiler.codegen.stack_scratch import CPU_PIPELINE, STACK_BYTES


def scratch_kernel(scope: str, elements: int):
    """B[i] = 2 * A[i] + 1 through a scratch buffer of ``elements`` floats, in a parallel loop."""

    @T.prim_func
    def kernel(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
        for i in T.parallel(4):
            tmp = T.alloc_buffer((elements,), "float32", scope=scope)
            for j in range(16):
                tmp[j * (elements // 16)] = A[i * 16 + j] * T.float32(2)
            for j in range(16):
                B[i * 16 + j] = tmp[j * (elements // 16)] + T.float32(1)

    return kernel


def build(func, pipeline: str):
    lib = tvm.tirx.build(tvm.IRModule({"main": func}), target={"kind": "llvm"}, pipeline=pipeline)
    a = np.arange(64, dtype=np.float32)
    b = tvm.runtime.empty((64,), "float32")
    lib["main"](tvm.runtime.tensor(a), b)
    np.testing.assert_array_equal(b.numpy(), 2 * a + 1)
    return lib.inspect_source("asm").count("TVMBackendAllocWorkspace@")


@pytest.mark.parametrize("scope", ["global", "local"])
def test_small_scratch_is_a_stack_slot(scope):
    elements = 1024  # 4 KiB: over TVM's own 1 KiB stack limit, under STACK_BYTES
    assert elements * 4 <= STACK_BYTES
    assert build(scratch_kernel(scope, elements), "default") == 1
    assert build(scratch_kernel(scope, elements), CPU_PIPELINE) == 0


def test_large_scratch_stays_in_the_workspace_pool():
    elements = 2 * STACK_BYTES // 4
    assert build(scratch_kernel("global", elements), CPU_PIPELINE) == 1
