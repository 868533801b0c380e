"""``edgec rpc-server``, ``edgec tracker`` and ``edgec bench/run --rpc/--tracker`` on the loopback.

Every server binds 127.0.0.1 on a port the OS picks; the outputs a remote run returns are checked
against onnxruntime on the host.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import sys
import time

import numpy as np
import onnxruntime as ort
import pytest

from runtime.rpc.client import connect
from tests.e2e.conftest import TINY_CNN, run_cli
from tests.e2e.test_errors import assert_one_line_error
from .conftest import EDGEC, free_port

BENCH_FIELDS = {"artifact": str, "target": str, "device": str, "remote": (dict, type(None)), "timer": str,
                "units": str, "repeat": int, "warmup": int, "median_ms": float, "mean_ms": float, "p90_ms": float,
                "min_ms": float, "std_ms": float, "inputs": list, "agreement": (dict, type(None))}


def bench_json(*args) -> dict:
    result = run_cli("bench", *args, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def check_schema(report: dict) -> None:
    for field, kind in BENCH_FIELDS.items():
        assert isinstance(report[field], kind), (field, report[field])
    assert report["units"] == "ms" and report["min_ms"] <= report["median_ms"] <= report["p90_ms"]


def test_bench_json_schema_locally(host_artifact):
    report = bench_json(host_artifact, "--repeat", "3", "--warmup", "1")
    check_schema(report)
    assert report["remote"] is None and report["timer"] == "host" and report["agreement"] is None
    assert report["repeat"] == 3 and report["device"].startswith("cpu: ")


def test_rpc_server_bench_and_run(service, host_artifact, tmp_path):
    server = service(EDGEC + ["rpc-server", "--port", "0", "--key", "secret"])
    assert "key secret" in server.lines[0] and "127.0.0.1" in server.lines[0]
    report = bench_json(host_artifact, "--rpc", server.address, "--key", "secret", "--repeat", "5")
    check_schema(report)
    assert report["remote"] == {"rpc": server.address, "key": "secret"} and report["timer"] == "device"
    assert report["repeat"] == 5 and report["device"].startswith(f"x86_64 via rpc {server.address}")
    assert report["agreement"]["ok"] and report["agreement"]["reference"].startswith("onnxruntime")
    # edgec run through the server: outputs equal onnxruntime's on the host
    x = np.random.default_rng(1).standard_normal((1, 3, 16, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = run_cli("run", host_artifact, "--rpc", server.address, "--key", "secret", "--input",
                     tmp_path / "x.npy", "--output", tmp_path / "y.npz")
    assert result.code == 0, result.err
    expected = ort.InferenceSession(str(TINY_CNN), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(np.load(tmp_path / "y.npz")["probs"], expected, rtol=1e-4, atol=1e-6)


def test_tracker_with_tvms_own_server(service, host_artifact):
    """The must-show path: a host tracker, TVM's stock RPC server registered with it, edgec bench --tracker."""
    tracker = service(EDGEC + ["tracker", "--port", "0"])
    port = free_port()
    service([sys.executable, "-m", "tvm.exec.rpc_server", "--host", "127.0.0.1", "--port", str(port),
             "--port-end", str(port + 1), "--tracker", tracker.address, "--key", "stock"],
            ready=re.compile(r"bind to 127\.0\.0\.1:\d+"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # registration follows the bind
        report = run_cli("bench", host_artifact, "--tracker", tracker.address, "--key", "stock", "--repeat", "5",
                         "--json", "--timeout", "3")
        if report.code == 0:
            break
    assert report.code == 0, report.err
    report = json.loads(report.out)
    check_schema(report)
    assert report["remote"] == {"tracker": tracker.address, "key": "stock"} and report["agreement"]["ok"]


def test_tracker_with_edgec_server_and_wrong_key(service, host_artifact):
    tracker = service(EDGEC + ["tracker", "--port", "0"])
    server = service(EDGEC + ["rpc-server", "--port", "0", "--tracker", tracker.address, "--key", "dev"])
    server.wait_for("registered with tracker")
    assert bench_json(host_artifact, "--tracker", tracker.address, "--key", "dev", "--repeat", "2")["agreement"]["ok"]
    start = time.monotonic()
    result = run_cli("bench", host_artifact, "--tracker", tracker.address, "--key", "nope", "--timeout", "2")
    assert_one_line_error(result, 1, "no free RPC server with key 'nope'", "within 2 s", "'dev'")
    assert time.monotonic() - start < 10


def test_wrong_key_is_refused(service, host_artifact):
    server = service(EDGEC + ["rpc-server", "--port", "0", "--key", "right"])
    assert_one_line_error(run_cli("bench", host_artifact, "--rpc", server.address, "--key", "wrong"), 1,
                          "refused key 'wrong'")
    server.wait_for("refused .*wrong key")


def test_unreachable_server_fails_fast(host_artifact):
    start = time.monotonic()
    result = run_cli("bench", host_artifact, "--rpc", f"127.0.0.1:{free_port()}", "--timeout", "5")
    assert_one_line_error(result, 1, "cannot connect to RPC server 127.0.0.1:")
    result = run_cli("bench", host_artifact, "--tracker", f"127.0.0.1:{free_port()}", "--key", "k")
    assert_one_line_error(result, 1, "cannot connect to tracker")
    assert time.monotonic() - start < 5


def test_silent_server_times_out_instead_of_hanging(host_artifact):
    """A port that accepts but never answers (a busy or wrong server): an error within --timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        result = run_cli("bench", host_artifact, "--rpc", address, "--timeout", "2")
        assert_one_line_error(result, 1, address, "within 2 s")
        result = run_cli("bench", host_artifact, "--tracker", address, "--key", "k", "--timeout", "2")
        assert_one_line_error(result, 1, "is not a TVM RPC tracker")
        assert time.monotonic() - start < 12


@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-g++") is None, reason="needs g++-aarch64-linux-gnu")
def test_artifact_for_another_target_is_refused(service, tmp_path):
    a64 = tmp_path / "a64"
    assert run_cli("compile", TINY_CNN, "--target", "aarch64", "-o", a64).code == 0
    server = service(EDGEC + ["rpc-server", "--port", "0"])
    assert_one_line_error(run_cli("bench", a64, "--rpc", server.address), 1,
                          "built for target 'aarch64' (aarch64 code)", "is x86_64")


def test_upload_limit_and_session_folder(service, host_artifact):
    server = service(EDGEC + ["rpc-server", "--port", "0", "--max-upload", "0.001"])  # ~1 KiB
    assert_one_line_error(run_cli("bench", host_artifact, "--rpc", server.address), 1, "over this server's limit")
    session = connect(rpc=server.address, timeout=10).session  # the failed session was closed: not busy
    session.upload(bytearray(b"ok"), "small.bin")
    for name in ("../escape.bin", "/tmp/escape.bin"):
        with pytest.raises(Exception, match="outside the session folder"):
            session.upload(bytearray(b"x"), name)


def test_session_timeout(service):
    server = service(EDGEC + ["rpc-server", "--port", "0", "--session-timeout", "1"])
    session = connect(rpc=server.address, timeout=10).session
    server.wait_for("ended: session timeout of 1 s", timeout=10)
    with pytest.raises(Exception, match="session timeout|Socket|closed|reset"):
        session.get_function("edgec.rpc.device_info")()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_servers_stop_cleanly_on_signals(service, sig):
    tracker = service(EDGEC + ["tracker", "--port", "0"])
    server = service(EDGEC + ["rpc-server", "--port", "0"])
    for svc in (server, tracker):
        assert svc.stop(sig) == 0
        assert svc.lines[-1].endswith("stopped")
        with socket.socket() as probe:  # the port is closed
            assert probe.connect_ex(("127.0.0.1", svc.port)) != 0


def test_servers_listen_on_loopback_by_default():
    from runtime.rpc.server import ServerConfig

    assert ServerConfig().host == "127.0.0.1"
    for command in ("rpc-server", "tracker"):
        help_text = run_cli(command, "--help").out
        assert "127.0.0.1" in help_text


def test_bench_check_reports_a_mismatch(host_artifact, tmp_path):
    """The agreement check is not vacuous: a reference with other weights fails it (exit code 1)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(TINY_CNN)
    weight = model.graph.initializer[0]
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * 1.5, weight.name))
    onnx.save(model, tmp_path / "other.onnx")
    result = run_cli("bench", host_artifact, "--repeat", "2", "--check", "--reference", tmp_path / "other.onnx",
                     "--json")
    assert result.code == 1 and "differ from onnxruntime" in result.err
    assert json.loads(result.out)["agreement"]["ok"] is False
    same = bench_json(host_artifact, "--repeat", "2", "--check")
    assert same["agreement"]["ok"] and same["agreement"]["model"] == str(TINY_CNN)


def test_check_without_onnxruntime_uses_the_reference_interpreter(host_artifact, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    report = bench_json(host_artifact, "--repeat", "2", "--check")
    assert report["agreement"]["reference"] == "edgec reference interpreter (numpy)" and report["agreement"]["ok"]
