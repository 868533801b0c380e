"""Scheduled CPU kernels (compiler/codegen/schedules) against the numpy reference interpreter
and the unscheduled TVM build, over randomized shapes.

Each test builds one ONNX model with several independent random branches of a kernel family
(odd channel counts, strides, asymmetric pads, dilation, groups, batch > 1, fused epilogues),
compiles it twice (scheduled with ``EDGEC_SCHEDULE_STRICT=1``, so a schedule that fails is an
error rather than a silent fallback, and unscheduled) and checks both against
``compiler.ir.interpreter`` (float64 accumulation). A structural check then asserts that each
fused function got the schedule of its family.
"""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
import tvm
from onnx import helper

import runtime
from compiler.codegen.build import compile_graph
from compiler.codegen.lower import to_relax
from compiler.codegen.schedules.pipeline import scheduled_kernels
from compiler.codegen.schedules.params import with_host_cpu
from compiler.frontend.onnx import import_onnx
from compiler.ir import interpreter
from compiler.pipeline import compress
from tests.oracle import make_model

RTOL, ATOL = 1e-4, 1e-5


class Branches:
    """Accumulates independent sub-graphs (one input each) into one model."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inputs, self.inits, self.outputs = [], {}, {}, []

    def input(self, shape) -> str:
        name = f"x{len(self.inputs)}"
        self.inputs[name] = tuple(int(d) for d in shape)
        return name

    def const(self, array: np.ndarray) -> str:
        name = f"c{len(self.inits)}"
        self.inits[name] = array.astype(np.float32)
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        out = f"t{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def weight(self, *shape) -> str:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        return self.const(self.rng.standard_normal(shape) / np.sqrt(fan_in))

    def model(self):
        return make_model(self.nodes, self.inputs, self.outputs, self.inits)

    def feeds(self) -> dict[str, np.ndarray]:
        return {n: self.rng.standard_normal(s).astype(np.float32) for n, s in self.inputs.items()}


def conv(b: Branches, x: str, cin: int, cout: int, groups: int = 1, kernel=(3, 3), stride=(1, 1),
         pads=(1, 1, 1, 1), dilation=(1, 1), bias: bool = True) -> str:
    inputs = [x, b.weight(cout, cin // groups, *kernel)] + ([b.const(b.rng.standard_normal(cout))] if bias else [])
    return b.node("Conv", inputs, kernel_shape=list(kernel), strides=list(stride), pads=list(pads),
                  dilations=list(dilation), group=groups)


def random_conv(b: Branches, kind: str) -> None:
    """One random conv branch (+ bias, maybe ReLU, maybe a residual add)."""
    r = b.rng
    n, h, w = int(r.integers(1, 4)), int(r.integers(6, 18)), int(r.integers(5, 18))
    kernel = [(1, 1), (3, 3), (5, 5), (1, 3), (3, 1), (7, 7)][int(r.integers(0, 6))]
    if kind == "regular":
        groups, cin, cout = 1, int(r.integers(1, 40)), int(r.integers(1, 70))
    elif kind == "grouped":
        groups = int(r.integers(2, 5))
        cin, cout = groups * int(r.integers(1, 12)), groups * int(r.integers(1, 40))
    else:  # depthwise, sometimes with a channel multiplier (a grouped conv with one input channel)
        groups = cin = int(r.integers(1, 40))
        cout = cin * (1 if kind == "depthwise" else 2)
    stride = tuple(int(s) for s in r.integers(1, 3, 2))
    dilation = (2, 2) if r.random() < 0.2 and kernel[0] == kernel[1] > 1 else (1, 1)
    pads = tuple(int(r.integers(0, k)) for k in kernel) + tuple(int(r.integers(0, k)) for k in kernel)
    pads = (pads[0], pads[1], pads[2], pads[3])
    y = conv(b, b.input((n, cin, h, w)), cin, cout, groups, kernel, stride, pads, dilation)
    if r.random() < 0.6:
        y = b.node("Relu", [y])
    if r.random() < 0.4:  # residual: the second operand is a graph input of the output's shape
        oh = (h + pads[0] + pads[2] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
        ow = (w + pads[1] + pads[3] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
        y = b.node("Add", [y, b.input((n, cout, oh, ow))])
    b.outputs.append(y)


def run_build(graph, feeds, schedule: bool) -> dict[str, np.ndarray]:
    with tempfile.TemporaryDirectory() as tmp:
        compile_graph(graph, f"{tmp}/art", schedule=schedule)
        return runtime.load(f"{tmp}/art").run(feeds)


def check(b: Branches, monkeypatch) -> dict[str, int]:
    """Scheduled and unscheduled builds vs the reference; returns the families scheduled."""
    monkeypatch.setenv("EDGEC_SCHEDULE_STRICT", "1")
    graph = compress(import_onnx(b.model())).graph
    feeds = b.feeds()
    want = interpreter.run(graph, feeds)
    for schedule in (True, False):
        got = run_build(graph, feeds, schedule)
        for name in graph.outputs:
            np.testing.assert_allclose(got[name], want[name], rtol=RTOL, atol=ATOL,
                                       err_msg=f"{'scheduled' if schedule else 'unscheduled'} build, {name}")
    mod = scheduled_kernels(to_relax(graph), with_host_cpu(tvm.target.Target({"kind": "llvm"})), strict=True)
    families: dict[str, int] = {}
    for func in mod.functions.values():
        if isinstance(func, tvm.tirx.PrimFunc):
            kind = str(func.attrs["edgec.schedule"])
            families[kind] = families.get(kind, 0) + 1
    return families


@pytest.mark.parametrize("seed", [0, 1])
def test_convolutions(seed, monkeypatch):
    b = Branches(seed)
    for kind in ["regular", "regular", "regular", "grouped", "grouped", "depthwise", "depthwise", "multiplier"]:
        random_conv(b, kind)
    families = check(b, monkeypatch)
    assert families.get("conv", 0) + families.get("depthwise", 0) >= 7, families


def test_shufflenet_style_grouped_convs(monkeypatch):
    """Groups whose channel counts are not multiples of the vector width (34, 6, 68 per group),
    a 3-channel input conv with 24 outputs, and a depthwise conv on 136 channels."""
    b = Branches(7)
    x = b.input((2, 3, 15, 15))
    y = b.node("Relu", [conv(b, x, 3, 24, stride=(2, 2))])
    y = b.node("Relu", [conv(b, y, 24, 136, groups=4, kernel=(1, 1), pads=(0, 0, 0, 0))])
    y = conv(b, y, 136, 136, groups=136, stride=(2, 2))
    y = conv(b, y, 136, 272, groups=4, kernel=(1, 1), pads=(0, 0, 0, 0))
    b.outputs.append(b.node("Relu", [b.node("Add", [y, conv(b, y, 272, 272, groups=272)])]))
    assert check(b, monkeypatch)["conv"] >= 3


def test_channel_padding_for_the_register_tile(monkeypatch):
    """1000 output channels over a 13-pixel row are padded to 66 vectors (a 13x2 tile, not 63
    vectors' 7x3); a residual add and ReLU read only the real channels, matching the reference."""
    from compiler.codegen.schedules.conv import aliasing_pixels, padded_channel_vectors
    from compiler.codegen.schedules.params import CpuParams

    avx512 = CpuParams(lanes=16, registers=32)
    assert padded_channel_vectors(1000, 13, avx512) == 66
    assert padded_channel_vectors(1024, 14, avx512) == 64  # a 7x2 tile is fine already
    assert padded_channel_vectors(1000, 1, avx512) == 63  # one-pixel rows stream their weights
    assert aliasing_pixels(1024 * 4, avx512) == 7 and aliasing_pixels(992 * 4, avx512) is None
    b = Branches(11)
    x = b.input((1, 40, 13, 13))
    y = conv(b, x, 40, 1000, kernel=(1, 1), pads=(0, 0, 0, 0))
    b.outputs.append(b.node("Relu", [b.node("Add", [y, conv(b, x, 40, 1000)])]))
    assert check(b, monkeypatch)["conv"] >= 1


@pytest.mark.parametrize("seed", [0, 1])
def test_dense(seed, monkeypatch):
    b = Branches(seed)
    for features in [1, 7, 16, 33, 1000]:
        m, k = int(b.rng.integers(1, 6)), int(b.rng.integers(1, 300))
        y = b.node("Gemm", [b.input((m, k)), b.weight(features, k), b.const(b.rng.standard_normal(features))],
                   transB=1)
        b.outputs.append(b.node("Relu", [y]) if features % 2 else y)
    batched = b.node("MatMul", [b.input((2, 3, 37)), b.const(b.rng.standard_normal((37, 19)))])
    b.outputs.append(batched)
    assert check(b, monkeypatch)["dense"] >= 5


def test_pooling_and_reductions(monkeypatch):
    """Pools and spatial means after a conv (so in NHWC), and on a raw NCHW input."""
    b = Branches(3)
    y = conv(b, b.input((2, 5, 17, 13)), 5, 21)
    b.outputs += [
        b.node("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 1, 1], ceil_mode=1),
        b.node("AveragePool", [y], kernel_shape=[3, 2], strides=[2, 1], pads=[1, 1, 0, 0]),
        b.node("AveragePool", [y], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
        b.node("GlobalAveragePool", [y]),
        b.node("GlobalMaxPool", [y]),
        b.node("ReduceMean", [y], axes=[2, 3], keepdims=0),
        b.node("MaxPool", [b.input((1, 3, 9, 9))], kernel_shape=[2, 2], strides=[2, 2]),
    ]
    assert check(b, monkeypatch)["reduction"] >= 5


def test_elementwise_concat_shuffle_softmax(monkeypatch):
    """Concat of odd channel counts, broadcast arithmetic, a ShuffleNet channel shuffle,
    flatten + softmax: the injective schedules and the layout transforms around them."""
    b = Branches(5)
    x = b.input((2, 4, 9, 11))
    left, right = conv(b, x, 4, 13, kernel=(1, 1), pads=(0, 0, 0, 0)), conv(b, x, 4, 19)
    cat = b.node("Concat", [left, b.node("Relu", [right]), x], axis=1)  # 36 channels
    scaled = b.node("Add", [b.node("Mul", [cat, b.const(b.rng.uniform(0.5, 1.5, (36, 1, 1)))]),
                            b.const(b.rng.standard_normal((1, 36, 1, 1)))])
    shuffle = b.node("Reshape", [scaled, b.const(np.array([2, 4, 9, 9, 11]))])
    shuffle = b.node("Transpose", [shuffle], perm=[0, 2, 1, 3, 4])
    shuffle = b.node("Reshape", [shuffle, b.const(np.array([2, 36, 9, 11]))])
    y = b.node("Sigmoid", [conv(b, shuffle, 36, 8, groups=4)])
    flat = b.node("Flatten", [b.node("GlobalAveragePool", [y])], axis=1)
    b.outputs += [b.node("Softmax", [flat], axis=1), b.node("Transpose", [y], perm=[0, 2, 3, 1])]
    assert check(b, monkeypatch)["injective"] >= 2


def test_layout_transposes_only_at_the_edges():
    """A conv chain with pooling and elementwise ops runs in NHWC end to end: one transpose
    in, one out (the weights are packed at compile time, not transposed at run time)."""
    from compiler.codegen.schedules.layout import convert_layout
    from compiler.codegen.schedules.params import CpuParams

    b = Branches(0)
    y = b.node("Relu", [conv(b, b.input((1, 3, 16, 16)), 3, 16)])
    y = b.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    y = b.node("Add", [conv(b, y, 16, 16, groups=16), y])
    b.outputs.append(conv(b, y, 16, 32, kernel=(1, 1), pads=(0, 0, 0, 0)))
    mod = convert_layout(to_relax(compress(import_onnx(b.model())).graph), CpuParams(lanes=16, registers=32))
    assert mod["main"].script().count("R.permute_dims") == 2


@pytest.mark.parametrize("flags", [[], ["--no-schedule"]])
def test_cli_schedule_option(tmp_path, flags):
    """``edgec compile --no-schedule`` (``compile_graph(schedule=False)``) is recorded in the
    manifest, and both builds run and match the reference."""
    import json

    from compiler.cli import main

    b = Branches(1)
    b.outputs.append(b.node("Relu", [conv(b, b.input((1, 3, 8, 8)), 3, 5)]))
    model = b.model()
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info(b.outputs[0], 1, [1, 5, 8, 8]))  # a file needs it
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(model.SerializeToString())
    assert main(["compile", str(onnx_path), "-o", str(tmp_path / "art"), *flags]) == 0
    assert json.loads((tmp_path / "art" / "manifest.json").read_text())["schedule"] is not flags
    graph, feeds = import_onnx(b.model()), b.feeds()
    got = runtime.load(tmp_path / "art").run(feeds)
    np.testing.assert_allclose(got[graph.outputs[0]], interpreter.run(graph, feeds)[graph.outputs[0]],
                               rtol=RTOL, atol=ATOL)


def test_winograd_transforms_compute_a_3x3_correlation():
    """Y = A^T [(G g G^T) * (B^T d B)] A is the 2x2 valid correlation of a 4x4 tile (numpy, float64)."""
    from compiler.codegen.schedules.winograd import AT, BT, G

    rng = np.random.default_rng(3)
    d, g = rng.standard_normal((4, 4)), rng.standard_normal((3, 3))
    direct = np.array([[np.sum(d[i:i + 3, j:j + 3] * g) for j in range(2)] for i in range(2)])
    np.testing.assert_allclose(AT @ ((G @ g @ G.T) * (BT @ d @ BT.T)) @ AT.T, direct, rtol=1e-12, atol=1e-12)


def test_winograd_applies_to_stride1_3x3_convs_with_channels_and_tiles():
    from compiler.codegen.schedules.winograd import applies

    assert applies((1, 64, 14, 14), (64, 64, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    assert not applies((1, 64, 14, 14), (64, 64, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1)  # stride 2
    assert not applies((1, 64, 14, 14), (64, 64, 3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 1)  # dilated
    assert not applies((1, 64, 14, 14), (64, 32, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2)  # grouped
    assert not applies((1, 8, 14, 14), (64, 8, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1)  # few channels
    assert not applies((1, 64, 14, 14), (64, 64, 5, 5), (1, 1), (2, 2, 2, 2), (1, 1), 1)  # 5x5
    assert not applies((1, 512, 7, 7), (512, 512, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1)  # 16 tiles


def test_winograd_convolutions(monkeypatch):
    """3x3 stride-1 convs with enough channels run as Winograd F(2x2, 3x3): odd output sizes (the
    last tile half outside), asymmetric and no pads, batch 2, output channels that are not a
    multiple of the vector width, input channels that are odd; fused bias, ReLU and residual add."""
    b = Branches(5)
    for n, cin, cout, h, w, pads in [(1, 16, 16, 12, 12, (1, 1, 1, 1)), (2, 20, 37, 9, 11, (0, 1, 2, 1)),
                                     (1, 33, 16, 9, 13, (1, 1, 1, 1)), (1, 48, 40, 15, 12, (0, 0, 0, 0))]:
        y = conv(b, b.input((n, cin, h, w)), cin, cout, pads=pads)
        oh, ow = h + pads[0] + pads[2] - 2, w + pads[1] + pads[3] - 2
        if cout % 2:
            y = b.node("Relu", [y])
        if cin % 2:
            y = b.node("Add", [y, b.input((n, cout, oh, ow))])
        b.outputs.append(y)
    assert check(b, monkeypatch)["winograd"] == 4
