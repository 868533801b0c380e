"""QDQ import: pre-quantized ONNX models (QuantizeLinear/DequantizeLinear around float ops)
become integer IR, checked against onnxruntime running the same QDQ model.

Small hand-built models pin each pattern (which integer op it becomes, what stays float);
the four official MLPerf Tiny int8 models are imported, compiled with TVM and compared with
onnxruntime on random int8 inputs and, for the vision models, real photos.

    .venv/bin/python -m tests.quant.test_qdq_import     # prints the per-model step table
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from compiler.errors import FrontendError
from compiler.frontend.onnx import import_onnx
from compiler.frontend.onnx_qdq import float_ops, import_qdq
from compiler.ir import interpreter
from tests.oracle import make_model, run_ort, run_tvm

INT8, UINT8 = TensorProto.INT8, TensorProto.UINT8
MLPERF = Path(__file__).resolve().parents[2].parent / "shared" / "models" / "mlperf-tiny"


class Qdq:
    """Builds QDQ ONNX graphs: ``dq``/``q`` add the boundary nodes with their scale/zero point."""

    def __init__(self, seed: int = 0) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, np.ndarray] = {}
        self.rng = np.random.default_rng(seed)

    def const(self, name: str, value) -> str:
        self.inits[name] = np.asarray(value)
        return name

    def dq(self, x: str, scale, zp, axis: int | None = None, dtype=np.int8) -> str:
        out = f"{x}_dq{len(self.nodes)}"
        self.nodes.append(helper.make_node(
            "DequantizeLinear", [x, self.const(f"{out}_s", np.asarray(scale, np.float32)),
                                 self.const(f"{out}_z", np.asarray(zp, dtype))], [out],
            **({} if axis is None else {"axis": axis})))
        return out

    def q(self, x: str, scale: float, zp: int, out: str, dtype=np.int8) -> str:
        self.nodes.append(helper.make_node("QuantizeLinear", [x, self.const(f"{out}_s", np.float32(scale)),
                                                             self.const(f"{out}_z", np.asarray(zp, dtype))], [out]))
        return out

    def op(self, op_type: str, inputs: list[str], out: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def weights(self, name: str, shape, axis: int = 0, per_channel: bool = True) -> tuple[str, np.ndarray]:
        """Symmetric int8 weights dequantized per channel along ``axis`` (or per tensor)."""
        w = self.rng.integers(-127, 128, shape).astype(np.int8)
        scales = self.rng.uniform(0.002, 0.02, shape[axis] if per_channel else 1).astype(np.float32)
        return self.dq(self.const(name, w), scales if per_channel else scales[0],
                       np.zeros(len(scales) if per_channel else (), np.int8),
                       axis if per_channel else None), scales

    def bias(self, name: str, n: int, scales) -> str:
        b = self.rng.integers(-2000, 2000, n).astype(np.int32)
        return self.dq(self.const(name, b), np.asarray(scales, np.float32), np.zeros(n, np.int32), 0, np.int32)

    def model(self, inputs: dict, outputs: list[str], opset: int = 17, dtype=INT8) -> onnx.ModelProto:
        return make_model(self.nodes, inputs, outputs, self.inits, opset=opset, input_dtype=dtype)


def max_steps(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


def check(model: onnx.ModelProto, feeds: dict, ops: dict[str, int], tvm: bool = True, steps: int = 1):
    """The imported graph has exactly ``ops``; interpreter (and TVM) within ``steps`` of onnxruntime."""
    graph = import_qdq(model)
    assert graph.op_counts() == ops
    want = run_ort(model, feeds)
    got = interpreter.run(graph, feeds)
    unfused = interpreter.run(import_onnx(model), feeds)  # the converters alone: float between boundaries
    for name, expected in zip(graph.outputs, want):
        assert got[name].dtype == expected.dtype
        assert max_steps(got[name], expected) <= steps, f"{name}: more than {steps} step(s) from onnxruntime"
        assert max_steps(unfused[name], expected) <= 1, f"{name}: unfused import differs from onnxruntime"
    if tvm:
        for name, built in zip(graph.outputs, run_tvm(graph, feeds)):
            np.testing.assert_array_equal(built, got[name], err_msg=f"TVM build of {name} != interpreter")
    return graph


def int8_input(rng, shape, dtype=np.int8):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, shape).astype(dtype)


# -- layers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["relu", "clip", "depthwise", "no_bias", "float_bias", "per_tensor", "uint8"])
def test_conv_becomes_qconv(case):
    m = Qdq(seed=len(case))
    cin, cout, groups = (4, 4, 4) if case == "depthwise" else (3, 5, 1)
    dtype, zp = (np.uint8, 128) if case == "uint8" else (np.int8, -5)
    x = m.dq("x", 0.05, zp, dtype=dtype)
    w, ws = m.weights("w", (cout, cin // groups, 3, 3), per_channel=case != "per_tensor")
    ins = [x, w]
    if case == "float_bias":
        ins.append(m.const("b", m.rng.normal(0, 0.5, cout).astype(np.float32)))
    elif case != "no_bias":
        ins.append(m.bias("b", cout, np.broadcast_to(0.05 * ws, (cout,))))
    y = m.op("Conv", ins, "conv", pads=[1, 0, 1, 1], strides=[1, 2], group=groups)
    if case == "clip":
        y = m.op("Clip", [y, m.const("lo", np.float32(0)), m.const("hi", np.float32(3))], "clipped")
    elif case != "no_bias":
        y = m.op("Relu", [y], "relu")
    m.q(y, 0.04, -128 if case != "uint8" else 0, "y", dtype)
    model = m.model({"x": (1, cin, 7, 8)}, ["y"], dtype=UINT8 if case == "uint8" else INT8)
    graph = check(model, {"x": int8_input(m.rng, (1, cin, 7, 8), dtype)}, {"qconv": 1})
    layer = graph.nodes[0]
    assert layer.attrs["act_max"] == (None if case != "clip" else round(3 / 0.04) - 128)


@pytest.mark.parametrize("form", ["gemm", "matmul_add", "matmul_3d"])
def test_dense_becomes_qdense(form):
    m = Qdq(seed=3)
    rows = (2, 3) if form == "matmul_3d" else (3,)
    x = m.dq("x", 0.1, 7)
    if form == "gemm":
        w, ws = m.weights("w", (8, 16), axis=0)
        y = m.op("Gemm", [x, w, m.bias("b", 8, 0.1 * ws)], "acc", transB=1)
    else:
        w, ws = m.weights("w", (16, 8), axis=1)
        y = m.op("Add", [m.op("MatMul", [x, w], "mm"), m.bias("b", 8, 0.1 * ws)], "acc")
    m.q(m.op("Relu", [y], "relu"), 0.08, -128, "y")
    check(m.model({"x": (*rows, 16)}, ["y"]), {"x": int8_input(m.rng, (*rows, 16))}, {"qdense": 1})


# -- elementwise and pooling ----------------------------------------------------------------
@pytest.mark.parametrize("op,relu,expect", [("Add", True, "qadd"), ("Sub", False, "qadd"), ("Mul", False, "qmul")])
def test_binary(op, relu, expect):
    m = Qdq(seed=4)
    y = m.op(op, [m.dq("a", 0.05, 3), m.dq("b", 0.11, -9)], "sum")
    m.q(m.op("Relu", [y], "relu") if relu else y, 0.07 if op != "Mul" else 0.3, -20, "y")
    rng = m.rng
    check(m.model({"a": (1, 4, 5, 5), "b": (1, 4, 1, 1)}, ["y"]),
          {"a": int8_input(rng, (1, 4, 5, 5)), "b": int8_input(rng, (1, 4, 1, 1))}, {expect: 1}, tvm=op == "Add")


@pytest.mark.parametrize("op,out_scale,expect", [
    ("AveragePool", 0.05, {"qavg_pool": 1}),
    ("GlobalAveragePool", 0.05, {"qavg_pool": 1}),
    ("AveragePool", 0.03, {"dequantize": 1, "avg_pool": 1, "quantize": 1}),  # a new scale: stays float
])
def test_average_pool(op, out_scale, expect):
    m = Qdq(seed=5)
    attrs = {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]} if op == "AveragePool" else {}
    m.q(m.op(op, [m.dq("x", 0.05, -10)], "pool", **attrs), out_scale, -10, "y")
    check(m.model({"x": (1, 3, 9, 9)}, ["y"]), {"x": int8_input(m.rng, (1, 3, 9, 9))}, expect, tvm=False)


def test_data_movement_runs_on_integers():
    """Reshape/Transpose keep the grid; a MaxPool to a new grid is a max_pool and a requantize."""
    m = Qdq(seed=6)
    t = m.q(m.op("Transpose", [m.dq("x", 0.05, 4)], "t", perm=[0, 2, 3, 1]), 0.05, 4, "t_q")
    r = m.q(m.op("Reshape", [m.dq(t, 0.05, 4), m.const("shape", np.array([1, -1]))], "r"), 0.05, 4, "y1")
    m.q(m.op("MaxPool", [m.dq("x", 0.05, 4)], "mp", kernel_shape=[2, 2]), 0.02, -30, "y2")
    assert r == "y1"
    check(m.model({"x": (1, 3, 4, 4)}, ["y1", "y2"]), {"x": int8_input(m.rng, (1, 3, 4, 4))},
          {"transpose": 1, "reshape": 1, "max_pool": 1, "requantize": 1})


def test_concat_requantizes_inputs_to_the_output_grid():
    m = Qdq(seed=7)
    m.q(m.op("Concat", [m.dq("a", 0.05, 4), m.dq("b", 0.1, -3)], "cat", axis=1), 0.1, -3, "y")
    check(m.model({"a": (1, 2, 3), "b": (1, 4, 3)}, ["y"]),
          {"a": int8_input(m.rng, (1, 2, 3)), "b": int8_input(m.rng, (1, 4, 3))},
          {"requantize": 1, "concat": 1}, tvm=False)


def test_elementwise_function_becomes_a_table():
    m = Qdq(seed=8)
    m.q(m.op("Sigmoid", [m.dq("x", 0.06, 0)], "s"), 1 / 256, -128, "y")
    graph = check(m.model({"x": (2, 128)}, ["y"]), {"x": np.arange(-128, 128, dtype=np.int8).reshape(2, 128)},
                  {"lut": 1}, tvm=False)
    assert graph.nodes[0].op == "lut"


def test_quantize_takes_a_relu_as_its_clamp():
    m = Qdq(seed=11)
    m.q(m.op("Relu", ["x"], "r"), 0.05, -20, "y")
    graph = check(m.model({"x": (3, 7)}, ["y"], dtype=TensorProto.FLOAT),
                  {"x": m.rng.normal(0, 3, (3, 7)).astype(np.float32)}, {"quantize": 1}, tvm=False)
    assert graph.nodes[0].attrs["act_min"] == -20


def test_requantize_and_what_stays_float():
    """Q(DQ(x)) and Q(Relu(DQ(x))) change grid or clamp in integers; a Softmax keeps float
    between its boundaries."""
    m = Qdq(seed=9)
    m.q(m.dq("x", 0.05, 4), 0.08, 120, "y1", np.uint8)
    m.q(m.op("Softmax", [m.dq("x", 0.05, 4)], "sm", axis=-1), 1 / 256, -128, "y2")
    m.q(m.op("Relu", [m.dq("x", 0.05, 4)], "relu"), 0.05, 4, "y3")
    graph = check(m.model({"x": (2, 10)}, ["y1", "y2", "y3"]), {"x": int8_input(m.rng, (2, 10))},
                  {"requantize": 2, "dequantize": 1, "softmax": 1, "quantize": 1})
    assert float_ops(graph) == {"dequantize": 1, "softmax": 1}
    assert graph.nodes[-1].attrs["act_min"] == 4  # real 0 on the output grid


# -- opsets and errors ----------------------------------------------------------------------
@pytest.mark.parametrize("opset", [10, 13, 21])
def test_opsets(opset):
    m = Qdq(seed=10)
    y = m.op("Add", [m.dq("a", 0.05, 3), m.dq("b", 0.05, 3)], "sum")
    m.q(y, 0.1, 0, "y")
    check(m.model({"a": (2, 3), "b": (2, 3)}, ["y"], opset=opset),
          {"a": int8_input(m.rng, (2, 3)), "b": int8_input(m.rng, (2, 3))}, {"qadd": 1}, tvm=False)


def test_quantize_without_zero_point_is_uint8():
    node = helper.make_node("QuantizeLinear", ["x", "s"], ["y"])
    model = make_model([node], {"x": (4,)}, ["y"], {"s": np.float32(0.1)})
    x = np.array([-1, 0.05, 0.15, 30], np.float32)
    graph = import_qdq(model)
    np.testing.assert_array_equal(interpreter.run(graph, {"x": x})["y"], run_ort(model, {"x": x})[0])


def test_per_axis_quantize_and_dequantize_of_computed_tensors():
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1)]
    inits = {"s": np.array([0.1, 0.02, 0.5], np.float32), "z": np.array([0, -7, 100], np.int8)}
    model = make_model(nodes, {"x": (2, 3, 4)}, ["q", "y"], inits)
    x = np.random.default_rng(12).normal(0, 4, (2, 3, 4)).astype(np.float32)
    x[0, 0, :3] = [0.05, 0.15, -0.25]  # exact ties: half to even
    for got, want in zip(interpreter.run(import_qdq(model), {"x": x}).values(), run_ort(model, {"x": x})):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("what,match", [
    ("int16", "quantizes to int16"),
    ("computed_scale", "scale input"),
    ("float_scale", "scale must be float32"),
])
def test_errors(what, match):
    if what == "float_scale":
        nodes = [helper.make_node("QuantizeLinear", ["x", "s"], ["y"])]
        inits = {"s": np.float64(0.1)}
    elif what == "int16":
        nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])]
        inits = {"s": np.float32(0.1), "z": np.int16(0)}
    else:
        nodes = [helper.make_node("Abs", ["x"], ["s"]), helper.make_node("QuantizeLinear", ["x", "s"], ["y"])]
        inits = {}
    with pytest.raises(FrontendError, match=match):
        import_qdq(make_model(nodes, {"x": (3, 2)}, ["y"], inits, opset=21 if what == "int16" else 17))


# -- the official MLPerf Tiny int8 models ---------------------------------------------------
MODELS = {  # name: (integer ops expected, max steps from onnxruntime allowed: output, int8 logits)
    "ad_autoencoder": ({"qdense": 10}, (1, None)),
    "kws_dscnn": ({"qconv": 9, "qavg_pool": 1, "qdense": 1}, (1, 1)),
    "vww_mobilenetv1": ({"qconv": 27, "qavg_pool": 1, "qdense": 1}, (1, 1)),
    # ResNet-8's 8x8 average pool: sums = 32 (mod 64) are exact ties that onnxruntime's float32
    # average rounds either way, edgec away from zero (as TFLite does); one step there becomes up to
    # 4 at the logits (Gemm) and up to 27 in the Softmax output (steps of 1/256), measured on 58 inputs
    "ic_resnet8": ({"qconv": 9, "qadd": 3, "qavg_pool": 1, "qdense": 1}, (27, 4)),
}
FLOAT_OPS = {"ad_autoencoder": {}}
QUANTIZED_OPS = ("qconv", "qdense", "qadd", "qmul", "qavg_pool", "requantize", "lut")


def photos(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Real photos from scikit-image (if installed), resized to an NHWC input, as pixels 0..255."""
    try:
        from skimage import data, transform
    except ImportError:
        return []
    images = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry(),
              data.hubble_deep_field(), data.colorwheel(), data.retina()]
    return [transform.resize(im[..., :3], shape[1:3], anti_aliasing=True, preserve_range=True)[None]
            for im in images]


