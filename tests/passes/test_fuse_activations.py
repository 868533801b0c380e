import numpy as np
import pytest

from compiler.export import export_onnx
from compiler.ir import GraphBuilder, interpreter
from compiler.passes.fuse_activations import fuse_activations
from tests.oracle import run_ort, run_tvm
from tests.passes.equivalence import assert_equivalent, random_feeds

rng = np.random.default_rng(0)

ACTIVATIONS = [("relu", {}), ("clip", {"min": 0.0, "max": 6.0}), ("leaky_relu", {"alpha": 0.1}),
               ("hard_swish", {}), ("sigmoid", {}), ("hard_sigmoid", {"alpha": 0.3, "beta": 0.4}), ("tanh", {})]


def layer_then(act: str, attrs: dict, layer: str = "conv"):
    b = GraphBuilder()
    if layer == "conv":
        x = b.input("x", (1, 3, 6, 6))
        y = b.op("conv", [x, b.const(rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
                          b.const(rng.standard_normal(4).astype(np.float32))], {"pads": (1, 1, 1, 1)})
    else:
        x = b.input("x", (2, 5))
        y = b.op(layer, [x, b.const(rng.standard_normal((3, 5) if layer == "dense" else (5, 3)).astype(np.float32))])
    b.output(b.op(act, [y], attrs, name="out"))
    return b.build()


@pytest.mark.parametrize("act,attrs", ACTIVATIONS)
def test_fuses_activation_into_conv(act, attrs):
    g = layer_then(act, attrs)
    result = fuse_activations(g)
    (node,) = result.graph.nodes
    assert node.op == "conv" and node.attrs["activation"] == act and node.outputs == ["out"]
    assert_equivalent(g, result.graph)


@pytest.mark.parametrize("layer", ["dense", "matmul"])
def test_fuses_into_dense_and_matmul(layer):
    g = layer_then("relu", {}, layer)
    result = fuse_activations(g)
    assert [n.op for n in result.graph.nodes] == [layer]
    assert_equivalent(g, result.graph)


@pytest.mark.parametrize("act,attrs", ACTIVATIONS[:3])
def test_fused_layer_compiles_and_exports(act, attrs):
    """The TVM build and the exported ONNX (layer + activation node) match the unfused graph."""
    g = layer_then(act, attrs)
    fused = fuse_activations(g).graph
    feeds = random_feeds(g)
    want = interpreter.run(g, feeds)["out"]
    np.testing.assert_allclose(run_tvm(fused, feeds)[0], want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run_ort(export_onnx(fused), feeds)[0], want, rtol=1e-5, atol=1e-5)


def test_leaves_alone_shared_outputs_and_non_layers():
    b = GraphBuilder()
    x = b.input("x", (2, 5))
    y = b.op("dense", [x, b.const(rng.standard_normal((3, 5)).astype(np.float32))], name="y")
    b.output(b.op("relu", [y], name="out"), y)          # the pre-activation value is an output too
    assert not fuse_activations(b.build()).modified

    b = GraphBuilder()
    x = b.input("x", (2, 5))
    b.output(b.op("relu", [b.op("add", [x, x])], name="out"))   # add is not a fusable layer
    assert not fuse_activations(b.build()).modified

    g = layer_then("relu", {})
    twice = fuse_activations(fuse_activations(g).graph)
    assert not twice.modified
