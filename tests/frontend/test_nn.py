"""Layers: ONNX -> IR -> {interpreter, TVM, exported ONNX} against onnxruntime.

Covers Conv, ConvTranspose, Gemm, MatMul, BatchNormalization, LRN and the pooling ops over
strides, pads, dilations, groups, ceil_mode, auto_pad, batch > 1, odd channel counts and
1-D/3-D variants, plus the clear errors for what edgec does not support.
"""

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler.codegen.lower import to_relax
from compiler.errors import FrontendError, LoweringError
from compiler.export import export_onnx
from compiler.frontend.onnx import import_onnx
from compiler.ir import interpreter
from compiler.ir.builder import GraphBuilder
from tests.oracle import check_model, make_model, rand, run_ort, run_tvm


def _node(op, inputs, **attrs):
    return helper.make_node(op, inputs, ["y"], **attrs)


# -- Conv ---------------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape,w_shape,attrs", [
    ((1, 3, 8, 8), (4, 3, 3, 3), {}),
    ((2, 3, 9, 7), (5, 3, 3, 2), {"strides": [2, 1], "pads": [1, 0, 2, 1]}),
    ((1, 4, 10, 10), (6, 4, 3, 3), {"dilations": [2, 3], "pads": [2, 3, 2, 3]}),
    ((1, 6, 7, 7), (6, 1, 3, 3), {"group": 6, "pads": [1, 1, 1, 1], "strides": [2, 2]}),  # depthwise
    ((2, 6, 8, 8), (9, 2, 3, 3), {"group": 3, "pads": [1, 1, 1, 1]}),                     # grouped, odd M
    ((1, 5, 9, 9), (7, 5, 1, 1), {"kernel_shape": [1, 1]}),                                 # pointwise
    ((1, 3, 9, 10), (4, 3, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 3, 9, 10), (4, 3, 4, 4), {"auto_pad": "SAME_LOWER", "strides": [2, 3]}),
    ((1, 3, 9, 10), (4, 3, 3, 3), {"auto_pad": "VALID", "strides": [2, 2]}),
    ((2, 3, 16), (4, 3, 5), {"strides": [3], "pads": [2, 1], "dilations": [2]}),            # 1-D
    ((1, 2, 5, 6, 7), (3, 2, 3, 2, 3), {"strides": [1, 2, 2], "pads": [1, 0, 1, 1, 1, 0]}),  # 3-D
])
@pytest.mark.parametrize("bias", [True, False])
def test_conv(x_shape, w_shape, attrs, bias):
    inits = {"w": rand(*w_shape, seed=1)}
    if bias:
        inits["b"] = rand(w_shape[0], seed=2)
    model = make_model([_node("Conv", ["x", "w"] + (["b"] if bias else []), **attrs)], {"x": x_shape}, ["y"], inits)
    check_model(model, {"x": rand(*x_shape)}, rtol=1e-4, atol=1e-4)


def test_conv_weight_as_input():
    model = make_model([_node("Conv", ["x", "w"], pads=[1, 1, 1, 1])], {"x": (1, 3, 6, 6), "w": (2, 3, 3, 3)}, ["y"])
    check_model(model, {"x": rand(1, 3, 6, 6), "w": rand(2, 3, 3, 3, seed=1)}, atol=1e-4)


