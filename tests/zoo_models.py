"""The nine "light" model-zoo networks shipped inside the onnx package, for tests and benchmarks.

The light models build every weight with ConstantOfShape (one constant value), which hides
weight-layout bugs; ``randomize_weights`` replaces them with random initializers of the same
shapes, scaled so activations stay O(1), and exposes the logits as an extra output.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
MODELS = sorted(p.stem.removeprefix("light_") for p in LIGHT.glob("light_*.onnx") if "_output_" not in p.stem)
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


def dummy_feeds(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {vi.name: dummy_input(vi) for vi in graph_inputs(model)}
