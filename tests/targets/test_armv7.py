"""armv7 code runs under qemu-arm: a conv + bias + ReLU kernel, built exactly as edgec builds an
armv7 artifact (the registry's TVM target, the same linker step), computes what numpy computes.

TVM's runtime has no 32-bit Arm build, so the kernel is called through tvm-ffi's packed
convention by targets/boards/kernel_runner.c; whole armv7 artifacts are load-checked in
test_compile_targets.py."""

from __future__ import annotations

import numpy as np
import pytest

from targets import get_target
from targets.toolchain import export_library, require_toolchain, tvm_target
from .conftest import require_tools


def conv_relu_module():
    import tvm
    from tvm import te, topi

    x = te.placeholder((1, 3, 12, 12), name="x")
    w = te.placeholder((8, 3, 3, 3), name="w")
    b = te.placeholder((8,), name="b")
    y = topi.nn.relu(topi.nn.conv2d_nchw(x, w, 1, 1, 1) + topi.reshape(b, (1, 8, 1, 1)))
    return tvm.IRModule({"conv_relu": te.create_prim_func([x, w, b, y]).with_attr("global_symbol", "conv_relu")})


def reference(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = sum(np.einsum("nchw,oc->nohw", padded[:, :, i:i + 12, j:j + 12], w[:, :, i, j])
              for i in range(3) for j in range(3))
    return np.maximum(out + b.reshape(1, 8, 1, 1), 0)


@pytest.mark.parametrize("name", ["armv7", "cortex-a7", "cortex-a9"])
def test_armv7_kernel_matches_numpy_under_qemu_arm(tmp_path, name):
    import tvm

    from targets.boards import armv7

    require_tools("qemu-arm", "arm-linux-gnueabihf-gcc", "arm-linux-gnueabihf-g++")
    spec = get_target(name)
    library = tmp_path / "kernel.so"
    export_library(tvm.compile(conv_relu_module(), target=tvm_target(spec)), library, require_toolchain(spec))
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((1, 3, 12, 12), (8, 3, 3, 3), (8,)))
    (out,) = armv7.run_kernel(library, "conv_relu", [x, w, b], [(1, 8, 12, 12)])
    np.testing.assert_allclose(out, reference(x, w, b), rtol=1e-5, atol=1e-5)
