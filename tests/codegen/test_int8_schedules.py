"""Scheduled int8 kernels (compiler/codegen/schedules/qconv.py, qkernels.py, qlayout.py) are
bit-exact: against the numpy reference interpreter and against the unscheduled TVM build,
over randomized shapes (odd channel counts, strides, asymmetric pads with zero points, groups,
depthwise, batch > 1, fused clamps), with the target's int8 dot product (AVX-512 VNNI
``vpdpbusd`` for the host, AVX-VNNI's 256-bit one for ``x86-avxvnni``, each where this machine
has it) and with the vectorized int32 fallback. Arm's ``sdot`` runs on the emulated board:
tests/targets/test_board.py.

Each test builds one integer IR graph of several independent random branches, compiles it
scheduled (``EDGEC_SCHEDULE_STRICT=1``: a schedule that fails is an error) and unscheduled, and
requires 0 difference in every int8 output; a structural check then asserts which schedule
each fused function got.
"""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
import tvm

import runtime
from compiler.codegen.build import compile_graph
from compiler.codegen.lower import to_relax
from compiler.codegen.schedules import params
from compiler.codegen.schedules.params import cpu_params, with_host_cpu
from compiler.codegen.schedules.pipeline import scheduled_kernels
from compiler.ir import GraphBuilder, interpreter
from compiler.ir.ops.fixed_point import quantize_multiplier, quantize_multipliers
from targets import get_target
from targets.toolchain import tvm_target
from tests.codegen.test_quantized_kernels import out_attrs, qrand

HOST = with_host_cpu(tvm.target.Target({"kind": "llvm"}))
HAS_DOT = bool(cpu_params(HOST).int8_dot)
AVX_VNNI = get_target("x86-avxvnni")  # AVX2 + AVX-VNNI, no AVX-512: runs on this machine if its CPU has both
# mode -> (target compiled for, the instruction its int8 kernels must use, "" for none)
MODES = {"host": ("host", "vpdpbusd.512"), "avx-vnni": ("x86-avxvnni", "vpdpbusd.256"), "fallback": ("host", "")}
DOT_MODES = [pytest.param("host", id="dot-product", marks=pytest.mark.skipif(not HAS_DOT, reason="no int8 dot product")),
             pytest.param("avx-vnni", marks=pytest.mark.skipif(not AVX_VNNI.runs_on_host, reason="no AVX-VNNI here")),
             pytest.param("fallback")]