# -- ConvTranspose ------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape,w_shape,attrs", [
    ((1, 3, 5, 5), (3, 4, 3, 3), {}),
    ((2, 3, 5, 4), (3, 2, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 3, 5, 5), (3, 2, 3, 3), {"strides": [2, 3], "pads": [0, 1, 1, 0], "output_padding": [1, 2]}),
    ((1, 2, 4, 4), (2, 3, 3, 3), {"strides": [3, 2], "output_padding": [2, 1]}),  # padding past the input
    ((1, 2, 5, 5), (2, 3, 3, 2), {"dilations": [2, 2], "strides": [2, 1], "pads": [1, 2, 0, 1]}),
    ((1, 4, 5, 5), (4, 3, 3, 3), {"group": 2, "strides": [2, 2]}),
    ((1, 3, 4, 4), (3, 1, 3, 3), {"group": 3, "strides": [2, 2], "pads": [1, 1, 1, 1]}),  # depthwise
    ((1, 3, 5, 5), (3, 2, 3, 3), {"strides": [2, 2], "output_shape": [10, 11]}),
    ((1, 3, 5, 5), (3, 2, 3, 3), {"strides": [2, 2], "output_shape": [12, 11]}),   # larger than full
    ((1, 3, 5, 5), (3, 2, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 3, 5, 5), (3, 2, 4, 4), {"strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    ((1, 3, 5, 5), (3, 2, 3, 3), {"strides": [2, 2], "auto_pad": "VALID"}),
    ((2, 3, 7), (3, 5, 4), {"strides": [3], "pads": [1, 2], "dilations": [2], "output_padding": [1]}),  # 1-D
    ((1, 2, 3, 4, 3), (2, 3, 2, 3, 2), {"strides": [2, 1, 2], "pads": [0, 1, 0, 1, 0, 0]}),              # 3-D
])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose(x_shape, w_shape, attrs, bias):
    inits = {"w": rand(*w_shape, seed=1)}
    if bias:
        inits["b"] = rand(w_shape[1] * attrs.get("group", 1), seed=2)
    model = make_model([_node("ConvTranspose", ["x", "w"] + (["b"] if bias else []), **attrs)], {"x": x_shape},
                       ["y"], inits)
    check_model(model, {"x": rand(*x_shape)}, atol=1e-4)


# -- Gemm / MatMul ------------------------------------------------------------------------
@pytest.mark.parametrize("attrs", [{}, {"transA": 1}, {"transB": 1}, {"transA": 1, "transB": 1, "alpha": 0.5},
                                   {"alpha": 2.0, "beta": 0.25}, {"beta": 0.0}])
@pytest.mark.parametrize("c_shape", [None, (5,), (1, 5), (3, 5), (3, 1), ()])
def test_gemm_constant_b(attrs, c_shape):
    a_shape = (4, 3) if attrs.get("transA") else (3, 4)
    b_shape = (5, 4) if attrs.get("transB") else (4, 5)
    inits = {"b": rand(*b_shape, seed=1)}
    if c_shape is not None:
        inits["c"] = rand(*c_shape, seed=2)
    model = make_model([_node("Gemm", ["a", "b"] + (["c"] if c_shape is not None else []), **attrs)],
                       {"a": a_shape}, ["y"], inits)
    graph = check_model(model, {"a": rand(*a_shape)})
    assert "dense" in graph.op_counts()


@pytest.mark.parametrize("attrs", [{}, {"transB": 1, "alpha": 0.5, "beta": 2.0}, {"transA": 1}])
def test_gemm_inputs_only(attrs):
    a_shape = (4, 3) if attrs.get("transA") else (3, 4)
    b_shape = (5, 4) if attrs.get("transB") else (4, 5)
    model = make_model([_node("Gemm", ["a", "b", "c"], **attrs)], {"a": a_shape, "b": b_shape, "c": (3, 5)}, ["y"])
    check_model(model, {"a": rand(*a_shape), "b": rand(*b_shape, seed=1), "c": rand(3, 5, seed=2)})


def test_gemm_opset7_bias_row():
    model = make_model([_node("Gemm", ["a", "b", "c"], beta=0.5)], {"a": (2, 4)}, ["y"],
                       {"b": rand(4, 6, seed=1), "c": rand(6, seed=2)}, opset=7)
    graph = check_model(model, {"a": rand(2, 4)})
    assert graph.op_counts() == {"dense": 1}


@pytest.mark.parametrize("a_shape,b_shape", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((4,), (4, 5)),
                                             ((2, 1, 3, 4), (4, 7))])
