"""A zoo model with random weights (SqueezeNet, the lightest), its onnxruntime outputs, and skips
for machines without the cross toolchains or qemu (CI installs them: .ci/run)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
import pytest

from tests.zoo_models import LIGHT, randomize_weights

if TYPE_CHECKING:
    from compiler.ir.graph import Graph

ZOO_MODEL = "squeezenet"


@dataclass
class ZooModel:
    path: Path                  # the random-weights ONNX file (the artifacts' source)
    graph: "Graph"              # imported and compressed once
    feeds: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]


@pytest.fixture(scope="session")
def zoo(tmp_path_factory) -> ZooModel:
    # imported here, not at the top: test_cuda.py also runs where only TVM's runtime library is
    from compiler.frontend.onnx import import_onnx
    from compiler.pipeline import compress
    from tests.oracle import run_ort

    model = randomize_weights(onnx.load(LIGHT / f"light_{ZOO_MODEL}.onnx"))
    path = tmp_path_factory.mktemp("zoo") / f"{ZOO_MODEL}.onnx"
    onnx.save(model, path)
    graph = compress(import_onnx(model)).graph
    feeds = {name: np.random.default_rng(0).standard_normal(graph.types[name].shape).astype(np.float32)
             for name in graph.inputs}
    expected = dict(zip([o.name for o in model.graph.output], run_ort(model, feeds)))
    return ZooModel(path, graph, feeds, expected)


def require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt packages in .ci/run)")


@pytest.fixture(scope="session")
def build(zoo, tmp_path_factory):
    """``build(target)`` -> the zoo model's artifact for that target, compiled once per session."""
    from compiler.codegen.build import compile_graph

    root = tmp_path_factory.mktemp("artifacts")
    built: dict[str, Path] = {}

    def compiled(target: str) -> Path:
        if target not in built:
            built[target] = compile_graph(zoo.graph, root / target, target, source=str(zoo.path)).path
        return built[target]

    return compiled
