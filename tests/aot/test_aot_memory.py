"""The static memory of the generated C for the MLPerf Tiny int8 models: every intermediate is an
int8 tensor in one planned arena (no padded copies, no widened residual operands), no kernel keeps
a scratch buffer, and the arena is smaller than the TensorFlow Lite Micro arena for the same
model (sizes measured with the tflite-micro package, from ../shared/models/mlperf-tiny/README.md)."""

from __future__ import annotations

import pytest

from compiler.codegen.aot.compile import plan_program
from compiler.codegen.aot.kernels import build_kernels
from compiler.codegen.aot.program import TEMP, fused_module, read_program
from compiler.codegen.lower import to_relax

from .helpers import mlperf_graph

TFLM_ARENA = {"ic_resnet8": 55_984, "kws_dscnn": 24_272, "vww_mobilenetv1": 103_680, "ad_autoencoder": 4_632}
TFLM_ACTIVATIONS = {"ic_resnet8": 49_152, "kws_dscnn": 16_000, "vww_mobilenetv1": 73_728, "ad_autoencoder": 768}


@pytest.mark.parametrize("stem", sorted(TFLM_ARENA))
def test_arena_is_smaller_than_tflite_micro(stem):
    graph = mlperf_graph(f"{stem}_int8_qdq")
    program = read_program(fused_module(to_relax(graph)), graph)
    temps = {n: t for n, t in program.tensors.items() if t.kind == TEMP}
    assert all(t.dtype == "int8" for t in temps.values()), {n: t.dtype for n, t in temps.items()}
    kernels = build_kernels(program.kernels)
    plan, layout, workspace = plan_program(program, kernels.workspace)
    assert workspace == 0 and not layout.workspace
    assert plan.arena_bytes < TFLM_ARENA[stem]
    assert plan.arena_bytes <= TFLM_ACTIVATIONS[stem]