def input_grid(model: onnx.ModelProto) -> tuple[float, int]:
    """The scale and zero point of the DequantizeLinear reading the model's input (through moves)."""
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    values = {model.graph.input[0].name}
    for node in model.graph.node:
        if node.input and node.input[0] in values:
            if node.op_type == "DequantizeLinear":
                return float(inits[node.input[1]]), int(inits[node.input[2]])
            values.update(node.output)
    raise AssertionError("no DequantizeLinear on the input")


def samples(name: str, model: onnx.ModelProto, shape: tuple[int, ...], count: int) -> list[np.ndarray]:
    """Random int8 inputs over the whole input grid, then photos mapped onto the grid's real range."""
    rng = np.random.default_rng(0)
    out = [int8_input(rng, shape) for _ in range(count)]
    if name in ("ic_resnet8", "vww_mobilenetv1"):
        scale, zp = input_grid(model)
        top = (127 - zp) * scale  # ResNet-8 reads pixels 0..255, MobileNet pixels / 255
        out += [np.clip(np.rint(p / 255 * top / scale) + zp, -128, 127).astype(np.int8) for p in photos(shape)]
    return out


def logits_of(graph) -> str | None:
    """The int8 tensor a float Softmax reads (through its dequantize), if the model ends in one."""
    producers = graph.producers()
    for node in graph.nodes:
        if node.op == "softmax" and producers[node.inputs[0]].op == "dequantize":
            return producers[node.inputs[0]].inputs[0]
    return None


