"""Every registered non-microcontroller target compiles a zoo model (SqueezeNet with random
weights), with the right compiler, into code for the right machine; each artifact then loads on
its runner: this machine (outputs vs onnxruntime), qemu-arm for armv7 (the aarch64 board runs
its artifacts in test_board.py), and CUDA builds are checked for their kernels (no GPU in CI)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import runtime
from targets import TARGETS, host_arch
from targets.toolchain import elf_arch
from .conftest import require_tools

pytestmark = pytest.mark.slow
BUILDABLE = [name for name, spec in TARGETS.items() if spec.device != "mcu" and spec.tvm["kind"] != "c"]


@pytest.mark.parametrize("name", BUILDABLE)
def test_zoo_model_compiles_for_every_target(build, zoo, name):
    spec = TARGETS[name]
    compiler = spec.linker()[0]
    if compiler:
        require_tools(compiler)
    artifact = build(name)
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert manifest["target"]["name"] == name and manifest["target"]["tvm"] == spec.tvm
    assert manifest["toolchain"]["compiler"] == (compiler or "g++") and manifest["toolchain"]["version"]
    assert elf_arch(artifact / "model.so") == spec.arch
    if spec.device == "cuda":
        assert manifest["target"]["device_code"]["cuda"] >= 10  # one kernel per fused layer
    else:
        assert manifest["target"]["device_code"] == {}


@pytest.mark.parametrize("name", [n for n in BUILDABLE if TARGETS[n].runs_on_host])
def test_host_runnable_artifacts_match_onnxruntime(build, zoo, name):
    outputs = runtime.load(build(name)).run(zoo.feeds)
    for key, want in zoo.expected.items():
        np.testing.assert_allclose(outputs[key], want, rtol=1e-4, atol=1e-5, err_msg=f"{name}: {key}")


@pytest.mark.parametrize("name", [n for n in BUILDABLE if TARGETS[n].arch == "arm"])
def test_armv7_artifacts_load_under_qemu_arm(build, name):
    from targets.boards import armv7

    require_tools("qemu-arm", "arm-linux-gnueabihf-gcc", "arm-linux-gnueabihf-g++")
    library = build(name) / "model.so"
    assert armv7.check_loads(library).startswith("loaded")


def test_cuda_artifact_is_refused_without_a_gpu(build):
    import tvm

    if tvm.cuda(0).exist:
        pytest.skip("this machine has a GPU: test_cuda.py runs the artifact")
    with pytest.raises(Exception, match="CUDA GPU"):
        runtime.load(build("cuda"))


def test_other_architectures_are_refused_here(build):
    other = "aarch64" if host_arch() != "aarch64" else "x86-avx2"
    require_tools(TARGETS[other].linker()[0] or "g++")
    with pytest.raises(Exception, match="run it on the device"):
        runtime.load(build(other))