def test_matmul_constant_b_is_dense(a_shape, b_shape):
    model = make_model([_node("MatMul", ["a", "b"])], {"a": a_shape}, ["y"], {"b": rand(*b_shape, seed=1)})
    graph = check_model(model, {"a": rand(*a_shape)})
    assert graph.op_counts() == {"dense": 1}


@pytest.mark.parametrize("a_shape,b_shape", [((3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (3, 4, 2)),
                                             ((4,), (2, 4, 3)), ((2, 3, 4), (4,)), ((4,), (4,))])
def test_matmul_inputs(a_shape, b_shape):
    model = make_model([_node("MatMul", ["a", "b"])], {"a": a_shape, "b": b_shape}, ["y"])
    check_model(model, {"a": rand(*a_shape), "b": rand(*b_shape, seed=1)})


def test_matmul_int32():
    model = make_model([_node("MatMul", ["a", "b"])], {"a": (3, 4), "b": (4, 2)}, ["y"],
                       input_dtype=onnx.TensorProto.INT32)
    rng = np.random.default_rng(0)
    check_model(model, {"a": rng.integers(-50, 50, (3, 4)).astype("int32"),
                        "b": rng.integers(-50, 50, (4, 2)).astype("int32")})


# -- BatchNormalization -------------------------------------------------------------------
def _bn_params(c: int) -> dict:
    return {"scale": rand(c, seed=1), "bias": rand(c, seed=2), "mean": rand(c, seed=3),
            "var": np.abs(rand(c, seed=4)) + 0.1}


@pytest.mark.parametrize("opset", [7, 9, 14, 15])
@pytest.mark.parametrize("x_shape", [(2, 5), (2, 5, 7), (1, 3, 4, 5), (2, 3, 2, 3, 4)])
def test_batch_norm(opset, x_shape):
    model = make_model([_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], epsilon=1e-3)],
                       {"x": x_shape}, ["y"], _bn_params(x_shape[1]), opset=opset)
    graph = check_model(model, {"x": rand(*x_shape)})
    assert graph.op_counts() == {"batch_norm": 1}


