"""Bad pruning input gives one clear error; the CLI prunes, reports and writes valid ONNX."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from compiler.errors import PassError, UsageError
from compiler.frontend.onnx import import_onnx
from compiler.prune import PruneOptions, channel_multiple_for, prune
from tests.e2e.conftest import run_cli
from tests.oracle import run_ort
from tests.prune.helpers import Net, feeds_for

X = {"x": (1, 3, 8, 8)}


def small_graph():
    net = Net()
    h = net.conv("c1", "x", 3, 8)
    net.conv("c2", h, 8, 4, relu=False)
    model = net.model(X, ["c2"])
    model.graph.output[0].CopyFrom(onnx.helper.make_tensor_value_info("c2", onnx.TensorProto.FLOAT, [1, 4, 8, 8]))
    return model


@pytest.mark.parametrize("kw,match", [
    (dict(macs=1.5), "between 0 and 1"),
    (dict(macs=0.0), "between 0 and 1"),
    (dict(layer_ratios={"c1": -0.1}), "between 0 and 1"),
    (dict(), "exactly one of"),
    (dict(macs=0.5, params=0.5), "exactly one of"),
    (dict(macs=0.5, criterion="activation"), "needs calibration data"),
    (dict(macs=0.5, criterion="taylor"), "unknown pruning criterion"),
    (dict(layer_ratios={"nope": 0.5}), "no prunable layer 'nope'"),
])
def test_bad_options(kw, match):
    with pytest.raises(UsageError, match=match):
        prune(import_onnx(small_graph()), PruneOptions(channel_multiple=1, **kw))


def test_nothing_prunable():
    net = Net()
    net.conv("only", "x", 3, 4, relu=False)
    with pytest.raises(PassError, match="nothing .* can be pruned.*graph output"):
        prune(import_onnx(net.model(X, ["only"])), PruneOptions(macs=0.5))


def test_channel_multiple_per_target():
    from targets import get_target

    assert channel_multiple_for(get_target("x86-avx512")) == 16
    assert channel_multiple_for(get_target("x86-avx2")) == 8
    assert channel_multiple_for(get_target("cortex-a72")) == 4
    assert channel_multiple_for(get_target("cortex-m7")) == 4


def test_cli_compress_prune_report(tmp_path):
    src, out = tmp_path / "m.onnx", tmp_path / "p.onnx"
    model = small_graph()
    onnx.save(model, src)
    result = run_cli("compress", src, "-o", out, "--merge", "--prune", "0.5", "--channel-multiple", "2", "--report")
    assert result.code == 0, result.err
    assert "pruning (l1 criterion" in result.out and "c1" in result.out
    pruned = onnx.load(out)
    onnx.checker.check_model(pruned)
    assert run_ort(pruned, feeds_for(model))[0].shape == (1, 4, 8, 8)


def test_cli_activation_needs_calib(tmp_path):
    src = tmp_path / "m.onnx"
    onnx.save(small_graph(), src)
    result = run_cli("compress", src, "-o", tmp_path / "p.onnx", "--prune", "0.5", "--prune-criterion", "activation")
    assert result.code == 2 and "needs calibration data" in result.err


def test_cli_bad_ratio(tmp_path):
    result = run_cli("compress", tmp_path / "m.onnx", "-o", tmp_path / "p.onnx", "--prune", "2")
    assert result.code == 2


def test_cli_compile_with_calib(tmp_path):
    src, calib = tmp_path / "m.onnx", tmp_path / "calib.npy"
    onnx.save(small_graph(), src)
    np.save(calib, np.random.default_rng(0).standard_normal((8, 3, 8, 8)).astype(np.float32))
    result = run_cli("compile", src, "-o", tmp_path / "art", "--prune", "0.4", "--prune-criterion", "activation",
                     "--calib", calib, "--channel-multiple", "2", "--report")
    assert result.code == 0, result.err
    assert "least squares" in result.out