def measure(name: str, count: int = 8) -> dict:
    """Import, compile with TVM, run random inputs and photos: steps from onnxruntime per sample
    at the output and, for models ending in a Softmax, at the int8 logits before it."""
    model = onnx.load(MLPERF / f"{name}_int8_qdq.onnx")
    graph = import_qdq(model)
    (inp,), (out,) = graph.inputs, graph.outputs
    xs = samples(name, model, graph.types[inp].shape, count)
    batch = np.concatenate(xs)
    batched = import_qdq(model, input_shapes={inp: batch.shape})
    logits = logits_of(batched)
    if logits is not None:  # the same name in both: QuantizeLinear outputs keep their names
        batched.outputs.append(logits)
        model.graph.output.append(helper.make_empty_tensor_value_info(logits))
    want = run_ort(model, {inp: batch})
    got = run_tvm(batched, {inp: batch})

    def steps(i: int) -> np.ndarray:
        return np.abs(got[i].astype(np.int64) - want[i].astype(np.int64)).reshape(len(xs), -1).max(axis=1)

    return {"graph": graph, "steps": steps(0), "logit_steps": steps(1) if logits else None,
            "photos": len(xs) - count,
            "agree": np.mean(got[0].reshape(len(xs), -1).argmax(1) == want[0].reshape(len(xs), -1).argmax(1)),
            "tvm_equals_interpreter": np.array_equal(got[0][:1], interpreter.run(graph, {inp: xs[0]})[out])}


