"""Write examples/tiny_cnn.onnx: a small CNN with fixed-seed weights, for the demo and tests.

    input f32[1,3,16,16]
    -> Conv(3->8, 3x3, pad 1) -> BatchNormalization -> Relu
    -> Conv(8->16, 3x3, pad 1) -> BatchNormalization -> Relu
    -> MaxPool(2x2, stride 2) -> Flatten -> Gemm(1024->10) -> Softmax -> probs f32[1,10]

Run ``python examples/make_example_model.py [OUT.onnx]``; the committed file is its output.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUT_SHAPE = (1, 3, 16, 16)
CLASSES = 10
OPSET = 13


def conv_bn_relu(rng: np.random.Generator, index: int, c_in: int, c_out: int, x: str,
                 weights: dict[str, np.ndarray]) -> tuple[list[onnx.NodeProto], str]:
    """One Conv -> BatchNormalization -> Relu block; its weights are added to ``weights``."""
    p = f"block{index}"
    weights[f"{p}.conv.weight"] = rng.normal(0, (2 / (9 * c_in)) ** 0.5, (c_out, c_in, 3, 3))
    weights[f"{p}.conv.bias"] = rng.normal(0, 0.1, c_out)
    weights[f"{p}.bn.scale"] = rng.uniform(0.5, 1.5, c_out)
    weights[f"{p}.bn.bias"] = rng.normal(0, 0.1, c_out)
    weights[f"{p}.bn.mean"] = rng.normal(0, 0.1, c_out)
    weights[f"{p}.bn.var"] = rng.uniform(0.5, 1.5, c_out)
    nodes = [
        helper.make_node("Conv", [x, f"{p}.conv.weight", f"{p}.conv.bias"], [f"{p}.conv"], name=f"{p}/conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("BatchNormalization", [f"{p}.conv", f"{p}.bn.scale", f"{p}.bn.bias", f"{p}.bn.mean",
                                                f"{p}.bn.var"], [f"{p}.bn"], name=f"{p}/bn", epsilon=1e-5),
        helper.make_node("Relu", [f"{p}.bn"], [f"{p}.relu"], name=f"{p}/relu"),
    ]
    return nodes, f"{p}.relu"


def build(seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    weights: dict[str, np.ndarray] = {}
    block1, x = conv_bn_relu(rng, 1, INPUT_SHAPE[1], 8, "input", weights)
    block2, x = conv_bn_relu(rng, 2, 8, 16, x, weights)
    features = 16 * (INPUT_SHAPE[2] // 2) * (INPUT_SHAPE[3] // 2)
    weights["fc.weight"] = rng.normal(0, (1 / features) ** 0.5, (CLASSES, features))
    weights["fc.bias"] = rng.normal(0, 0.1, CLASSES)
    head = [
        helper.make_node("MaxPool", [x], ["pool"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["pool"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        block1 + block2 + head, "tiny_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(INPUT_SHAPE))],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [INPUT_SHAPE[0], CLASSES])],
        [numpy_helper.from_array(w.astype(np.float32), name) for name, w in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="edgec-examples")
    model.ir_version = 8  # readable by older onnxruntime releases too
    onnx.checker.check_model(model, full_check=True)
    return model


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).with_name("tiny_cnn.onnx")
    onnx.save(build(), out)
    print(f"wrote {out} ({out.stat().st_size / 1024:.1f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
