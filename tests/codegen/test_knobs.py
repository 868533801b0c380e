"""Every schedule variant ``edgec tune`` measures (``schedules/knobs.py``) computes the same kernel:
each variant of each tunable family, built alone, against the unscheduled function (TVM's default
loop nest) on the same random inputs."""

from __future__ import annotations

import numpy as np
import pytest
import tvm

from compiler.codegen.schedules import cpu_params, family, variants
from compiler.codegen.tuning import _tasks, tuning_target
from compiler.codegen.tuning.search import build_candidate
from compiler.codegen.tuning.variants import variant_schedules
from compiler.frontend.onnx import import_onnx
from compiler.pipeline import compress
from targets import get_target
from tests.codegen.test_schedules import Branches, conv


def _model():
    b = Branches(9)
    x = b.input((1, 24, 12, 12))
    y = b.node("Relu", [conv(b, x, 24, 40)])                                   # Winograd
    y = conv(b, y, 40, 48, kernel=(1, 1), pads=(0, 0, 0, 0), stride=(2, 2))     # direct conv
    y = conv(b, y, 48, 48, groups=48)                                           # depthwise
    y = b.node("GlobalAveragePool", [y])
    y = b.node("Flatten", [y])
    b.outputs.append(b.node("Gemm", [y, b.weight(48, 20)]))                     # dense
    return b.model()


def _run(lib, args: list[np.ndarray]) -> np.ndarray:
    tensors = [tvm.runtime.tensor(a.copy(), tvm.cpu()) for a in args]
    lib["main"](*tensors)
    return tensors[-1].numpy()


@pytest.mark.slow
def test_every_variant_computes_the_kernel():
    from tvm.s_tir import meta_schedule as ms

    target = tuning_target(get_target("host"))
    params = cpu_params(target)
    rng = np.random.default_rng(0)
    tried = {}
    for task in _tasks(compress(import_onnx(_model())).graph, target):
        if not variants(task.func, params):
            continue
        infos = ms.arg_info.ArgInfo.from_prim_func(task.func)
        args = [rng.standard_normal([int(d) for d in i.shape]).astype(str(i.dtype)) for i in infos]
        args[-1] = np.zeros_like(args[-1])
        want = _run(tvm.compile(task.workload, target=target), args)  # TVM's default loop nest
        schedules = variant_schedules(task.workload, params)
        assert schedules, task.name
        for sch in schedules:
            got = _run(build_candidate(sch.mod, target), args)
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=f"{task.name}: {sch.trace}")
        tried[family(task.func)] = tried.get(family(task.func), 0) + len(schedules)
    assert set(tried) == {"winograd", "conv", "depthwise", "dense"}, tried