class Int8Graph:
    """Random integer layers accumulated into one graph, each branch from its own input."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.b = GraphBuilder()
        self.feeds: dict[str, np.ndarray] = {}
        self.outputs: list[str] = []
        self.zp: dict[str, int] = {}  # each int8 value's zero point, which its consumers must use

    def input(self, shape, dtype: str = "int8") -> str:
        name = f"x{len(self.feeds)}"
        self.feeds[name] = qrand(self.rng, shape, dtype)
        return self.b.input(name, shape, dtype)

    def qconv(self, x: str, cin: int, cout: int, groups: int = 1, kernel=(3, 3), stride=(1, 1), pads=(1, 1, 1, 1),
              x_zp: int | None = None, fused: bool = False, dtype: str = "int8", dilation=(1, 1)) -> str:
        r = self.rng
        ins = [x, self.b.const(qrand(r, (cout, cin // groups, *kernel))),
               self.b.const(r.integers(-5000, 5000, cout).astype(np.int32))]
        mult, shift = quantize_multipliers(r.uniform(1e-4, 2e-2, cout))
        ins += [self.b.const(mult), self.b.const(shift)]
        zp = self.zp.get(x, int(r.integers(-20, 20)) if x_zp is None else x_zp)
        attrs = {"strides": tuple(stride), "pads": tuple(pads), "dilations": tuple(dilation), "groups": groups, "x_zp": zp,
                 **out_attrs(r, dtype, fused)}
        return self.op("qconv", ins, attrs)

    def op(self, op: str, ins: list[str], attrs: dict) -> str:
        out = self.b.op(op, ins, attrs)
        self.zp[out] = attrs.get("out_zp", self.zp.get(ins[0], 0))
        return out

    def output(self, name: str) -> None:
        self.outputs.append(name)

    def build(self):
        self.b.output(*self.outputs)
        return self.b.build()


def random_qconv(g: Int8Graph, kind: str) -> None:
    r = g.rng
    n, h, w = int(r.integers(1, 3)), int(r.integers(5, 14)), int(r.integers(4, 14))
    kernel = [(1, 1), (3, 3), (5, 5), (1, 3), (3, 1)][int(r.integers(0, 5))]
    if kind == "regular":
        groups, cin, cout = 1, int(r.integers(1, 40)), int(r.integers(1, 70))
    elif kind == "grouped":
        groups = int(r.integers(2, 5))
        cin, cout = groups * int(r.integers(1, 9)), groups * int(r.integers(1, 30))
    else:
        groups = cin = cout = int(r.integers(1, 40))
    stride = tuple(int(s) for s in r.integers(1, 3, 2))
    pads = tuple(int(r.integers(0, k)) for k in kernel) + tuple(int(r.integers(0, k)) for k in kernel)
    y = g.qconv(g.input((n, cin, h, w)), cin, cout, groups, kernel, stride, pads, fused=bool(r.random() < 0.5))
    g.output(y)


def build_and_check(graph, feeds, monkeypatch, mode: str) -> dict[str, int]:
    """Scheduled (``mode``: with the target's dot-product intrinsic, or the fallback) and
    unscheduled builds, both bit-exact against the reference; returns how many functions each
    schedule family got."""
    monkeypatch.setenv("EDGEC_SCHEDULE_STRICT", "1")
    target, instruction = MODES[mode]
    if not instruction:
        monkeypatch.setattr(params, "int8_dot_intrinsic", lambda target: "")
    want = interpreter.run(graph, feeds)
    for schedule in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            compile_graph(graph, f"{tmp}/art", target, schedule=schedule)
            got = runtime.load(f"{tmp}/art").run(feeds)
        for name in graph.outputs:
            assert got[name].dtype == want[name].dtype
            diff = np.abs(got[name].astype(np.int64) - want[name].astype(np.int64))
            label = "scheduled" if schedule else "unscheduled"
            assert diff.max() == 0, f"{label} build, {name}: {np.count_nonzero(diff)} values differ"
    mod = scheduled_kernels(to_relax(graph), with_host_cpu(tvm_target(get_target(target))), strict=True)
    families: dict[str, int] = {}
    for func in mod.functions.values():
        if isinstance(func, tvm.tirx.PrimFunc):
            kind = str(func.attrs["edgec.schedule"])
            families[kind] = families.get(kind, 0) + 1
    script = mod.script()
    assert (instruction in script) if instruction else ("vpdpbusd" not in script), \
        f"{mode}: the int8 kernels use {instruction or 'no dot-product instruction'}"
    return families


@pytest.mark.parametrize("mode", DOT_MODES)
@pytest.mark.parametrize("seed", [0, 1])
def test_random_qconvs(seed, mode, monkeypatch):
    g = Int8Graph(seed)
    for kind in ["regular", "regular", "regular", "grouped", "grouped", "depthwise", "depthwise"]:
        random_qconv(g, kind)
    families = build_and_check(g.build(), g.feeds, monkeypatch, mode)
    assert families.get("qconv", 0) >= 5 and families.get("qdepthwise", 0) >= 2, families


@pytest.mark.parametrize("mode", DOT_MODES)
def test_one_and_two_channel_convs_fold_the_kernel_width(mode, monkeypatch):
    """Convs on 1 or 2 input channels fold the kernel's columns into the channels
    (``qkernels.folded_width``): strides, dilations, asymmetric zero-point pads, batch 2, uint8
    data; a 1-column kernel and 3 channels (nothing to gain) are not folded."""
    g = Int8Graph(11)
    cases = [((2, 1, 9, 11), 16, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), "int8"),
             ((1, 1, 12, 10), 24, (10, 4), (2, 2), (1, 1), (4, 1, 5, 2), "int8"),  # a KWS-style stem
             ((1, 2, 8, 13), 7, (3, 5), (1, 3), (1, 2), (0, 2, 1, 3), "uint8"),
             ((2, 2, 7, 7), 33, (2, 2), (2, 1), (1, 1), (0, 0, 1, 1), "int8"),
             ((1, 1, 6, 6), 16, (3, 1), (1, 1), (1, 1), (1, 0, 1, 0), "int8"),
             ((1, 3, 6, 7), 16, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), "int8")]
    for shape, cout, kernel, stride, dilation, pads, dtype in cases:
        zp = int(g.rng.integers(-20, 20)) if dtype == "int8" else int(g.rng.integers(100, 150))
        g.output(g.qconv(g.input(shape, dtype), shape[1], cout, 1, kernel, stride, pads, zp, dilation=dilation))
    graph = g.build()
    assert build_and_check(graph, g.feeds, monkeypatch, mode).get("qconv") == len(cases)
    # (KH, KW, input channel quads) of each packed weight [G, OC/16, KH, KW, IC/4, 16, 4]
    packed = sorted(tuple(int(d) for d in p.ty.shape[2:5]) for f in scheduled_kernels(to_relax(graph), HOST).functions.values()
                    if isinstance(f, tvm.tirx.PrimFunc) for p in f.params if len(p.ty.shape) == 7)
    assert packed == sorted([(3, 1, 1), (10, 1, 1), (3, 1, 3), (2, 1, 1), (3, 1, 1), (3, 3, 1)])


@pytest.mark.parametrize("mode", DOT_MODES)
def test_int8_network(mode, monkeypatch):
    """A small int8 CNN as the quantizer emits it: a zero-point-padded stem conv on 3 channels,
    a depthwise + pointwise pair, a residual qadd, a max pool, windowed and global average
    pools, a uint8 requantize and a dense head on a batch of 2."""
    g = Int8Graph(5)
    b, r = g.b, g.rng
    x = g.input((2, 3, 15, 15))
    y = g.qconv(x, 3, 24, stride=(2, 2), fused=True)
    y = g.qconv(y, 24, 24, groups=24)
    z = g.qconv(y, 24, 40, kernel=(1, 1), pads=(0, 0, 0, 0))
    a_mult, b_mult, shift = 1 << 30, 3 << 28, 31
    z2 = g.qconv(y, 24, 40, pads=(0, 1, 2, 1))
    s = g.op("qadd", [z, z2], {"a_zp": g.zp[z], "b_zp": g.zp[z2], "a_mult": a_mult, "b_mult": b_mult, "shift": shift,
                               **out_attrs(r)})
    m = g.op("max_pool", [s], {"kernel_shape": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1), "ceil_mode": 0})
    window = {"kernel_shape": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1), "ceil_mode": 0}
    g.output(g.op("qavg_pool", [m], {**window, "count_include_pad": False, "out_scale": 0.1, "out_zp": g.zp[m]}))
    pooled = g.op("qavg_pool", [m], {"kernel_shape": (4, 4), "strides": (1, 1), "pads": (0, 0, 0, 0),
                                     "ceil_mode": 0, "count_include_pad": False, "out_scale": 0.1, "out_zp": g.zp[m]})
    rq_mult, rq_shift = quantize_multiplier(0.7)
    g.output(g.op("requantize", [s], {"in_zp": g.zp[s], "mult": rq_mult, "shift": rq_shift, **out_attrs(r, "uint8")}))
    flat = g.op("reshape", [pooled], {"shape": (2, 40)})
    mult, shift = quantize_multipliers(r.uniform(1e-3, 2e-2, 10))
    head = [flat, b.const(qrand(r, (10, 40))), b.const(r.integers(-900, 900, 10).astype(np.int32)),
            b.const(mult), b.const(shift)]
    g.output(g.op("qdense", head, {"x_zp": g.zp[flat], **out_attrs(r)}))
    families = build_and_check(g.build(), g.feeds, monkeypatch, mode)
    assert families.get("qconv", 0) >= 4 and families.get("qdepthwise", 0) >= 1, families


@pytest.mark.parametrize("seed", [0, 1])
def test_random_qdense(seed, monkeypatch):
    g = Int8Graph(40 + seed)
    b, r = g.b, g.rng
    for features in [1, 7, 16, 33, 100]:
        m, k = int(r.integers(1, 5)), int(r.integers(1, 200))
        mult, shift = quantize_multipliers(r.uniform(1e-4, 2e-2, features))
        dtype = "uint8" if features in (7, 33) else "int8"  # u8 activations, as in onnxruntime's QDQ models
        ins = [g.input((m, k), dtype), b.const(qrand(r, (features, k))),
               b.const(r.integers(-3000, 3000, features).astype(np.int32)), b.const(mult), b.const(shift)]
        x_zp = int(r.integers(120, 136)) if dtype == "uint8" else int(r.integers(-10, 10))
        g.output(b.op("qdense", ins, {"x_zp": x_zp, **out_attrs(r, fused=features % 2 == 1)}))
    families = build_and_check(g.build(), g.feeds, monkeypatch, "host" if HAS_DOT else "fallback")
    assert families.get("qconv", 0) >= 5, families


def longest_expression(mod: tvm.IRModule) -> int:
    """Characters in the longest line of the scheduled kernels' TIR (one line per store)."""
    return max(len(line) for func in mod.functions.values() if isinstance(func, tvm.tirx.PrimFunc)
               for line in func.script().splitlines())


@pytest.mark.parametrize("mode", DOT_MODES)
def test_residual_chain(mode, monkeypatch):
    """ResNet's bottleneck tail as the quantizer emits it: a conv whose requantized result is
    added (qadd) to a shortcut, then a requantize with a ReLU clamp, twice in a row, so each
    conv's fused kernel carries three chained requantize epilogues plus the shortcut's scaling.
    Inlining every stage blindly made that one expression exponentially large (ResNet-50 did
    not compile in minutes); the epilogue must stay small, be computed per tile, and be exact."""
    g = Int8Graph(11)
    r = g.rng
    x = g.input((1, 16, 9, 7))
    g.zp[x] = 3
    for _ in range(2):
        y = g.qconv(x, 16, 16, kernel=(1, 1), pads=(0, 0, 0, 0))
        s = g.op("qadd", [y, x], {"a_zp": g.zp[y], "b_zp": g.zp[x], "a_mult": 1 << 30, "b_mult": 3 << 28,
                                  "shift": 31, **out_attrs(r)})
        zp = g.zp[s]
        x = g.op("requantize", [s], {"in_zp": zp, "mult": 1 << 30, "shift": 30, "out_scale": 0.05, "out_zp": zp,
                                     "out_dtype": "int8", "act_min": zp, "act_max": 127})
    g.output(x)
    families = build_and_check(g.build(), g.feeds, monkeypatch, mode)
    assert families.get("qconv", 0) >= 2, families
    mod = scheduled_kernels(to_relax(g.build()), HOST, strict=True)
    assert longest_expression(mod) < 6000
