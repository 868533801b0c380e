"""CUDA artifacts on a machine with an NVIDIA GPU: outputs vs onnxruntime, and ``edgec bench``.

Skipped without a GPU (CI has none: there, test_compile_targets.py builds for every CUDA target
and checks the kernels are in the library). On a GPU machine that has only TVM's runtime library
(TVM_USE_RUNTIME_LIB=1), set EDGEC_CUDA_ARTIFACT to an artifact compiled elsewhere from
EDGEC_CUDA_MODEL (the README's "Deploying to a board" shows the commands).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

tvm = pytest.importorskip("tvm")
if not tvm.cuda(0).exist:
    pytest.skip("no CUDA GPU on this machine", allow_module_level=True)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> tuple[Path, str]:
    """(artifact dir, source model): the given prebuilt one, else the zoo model compiled here."""
    if os.environ.get("EDGEC_CUDA_ARTIFACT"):
        return Path(os.environ["EDGEC_CUDA_ARTIFACT"]), os.environ["EDGEC_CUDA_MODEL"]
    from tests.e2e.conftest import run_cli
    from tests.targets.conftest import LIGHT, ZOO_MODEL, randomize_weights
    import onnx

    folder = tmp_path_factory.mktemp("cuda")
    model = folder / "model.onnx"
    onnx.save(randomize_weights(onnx.load(LIGHT / f"light_{ZOO_MODEL}.onnx")), model)
    assert run_cli("compile", model, "--target", "cuda", "-o", folder / "art").code == 0
    return folder / "art", str(model)


def test_cuda_outputs_match_onnxruntime(artifact):
    import runtime

    path, source = artifact
    model = runtime.load(path)
    assert model.device.dlpack_device_type() == tvm.cuda(0).dlpack_device_type()
    feeds = model.random_inputs(seed=3)
    outputs = model.run(feeds)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    for name, want in zip([o.name for o in session.get_outputs()], session.run(None, feeds)):
        np.testing.assert_allclose(outputs[name], want, rtol=1e-4, atol=1e-5, err_msg=name)


def test_edgec_bench_on_the_gpu(artifact):
    from tests.e2e.conftest import run_cli

    path, source = artifact
    result = run_cli("bench", path, "--repeat", "20", "--json", "--check", "--reference", source)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["device"].startswith("cuda: ") and report["timer"] == "host" and report["median_ms"] > 0
    assert report["agreement"]["ok"], report["agreement"]
