"""Dependency groups on small graphs: every coupling case prunes to a verified, smaller graph,
and removing zero-importance channels leaves the outputs exactly as onnxruntime computes them
on the original model."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.prune import PruneOptions
from compiler.prune.groups import trace
from compiler.frontend.onnx import import_onnx
from tests.prune.helpers import Net, out_channels, prune_exact

X = {"x": (1, 3, 8, 8)}


def opts(**kw) -> PruneOptions:
    return PruneOptions(channel_multiple=1, **kw)


def test_chain_conv_relu_conv():
    net = Net()
    h = net.conv("c1", "x", 3, 8, dead=(2, 5))
    net.conv("c2", h, 8, 4, relu=False)
    _, result = prune_exact(net.model(X, ["c2"]), opts(layer_ratios={"c1": 0.25}))
    assert out_channels(result.graph, "c1") == 6
    assert result.report["layers"][1]["in"] == [8, 6]


def test_batch_norm_unmerged_and_merged():
    net = Net()
    h = net.conv("c1", "x", 3, 8, dead=(1,), relu=False)
    c = 8
    for name, value in (("g", np.linspace(0.5, 1.5, c)), ("be", np.zeros(c)), ("m", np.zeros(c)), ("v", np.ones(c))):
        net.const(name, value.astype(np.float32))
    h = net.op("BatchNormalization", [h, "g", "be", "m", "v"], "bn")
    h = net.op("Relu", [h], "r")
    net.conv("c2", h, 8, 4, relu=False)
    model = net.model(X, ["c2"])
    for merged in (False, True):
        _, result = prune_exact(model, opts(layer_ratios={"c1": 0.125}), merged=merged)
        assert out_channels(result.graph, "c1") == 7


def test_residual_add_shares_channels():
    net = Net()
    r = net.conv("c0", "x", 3, 8, dead=(3,))
    h = net.conv("c1", r, 8, 8)
    h = net.conv("c2", h, 8, 8, dead=(3,), relu=False)
    s = net.op("Add", [r, h], "sum")
    net.conv("c3", s, 8, 4, relu=False)
    model = net.model(X, ["c3"])
    cmap = trace(import_onnx(model))
    residual = next(g for g in cmap.groups if "c0" in g.layers)
    assert set(residual.layers) == {"c0", "c2"}
    _, result = prune_exact(model, opts(layer_ratios={"c0": 0.125, "c1": 0.0001}))
    assert out_channels(result.graph, "c0") == out_channels(result.graph, "c2") == 7


def test_concat_maps_ranges_to_producers():
    net = Net()
    a = net.conv("a", "x", 3, 4, dead=(1,))
    b = net.conv("b", "x", 3, 6, dead=(0, 5))
    cat = net.op("Concat", [a, b], "cat", axis=1)
    net.conv("c", cat, 10, 4, relu=False)
    _, result = prune_exact(net.model(X, ["c"]), opts(layer_ratios={"a": 0.25, "b": 1 / 3}))
    assert out_channels(result.graph, "a") == 3 and out_channels(result.graph, "b") == 4
    assert result.report["layers"][2]["in"] == [10, 7]


def test_depthwise_passes_channels_through():
    net = Net()
    h = net.conv("c1", "x", 3, 8, dead=(4,))
    h = net.conv("dw", h, 8, 8, groups=8, dead=(4,))
    net.conv("c2", h, 8, 4, relu=False)
    _, result = prune_exact(net.model(X, ["c2"]), opts(layer_ratios={"c1": 0.125}))
    dw = next(n for n in result.graph.nodes if n.name == "dw")
    assert dw.attrs["groups"] == 7 and out_channels(result.graph, "dw") == 7


def test_flatten_gemm_blocks():
    net = Net()
    h = net.conv("c1", "x", 3, 4, dead=(2,))
    h = net.op("MaxPool", [h], "pool", kernel_shape=[4, 4], strides=[4, 4])
    f = net.op("Flatten", [h], "flat")
    net.gemm("fc", f, 16, 5)
    _, result = prune_exact(net.model(X, ["fc"]), opts(layer_ratios={"c1": 0.25}))
    fc = next(n for n in result.graph.nodes if n.name == "fc")
    assert result.graph.types[fc.inputs[1]].shape == (5, 12)  # one channel = a block of 4 features


def test_gemm_chain_prunes_features():
    net = Net()
    f = net.op("Flatten", ["x"], "flat")
    h = net.gemm("fc1", f, 192, 16, dead=(0, 7))
    h = net.op("Relu", [h], "r")
    net.gemm("fc2", h, 16, 3)
    _, result = prune_exact(net.model(X, ["fc2"]), opts(layer_ratios={"fc1": 0.125}))
    assert out_channels(result.graph, "fc1") == 14


def test_split_on_channel_axis():
    net = Net()
    h = net.conv("c1", "x", 3, 8, dead=(1, 6))
    net.const("sizes", np.array([4, 4], np.int64))
    net.nodes.append(__import__("onnx").helper.make_node("Split", [h, "sizes"], ["s0", "s1"], name="split", axis=1))
    a = net.conv("a", "s0", 4, 2, relu=False)
    b = net.conv("b", "s1", 4, 2, relu=False)
    net.op("Add", [a, b], "out")
    _, result = prune_exact(net.model(X, ["out"]), opts(layer_ratios={"c1": 0.25}))
    split = next(n for n in result.graph.nodes if n.op == "split")
    assert split.attrs["sizes"] == (3, 3)


def test_slice_on_channel_axis():
    net = Net()
    h = net.conv("c1", "x", 3, 8, dead=(0, 3))
    for name, v in (("st", [2]), ("en", [7]), ("ax", [1])):
        net.const(name, np.array(v, np.int64))
    s = net.op("Slice", [h, "st", "en", "ax"], "sl")
    net.conv("c2", s, 5, 2, relu=False)
    _, result = prune_exact(net.model(X, ["c2"]), opts(layer_ratios={"c1": 0.25}))
    sl = next(n for n in result.graph.nodes if n.op == "slice")
    assert (sl.attrs["starts"][1], sl.attrs["ends"][1]) == (1, 5)


def test_grouped_conv_ties_in_group_indices():
    net = Net()
    h = net.conv("c1", "x", 3, 8, dead=(1, 5))  # in-group index 1 of both groups of g1
    h = net.conv("g1", h, 8, 8, groups=2)
    net.conv("c2", h, 8, 2, relu=False)
    _, result = prune_exact(net.model(X, ["c2"]), opts(layer_ratios={"c1": 0.25}))
    g1 = next(n for n in result.graph.nodes if n.name == "g1")
    assert result.graph.types[g1.inputs[1]].shape[:2] == (8, 3)


def test_channel_shuffle_maps_exactly():
    """ShuffleNet unit: grouped conv -> shuffle (G=2) -> grouped conv. The exact constraint
    ties g0 channels {0, 2, 4, 6} (removed together here) and {1, 3, 5, 7}."""
    net = Net()
    net.conv("pre", "x", 3, 4, k=1)
    h = net.conv("g0", "pre.relu", 4, 8, k=1, groups=2, dead=(0, 2, 4, 6))
    h = net.op("Reshape", [h, net.const("s1", np.array([1, 2, 4, 8, 8], np.int64))], "r1")
    h = net.op("Transpose", [h], "t", perm=[0, 2, 1, 3, 4])
    h = net.op("Reshape", [h, net.const("s2", np.array([1, 8, 8, 8], np.int64))], "r2")
    h = net.conv("dw", h, 8, 8, groups=8, dead=(0, 1, 4, 5))  # where the shuffle puts them
    h = net.conv("g1", h, 8, 6, k=1, groups=2)
    net.conv("c2", h, 6, 2, relu=False)
    model = net.model(X, ["c2"])
    cmap = trace(import_onnx(model))
    group = next(g for g in cmap.groups if "g0" in g.layers)
    assert (group.size, group.positions) == (2, 4)
    _, result = prune_exact(model, opts(layer_ratios={"g0": 0.5}))
    assert out_channels(result.graph, "g0") == 4 and out_channels(result.graph, "dw") == 4


def test_mixing_reshape_is_excluded():
    net = Net()
    h = net.conv("c1", "x", 3, 4)
    h = net.op("Reshape", [h, net.const("s", np.array([1, 8, 4, 8], np.int64))], "mix")
    net.conv("c2", h, 8, 2, relu=False)
    cmap = trace(import_onnx(net.model(X, ["c2"])))
    assert [name for name, _ in cmap.excluded] == ["c1", "c2"]
    assert "mixes channels" in dict(cmap.excluded)["c1"]


def test_global_target_respects_channel_multiple():
    net = Net()
    h = net.conv("c1", "x", 3, 32)
    h = net.conv("c2", h, 32, 32)
    net.conv("c3", h, 32, 4, relu=False)
    graph = import_onnx(net.model(X, ["c3"]))
    from compiler.prune import prune

    result = prune(graph, PruneOptions(macs=0.5, channel_multiple=8))
    assert result.report["macs_removed"] >= 0.45
    assert all(out_channels(result.graph, n) % 8 == 0 for n in ("c1", "c2"))


@pytest.mark.parametrize("criterion", ["l1", "l2", "bn"])
def test_criteria_remove_the_zero_channel(criterion):
    net = Net()
    h = net.conv("c1", "x", 3, 8, dead=(6,))
    net.conv("c2", h, 8, 4, relu=False)
    prune_exact(net.model(X, ["c2"]), opts(layer_ratios={"c1": 0.125}, criterion=criterion))


def test_estimator_predicts_the_rewrite():
    """The policy's fast MACs/params model agrees with the pruned graph's real statistics."""
    from compiler.ir.stats import model_stats
    from compiler.prune.apply import apply_pruning
    from compiler.prune.policy import Estimator

    net = Net()
    r = net.conv("c0", "x", 3, 8)
    h = net.conv("c1", r, 8, 8)
    h = net.conv("c2", h, 8, 8, relu=False)
    s = net.op("Add", [r, h], "sum")
    b = net.conv("b", s, 8, 6)
    cat = net.op("Concat", [s, b], "cat", axis=1)
    f = net.op("Flatten", [net.op("GlobalAveragePool", [cat], "gap")], "flat")
    net.gemm("fc", f, 14, 3)
    graph = import_onnx(net.model(X, ["fc"]))
    cmap = trace(graph)
    removed = np.array([2, 3, 2][:len(cmap.groups)])
    est = Estimator(cmap)
    classes = np.concatenate([g.classes[:n] for g, n in zip(cmap.groups, removed)])
    stats = model_stats(apply_pruning(cmap, classes))
    macs, params = est.estimate(removed.astype(float))
    assert macs == stats["macs"]
    assert abs(params - stats["params"]) <= 0.02 * stats["params"]


def test_bn_criterion_reads_scales_before_folding():
    """Channel 2 has the smallest batch-norm scale but, once folded, the largest filter: bn (scales
    recorded before folding) removes it, l1 on the folded weights keeps it."""
    from compiler.pipeline import CompressOptions, compress

    net = Net()
    h = net.conv("c1", "x", 3, 4, relu=False)
    net.inits["c1.w"][2] *= 10
    gamma = np.array([1.0, 1.0, 0.5, 1.0], np.float32)
    for name, value in (("g", gamma), ("be", np.zeros(4, np.float32)), ("m", np.zeros(4, np.float32)),
                        ("v", np.ones(4, np.float32))):
        net.const(name, value)
    h = net.op("Relu", [net.op("BatchNormalization", [h, "g", "be", "m", "v"], "bn")], "r")
    net.conv("c2", h, 4, 2, relu=False)
    graph = import_onnx(net.model(X, ["c2"]))
    kept = {}
    for criterion in ("bn", "l1"):
        result = compress(graph, CompressOptions(prune=opts(layer_ratios={"c1": 0.25}, criterion=criterion)))
        w = next(result.graph.constants[n.inputs[1]] for n in result.graph.nodes if n.name == "c1")
        kept[criterion] = float(np.abs(w).max())
    folded_ch2 = float(np.abs(graph.constants["c1.w"][2]).max()) * 0.5
    assert kept["l1"] >= 0.99 * folded_ch2
    assert kept["bn"] < 0.6 * folded_ch2
