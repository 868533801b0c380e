"""The remote side of the CLI: ``--rpc``/``--tracker`` for run and bench, ``edgec rpc-server`` and
``edgec tracker``, and the check of a device's outputs against a reference computed on the host.

The reference is onnxruntime on the artifact's source model when onnxruntime is installed, else
edgec's numpy reference interpreter on the re-imported model: never the artifact itself.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Mapping

import numpy as np

from .errors import EdgecError, UsageError


# -- options --------------------------------------------------------------------------------
def add_remote_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("remote device (TVM RPC)")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--rpc", metavar="HOST:PORT", help="run on the RPC server listening there")
    where.add_argument("--tracker", metavar="HOST:PORT", help="run on a server that this tracker hands out for --key")
    group.add_argument("--key", default="", help="device key (required with --tracker; must match the server's)")
    group.add_argument("--timeout", type=float, default=30.0, metavar="S",
                       help="give up on an unreachable or silent server or tracker after S seconds (default 30)")


def add_server_commands(sub, common: argparse.ArgumentParser) -> None:
    from runtime.rpc.server import add_arguments

    p = sub.add_parser("rpc-server", parents=[common], help="serve this machine's CPU/GPU to RPC clients",
                       description="Run a TVM RPC server here, for 'edgec bench --rpc' and TVM clients. Safe "
                                   "defaults: listens on 127.0.0.1 only, optional key, upload size limit, "
                                   "session timeout; stops cleanly on Ctrl-C or SIGTERM.")
    add_arguments(p)
    p.set_defaults(func=cmd_rpc_server)

    p = sub.add_parser("tracker", parents=[common], help="run a TVM RPC tracker that hands out devices by key",
                       description="Run TVM's RPC tracker: servers register with --tracker HOST:PORT --key KEY, "
                                   "clients ask for a KEY. Listens on 127.0.0.1 unless --host is given; stops "
                                   "cleanly on Ctrl-C or SIGTERM.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9190, help="port (default 9190; 0 picks a free one)")
    p.set_defaults(func=cmd_tracker)


def is_remote(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "rpc", None) or getattr(args, "tracker", None))


# -- commands -------------------------------------------------------------------------------
def cmd_rpc_server(args: argparse.Namespace) -> int:
    from runtime.rpc.server import RpcServer, config_from_args

    try:
        server = RpcServer(config_from_args(args))
    except ValueError as err:
        raise UsageError(str(err)) from None
    except OSError as err:
        raise EdgecError(f"rpc-server: {err}") from None
    server.serve_forever()
    return 0


def cmd_tracker(args: argparse.Namespace) -> int:
    from runtime.rpc.tracker import TrackerServer

    try:
        tracker = TrackerServer(args.host, args.port)
    except (OSError, RuntimeError) as err:
        raise EdgecError(f"tracker: {err}") from None
    tracker.serve_forever()
    return 0


def open_remote_model(args: argparse.Namespace):
    """Connect as the options say and load the artifact on that device."""
    from runtime.rpc.client import connect
    from runtime.rpc.remote import RemoteModel

    if args.timeout <= 0:
        raise UsageError(f"--timeout must be > 0, got {args.timeout:g}")
    remote = connect(rpc=args.rpc, tracker=args.tracker, key=args.key, timeout=args.timeout)
    try:
        return RemoteModel(args.artifact, remote, timeout=max(args.timeout, 120.0))
    except BaseException:
        remote.close()  # leave the server free for the next client
        raise


def close_model(model) -> None:
    """Free a remote device as soon as we are done with it (local models need nothing)."""
    close = getattr(model, "close", None)
    if close is not None:
        close()


# -- agreement with a host reference --------------------------------------------------------
def agreement(manifest: Mapping[str, Any], feeds: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray],
              reference: str | None, rtol: float, atol: float) -> dict[str, Any]:
    """Compare a device's outputs with the host reference for the same inputs."""
    model = reference or manifest.get("source")
    if not model or not os.path.isfile(model):
        return {"reference": None, "ok": None,
                "note": f"no reference model ({model or 'the manifest names none'} not found; give --reference)"}
    expected, engine = reference_outputs(model, manifest, feeds)
    rows = []
    for name, want in expected.items():
        have = np.asarray(outputs[name])
        diff = np.abs(have.astype(np.float64) - want.astype(np.float64))
        ok = bool(have.shape == want.shape and np.allclose(have, want, rtol=rtol, atol=atol))
        rows.append({"name": name, "max_abs_diff": float(diff.max()) if diff.size else 0.0, "ok": ok})
    return {"reference": engine, "model": model, "rtol": rtol, "atol": atol,
            "ok": all(r["ok"] for r in rows), "outputs": rows}


def reference_outputs(model: str, manifest: Mapping[str, Any], feeds: Mapping[str, np.ndarray]):
    """({output name: array}, engine description) for the artifact's outputs."""
    names = [t["name"] for t in manifest["outputs"]]
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    if ort is not None:
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        wanted = [n for n in names if n in {o.name for o in session.get_outputs()}]
        if len(wanted) == len(names):
            values = session.run(wanted, dict(feeds))
            return dict(zip(wanted, values)), f"onnxruntime {ort.__version__} (CPU)"
    from .frontend.onnx import import_onnx
    from .ir import interpreter

    shapes = {t["name"]: tuple(t["shape"]) for t in manifest["inputs"]}
    values = interpreter.run(import_onnx(model, input_shapes=shapes), feeds)
    return {n: values[n] for n in names}, "edgec reference interpreter (numpy)"