def test_batch_norm_statistics_as_inputs():
    params = _bn_params(4)
    model = make_model([_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"])],
                       {"x": (2, 4, 3, 3), "scale": (4,), "bias": (4,), "mean": (4,), "var": (4,)}, ["y"])
    check_model(model, {"x": rand(2, 4, 3, 3), **params})


# -- LRN ----------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 3, 5])
def test_lrn(size):
    model = make_model([_node("LRN", ["x"], size=size, alpha=0.02, beta=0.6, bias=1.5)], {"x": (2, 7, 4, 5)}, ["y"])
    check_model(model, {"x": rand(2, 7, 4, 5)})


def _lrn_spec(x: np.ndarray, size: int, alpha: float, beta: float, bias: float) -> np.ndarray:
    """LRN written from the ONNX spec's formula, one channel at a time."""
    x64 = x.astype(np.float64)
    out = np.empty_like(x64)
    for c in range(x.shape[1]):
        lo, hi = max(0, c - (size - 1) // 2), min(x.shape[1] - 1, c + -(-(size - 1) // 2))
        square_sum = np.sum(x64[:, lo:hi + 1] ** 2, axis=1)
        out[:, c] = x64[:, c] / (bias + alpha / size * square_sum) ** beta
    return out.astype(x.dtype)


@pytest.mark.parametrize("size,x_shape", [(2, (1, 6, 3, 3)), (4, (2, 5, 2, 3)), (3, (1, 5, 6)), (3, (1, 4, 2, 3, 3))])
def test_lrn_beyond_onnxruntime(size, x_shape):
    """onnxruntime only runs odd sizes on 4-D inputs (and ONNX's reference evaluator loops over the
    batch instead of the channels), so the spec's formula in numpy is the oracle here."""
    model = make_model([_node("LRN", ["x"], size=size, alpha=0.02, beta=0.6, bias=1.5)], {"x": x_shape}, ["y"])
    x = rand(*x_shape)
    want = _lrn_spec(x, size, 0.02, 0.6, 1.5)
    graph = import_onnx(model)
    np.testing.assert_allclose(interpreter.run(graph, {"x": x})["y"], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run_tvm(graph, {"x": x})[0], want, rtol=1e-5, atol=1e-6)


# -- pooling ------------------------------------------------------------------------------
_POOL_CASES = [
    ((1, 3, 8, 8), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ((2, 5, 9, 7), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 3, 8, 7), {"kernel_shape": [3, 2], "strides": [2, 3], "pads": [1, 0, 2, 1], "ceil_mode": 1}),
    ((1, 2, 7, 7), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ((1, 2, 6, 6), {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}),
    ((1, 2, 9, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 2, 9, 8), {"kernel_shape": [4, 3], "strides": [3, 2], "auto_pad": "SAME_LOWER"}),
    ((1, 2, 9, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "VALID"}),
    ((2, 3, 11), {"kernel_shape": [3], "strides": [2], "pads": [1, 2], "ceil_mode": 1}),                 # 1-D
    ((1, 2, 5, 6, 7), {"kernel_shape": [2, 3, 2], "strides": [2, 2, 1], "pads": [0, 1, 1, 1, 1, 0]}),     # 3-D
]
_DILATED_CASES = [
    ((1, 3, 10, 10), {"kernel_shape": [3, 3], "dilations": [2, 2]}),
    ((1, 2, 9, 10), {"kernel_shape": [2, 3], "dilations": [3, 2], "strides": [2, 2], "pads": [1, 2, 1, 0],
                     "ceil_mode": 1}),
]


@pytest.mark.parametrize("x_shape,attrs", _POOL_CASES + _DILATED_CASES)
def test_max_pool(x_shape, attrs):
    model = make_model([_node("MaxPool", ["x"], **attrs)], {"x": x_shape}, ["y"], opset=12)
    check_model(model, {"x": rand(*x_shape)})


def test_max_pool_uint8():
    model = make_model([_node("MaxPool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])],
                       {"x": (1, 2, 5, 5)}, ["y"], opset=12, input_dtype=onnx.TensorProto.UINT8)
    check_model(model, {"x": np.random.default_rng(0).integers(0, 255, (1, 2, 5, 5)).astype("uint8")})


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize("x_shape,attrs", _POOL_CASES)
def test_avg_pool(x_shape, attrs, count_include_pad):
    model = make_model([_node("AveragePool", ["x"], count_include_pad=count_include_pad, **attrs)], {"x": x_shape},
                       ["y"], opset=11)
    check_model(model, {"x": rand(*x_shape)})


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize("x_shape,attrs", _DILATED_CASES)
def test_avg_pool_dilated_opset19(x_shape, attrs, count_include_pad):
    model = make_model([_node("AveragePool", ["x"], count_include_pad=count_include_pad, **attrs)], {"x": x_shape},
                       ["y"], opset=19)
    check_model(model, {"x": rand(*x_shape)})


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("x_shape", [(2, 3, 7), (1, 5, 4, 6), (2, 3, 2, 3, 4)])
def test_global_pool(op, x_shape):
    model = make_model([_node(op, ["x"])], {"x": x_shape}, ["y"])
    check_model(model, {"x": rand(*x_shape)})


# -- clear errors -------------------------------------------------------------------------
def _import_error(nodes, inputs, initializers=None, opset=17) -> str:
    model = make_model(nodes, inputs, [n.output[0] for n in nodes[-1:]], initializers, opset=opset)
    with pytest.raises(FrontendError) as err:
        import_onnx(model)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_max_pool_indices_output_is_refused():
    node = helper.make_node("MaxPool", ["x"], ["y", "idx"], kernel_shape=[2, 2], name="mp")
    message = _import_error([node], {"x": (1, 1, 4, 4)})
    assert "MaxPool node 'mp'" in message and "Indices" in message


def test_batch_norm_training_mode_is_refused():
    node = helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"], training_mode=1)
    message = _import_error([node], {"x": (2, 3, 4)}, _bn_params(3), opset=15)
    assert "training mode" in message


def test_batch_norm_training_outputs_are_refused():
    node = helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"],
                            ["y", "running_mean", "running_var"])
    assert "training mode" in _import_error([node], {"x": (2, 3, 4)}, _bn_params(3), opset=9)


@pytest.mark.parametrize("node,inputs,inits,needle", [
    (_node("Conv", ["x", "w"], kernel_shape=[2, 2]), {"x": (1, 3, 6, 6)}, {"w": rand(4, 3, 3, 3)}, "kernel_shape"),
    (_node("Conv", ["x", "w"], pads=[1, 1]), {"x": (1, 3, 6, 6)}, {"w": rand(4, 3, 3, 3)}, "pads"),
    (_node("Conv", ["x", "w"], group=2), {"x": (1, 3, 6, 6)}, {"w": rand(4, 3, 3, 3)}, "groups=2"),
    (_node("Conv", ["x", "w"]), {"x": (3, 6)}, {"w": rand(4, 3, 3)}, "needs input"),
    (_node("Conv", ["x", "w"], auto_pad="SAME"), {"x": (1, 3, 6, 6)}, {"w": rand(4, 3, 3, 3)}, "auto_pad"),
    (_node("ConvTranspose", ["x", "w"], group=2), {"x": (1, 3, 6, 6)}, {"w": rand(3, 2, 3, 3)}, "groups=2"),
    (_node("MaxPool", ["x"], kernel_shape=[9, 9]), {"x": (1, 3, 6, 6)}, None, "does not fit"),
    (_node("AveragePool", ["x"], kernel_shape=[2]), {"x": (1, 3, 6, 6)}, None, "kernel_shape"),
    (_node("Gemm", ["a", "b"]), {"a": (2, 3, 4)}, {"b": rand(4, 5)}, "2-D"),
    (_node("MatMul", ["a", "b"]), {"a": (2, 3)}, {"b": rand(4, 5)}, "do not match"),
    (_node("BatchNormalization", ["x", "s", "s", "s", "s"]), {"x": (1, 3, 4)}, {"s": rand(4)}, "shape [3]"),
])
def test_bad_layers_name_the_node(node, inputs, inits, needle):
    message = _import_error([node], inputs, inits)
    assert node.op_type in message and needle in message


def test_four_spatial_dims_import_but_do_not_lower():
    model = make_model([_node("MaxPool", ["x"], kernel_shape=[2, 2, 2, 2])], {"x": (1, 1, 3, 3, 3, 3)}, ["y"])
    graph = import_onnx(model)
    with pytest.raises(LoweringError, match="4 spatial dims are not supported"):
        to_relax(graph)


@pytest.mark.parametrize("weight_is_const", [True, False])
def test_dense_on_3d_input_exports_as_matmul_add(weight_is_const):
    """The frontend makes 3-D dense only without bias; passes may add one. numpy is the oracle."""
    x, w, b = rand(2, 3, 4), rand(5, 4, seed=1), rand(5, seed=2)
    builder = GraphBuilder()
    inputs = [builder.input("x", x.shape), builder.const(w, "w") if weight_is_const else builder.input("w", w.shape)]
    builder.output(builder.op("dense", inputs + [builder.const(b, "b")], outputs=["y"]))
    graph = builder.build()
    feeds = {"x": x} if weight_is_const else {"x": x, "w": w}
    (have,) = run_ort(export_onnx(graph), feeds)
    np.testing.assert_allclose(have, x @ w.T + b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run_tvm(graph, feeds)[0], x @ w.T + b, rtol=1e-5, atol=1e-5)