@pytest.mark.skipif(not MLPERF.exists(), reason="MLPerf Tiny models not present")
@pytest.mark.parametrize("name", list(MODELS))
def test_mlperf_tiny_int8(name):
    ops, allowed = MODELS[name]
    result = measure(name)
    graph = result["graph"]
    assert {op: n for op, n in graph.op_counts().items() if op in QUANTIZED_OPS} == ops
    assert float_ops(graph) == FLOAT_OPS.get(name, {"dequantize": 1, "softmax": 1})
    assert result["tvm_equals_interpreter"]
    assert result["steps"].max() <= allowed[0], f"{name}: steps from onnxruntime per sample {result['steps']}"
    if allowed[1] is not None:
        assert result["logit_steps"].max() <= allowed[1], f"{name}: logit steps {result['logit_steps']}"
    assert result["agree"] == 1.0


def main() -> None:
    print("| model | integer ops | float ops | samples (random + photos) | max steps: output | logits | "
          "output steps per sample | top-1 agreement |")
    print("|---|---|---|---|---|---|---|---|")
    for name in MODELS:
        r = measure(name, count=50)
        ops = ", ".join(f"{op} {n}" for op, n in r["graph"].op_counts().items() if op in QUANTIZED_OPS)
        floats = ", ".join(f"{op} {n}" for op, n in float_ops(r["graph"]).items()) or "none"
        hist = ", ".join(f"{s}: {n}" for s, n in enumerate(np.bincount(r["steps"])) if n)
        logit = "-" if r["logit_steps"] is None else r["logit_steps"].max()
        print(f"| {name} | {ops} | {floats} | {len(r['steps']) - r['photos']} + {r['photos']} | "
              f"{r['steps'].max()} | {logit} | {hist} | {r['agree']:.0%} |")


if __name__ == "__main__":
    main()
