"""The nine "light" model-zoo networks shipped with ONNX, end to end through edgec.

Each model (AlexNet, DenseNet-121, Inception v1/v2, ResNet-50, ShuffleNet, SqueezeNet,
VGG-19, ZFNet-512) is checked three ways:

1. as shipped: import, compile for the host, and match ONNX's expected output
   (``light_*_output_0.pb``) on the input ONNX's backend runner makes for light models;
2. with random weights: the shipped weights are one constant (ConstantOfShape nodes), which
   would hide any weight-layout bug, so they are replaced by random initializers and edgec's
   TVM build must match onnxruntime on the modified model, logits included;
3. export round trip: the imported random-weights IR, exported back to ONNX, must give
   onnxruntime the same outputs as the modified model.

Tolerance: rtol 1e-3, atol 1e-5. Each model is imported once per check (module fixtures).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from compiler.export import export_onnx
from compiler.frontend.onnx import import_onnx
from compiler.ir.graph import Graph
from tests.oracle import run_ort, run_tvm

pytestmark = pytest.mark.slow

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
MODELS = sorted(p.stem.removeprefix("light_") for p in LIGHT.glob("light_*.onnx") if "_output_" not in p.stem)
RTOL, ATOL = 1e-3, 1e-5
SHAPE_ONLY = {"Reshape", "Unsqueeze", "Squeeze", "Flatten"}  # followed to find what a weight is for


def dummy_input(value_info: onnx.ValueInfoProto) -> np.ndarray:
    """The input ONNX's runner feeds light models (``Runner.generate_dummy_data(random=False)``)."""
    dims = value_info.type.tensor_type.shape.dim
    shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in dims)
    n = np.prod(shape)
    return (np.arange(n).reshape(shape) / n).astype(np.float32)


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The real inputs: these old (IR 3) models also list every initializer as an input."""
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


# -- random weights -------------------------------------------------------------------------
Role = tuple[str, int, bool]  # consumer op type, input index, whether its output feeds a residual sum


def _users(graph: onnx.GraphProto) -> dict[str, list[tuple[onnx.NodeProto, int]]]:
    users: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            users.setdefault(name, []).append((node, i))
    return users


def _role(name: str, users, weights: set[str]) -> Role:
    """What a weight is for: its first real consumer (looking through reshapes)."""
    node, index = users[name][0]
    while node.op_type in SHAPE_ONLY:
        node, index = users[node.output[0]][0]
    merges = [user for user, _ in users.get(node.output[0], [])
              if user.op_type in ("Sum", "Add") and sum(i not in weights for i in user.input) > 1]
    return node.op_type, index, bool(merges)


def random_weight(shape: tuple[int, ...], role: Role, rng: np.random.Generator) -> np.ndarray:
    """A weight that keeps activations O(1): He-scaled kernels, BN variances in [0.5, 1.5], and
    small scales on the last BN of residual branches (so the sums do not double per block)."""
    op, index, residual = role
    if op in ("Conv", "Gemm") and index == 1:
        fan_in = int(np.prod(shape[1:])) if op == "Conv" else shape[-1]  # all Gemms here have transB=1
        w = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
    elif op == "BatchNormalization" and index == 1 and residual:
        w = rng.uniform(0.1, 0.3, shape)
    elif (op == "BatchNormalization" and index in (1, 4)) or op == "Mul":  # scale, variance, channel scale
        w = rng.uniform(0.5, 1.5, shape)
    else:  # biases, BN shift and mean, channel shift
        w = rng.standard_normal(shape) * 0.1
    return w.astype(np.float32)


def randomize_weights(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """Replace every weight (ConstantOfShape outputs and float initializers) by a random one of the
    same shape, as initializers; expose the softmax inputs (logits) as extra outputs."""
    model = copy.deepcopy(model)
    graph, rng = model.graph, np.random.default_rng(seed)
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    made = [n for n in graph.node if n.op_type == "ConstantOfShape"]
    shapes = {n.output[0]: tuple(int(d) for d in inits[n.input[0]]) for n in made}
    users = _users(graph)
    shapes.update({name: a.shape for name, a in inits.items() if a.dtype == np.float32 and name in users})
    for node in made:
        graph.node.remove(node)
        graph.input.append(helper.make_tensor_value_info(node.output[0], onnx.TensorProto.FLOAT,
                                                         shapes[node.output[0]]))
    weights = {name: random_weight(shape, _role(name, users, set(shapes)), rng) for name, shape in shapes.items()}
    kept = [i for i in graph.initializer if i.name not in weights]
    del graph.initializer[:]
    graph.initializer.extend(kept + [numpy_helper.from_array(w, name) for name, w in weights.items()])
    _drop_unused_initializers(graph)
    outputs = {o.name: o for o in graph.output}
    for node in graph.node:
        if node.op_type == "Softmax" and node.output[0] in outputs:  # logits: same type as the probabilities
            logits = graph.output.add()
            logits.CopyFrom(outputs[node.output[0]])
            logits.name = node.input[0]
    return model


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    """Remove initializers no node reads (the weights' shapes), and their old-style input entries."""
    used = {name for node in graph.node for name in node.input}
    unused = {i.name for i in graph.initializer} - used
    for field in (graph.initializer, graph.input):
        for item in [i for i in field if i.name in unused]:
            field.remove(item)


# -- fixtures ---------------------------------------------------------------------------------
@dataclass
class Zoo:
    name: str
    model: onnx.ModelProto
    feeds: dict[str, np.ndarray]
    expected: list[np.ndarray]


@dataclass
class RandomWeights:
    model: onnx.ModelProto
    graph: Graph
    ort_outputs: list[np.ndarray]


@pytest.fixture(scope="module", params=MODELS)
def zoo(request) -> Zoo:
    name = request.param
    model = onnx.load(LIGHT / f"light_{name}.onnx")
    feeds = {vi.name: dummy_input(vi) for vi in graph_inputs(model)}
    expected = [numpy_helper.to_array(onnx.load_tensor(LIGHT / f"light_{name}_output_{i}.pb"))
                for i in range(len(model.graph.output))]
    return Zoo(name, model, feeds, expected)


@pytest.fixture(scope="module")
def random_weights(zoo: Zoo) -> RandomWeights:
    model = randomize_weights(zoo.model)
    return RandomWeights(model, import_onnx(model), run_ort(model, zoo.feeds))


def assert_outputs_close(got, want, names, what: str) -> None:
    assert len(got) == len(want)
    for name, have, expected in zip(names, got, want):
        assert have.shape == expected.shape, f"{what}, output {name}: shape {have.shape} != {expected.shape}"
        np.testing.assert_allclose(have, expected, rtol=RTOL, atol=ATOL, err_msg=f"{what}, output {name}")


# -- tests ------------------------------------------------------------------------------------
def test_expected_output(zoo: Zoo):
    graph = import_onnx(zoo.model)
    assert_outputs_close(run_tvm(graph, zoo.feeds), zoo.expected, graph.outputs, f"{zoo.name} TVM build")


def test_random_weights_match_onnxruntime(zoo: Zoo, random_weights: RandomWeights):
    graph = random_weights.graph
    logits = random_weights.ort_outputs[-1]
    assert np.std(logits) > 0.1, "random weights should give spread-out logits, else the check is weak"
    assert_outputs_close(run_tvm(graph, zoo.feeds), random_weights.ort_outputs, graph.outputs,
                         f"{zoo.name} (random weights) TVM build")


def test_export_round_trip(zoo: Zoo, random_weights: RandomWeights):
    exported = export_onnx(random_weights.graph)
    assert_outputs_close(run_ort(exported, zoo.feeds), random_weights.ort_outputs, random_weights.graph.outputs,
                         f"{zoo.name} (random weights) exported ONNX")
