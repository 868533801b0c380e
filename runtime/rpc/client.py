"""Reach a TVM RPC server, directly or through a tracker, with a deadline and one-line errors.

TVM's client calls block without limit when the other side is silent (a busy server keeps new
clients waiting in its backlog; a tracker holds a request until a server with that key is free),
so every blocking step here runs under a deadline and fails with an ``RpcError`` that says what
to check. Nothing here binds a port; it connects only to the address it is given.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from compiler.errors import EdgecError, UsageError

INFO_FUNCTION = "edgec.rpc.device_info"  # registered by runtime/rpc/server.py
END_FUNCTION = "edgec.rpc.end_session"
T = TypeVar("T")


class RpcError(EdgecError):
    """The remote device cannot be reached, refuses us, or fails during the session."""

    kind = "rpc error"


def parse_address(text: str, option: str) -> tuple[str, int]:
    """'HOST:PORT' (or '[::1]:PORT') -> (host, port); a UsageError naming the option otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{option} '{text}' is not HOST:PORT (e.g. 127.0.0.1:9090)")
    return host.strip("[]"), int(port)


@dataclass
class Remote:
    """A live RPC session and what we know of the machine at the other end."""

    session: Any                      # tvm.rpc.RPCSession
    where: str                        # 'rpc 127.0.0.1:9090' or 'tracker 127.0.0.1:9190, key board'
    address: dict[str, str]           # for reports: {"rpc": "H:P"} or {"tracker": "H:P", "key": K}
    info: dict[str, Any] | None       # the device's own description (edgec's server only)

    def close(self) -> None:
        """End the session now. TVM closes a session only when its last reference goes (error objects
        can keep it in reference cycles), and a server serves one session at a time: edgec's server
        is told to end it; for others the reference is dropped."""
        session, self.session = self.session, None
        if session is not None and self.info:
            try:
                bounded(session.get_function(END_FUNCTION), 5.0, "ending the session")
            except Exception:  # already gone: nothing to free
                pass

    def describe(self) -> str:
        """'aarch64 via rpc 127.0.0.1:9090: <cpu>, 1 thread (note)' or a plainer line for TVM's server."""
        if not self.info:
            return f"remote device via {self.where}"
        info = self.info
        threads = info.get("threads")
        text = f"{info.get('arch', '?')} via {self.where}: {info.get('cpu', '?')}"
        text += f", {threads} thread{'s' if threads != 1 else ''}" if threads else ""
        return text + (f" ({info['note']})" if info.get("note") else "")


def bounded(call: Callable[[], T], timeout: float, what: str) -> T:
    """Run ``call`` with a deadline; a call still blocked then is abandoned on a daemon thread."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = call()
        except BaseException as err:  # handed to the caller's thread
            result["error"] = err

    thread = threading.Thread(target=run, name="edgec-rpc", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise RpcError(f"{what}: no answer within {timeout:g} s (--timeout)")
    if "error" in result:
        error = result.pop("error")  # break the cycle error -> traceback -> frame -> result, so that a
        raise error                  # failed session is freed (and closed) as soon as the error is
    return result.pop("value")


def connect(rpc: str | None = None, tracker: str | None = None, key: str = "", timeout: float = 30.0,
            session_timeout: float = 0.0) -> Remote:
    """Open a session with the server at ``rpc``, or with one the tracker at ``tracker`` hands out
    for ``key``. Every step answers within ``timeout`` seconds or raises an RpcError."""
    if bool(rpc) == bool(tracker):
        raise UsageError("give exactly one of --rpc HOST:PORT or --tracker HOST:PORT")
    if tracker:
        if not key:
            raise UsageError("--tracker needs --key: the device key the RPC servers registered with")
        host, port = parse_address(tracker, "--tracker")
        where, address = f"tracker {host}:{port}, key {key}", {"tracker": f"{host}:{port}", "key": key}
        s_host, s_port, match_key = request_from_tracker(host, port, key, timeout)
        session = _open(s_host, s_port, match_key, timeout, session_timeout, f"RPC server {s_host}:{s_port} "
                        f"(from tracker {host}:{port})")
    else:
        host, port = parse_address(rpc, "--rpc")
        where, address = f"rpc {host}:{port}", {"rpc": f"{host}:{port}", **({"key": key} if key else {})}
        session = _open(host, port, key, timeout, session_timeout, f"RPC server {host}:{port}")
    return Remote(session, where, address, _device_info(session, timeout, where))


def _open(host: str, port: int, key: str, timeout: float, session_timeout: float, what: str):
    from tvm import rpc

    try:
        return bounded(lambda: rpc.connect(host, port, key=key, session_timeout=session_timeout), timeout,
                       f"{what} accepted the connection but did not start a session (busy with another "
                       "client, or not a TVM RPC server?)")
    except RpcError:
        raise
    except Exception as err:
        text = str(err)
        if "cannot find server that matches key" in text:
            raise RpcError(f"{what} refused key '{key or ''}' (start the server with the same --key, or "
                           "leave --key out for a server without one)") from None
        if "Connect to" in text and "failed" in text:
            raise RpcError(f"cannot connect to {what}: nothing answers there (is 'edgec rpc-server' or "
                           "'python -m tvm.exec.rpc_server' running, on that port?)") from None
        if "Socket" in text or "connection reset" in text.lower():
            raise RpcError(f"{what} dropped the connection during the RPC handshake: is it a TVM RPC server? "
                           "(a tracker's port goes with --tracker)") from None
        raise RpcError(f"{what}: {_last_line(text)}") from None


def request_from_tracker(host: str, port: int, key: str, timeout: float) -> tuple[str, int, str]:
    """Ask the tracker for a free server registered under ``key``: (host, port, match key)."""
    from tvm.rpc import base

    with _tracker_socket(host, port, timeout) as sock:
        base.sendjson(sock, [base.TrackerCode.REQUEST, key, "", 1])
        try:
            reply = base.recvjson(sock)
        except socket.timeout:
            keys = tracker_keys(host, port, timeout)
            known = f"it has servers for {', '.join(repr(k) for k in keys)}" if keys else "it has no servers"
            raise RpcError(f"tracker {host}:{port} found no free RPC server with key '{key}' within "
                           f"{timeout:g} s ({known})") from None
    if not (isinstance(reply, list) and reply and reply[0] == base.TrackerCode.SUCCESS):
        raise RpcError(f"tracker {host}:{port} answered {reply!r} to a request for key '{key}'")
    s_host, s_port, match_key = reply[1]
    return s_host, int(s_port), match_key


def tracker_keys(host: str, port: int, timeout: float) -> list[str]:
    """The device keys of the servers registered at the tracker."""
    from tvm.rpc import base

    with _tracker_socket(host, port, timeout) as sock:
        base.sendjson(sock, [base.TrackerCode.SUMMARY])
        reply = base.recvjson(sock)
    servers = reply[1].get("server_info", []) if isinstance(reply, list) and len(reply) > 1 else []
    return sorted({s["key"].split(":", 1)[-1] for s in servers if "key" in s})


class _tracker_socket:
    """A tracker connection after the magic handshake, every read bounded by ``timeout``."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.where, self.address, self.timeout = f"tracker {host}:{port}", (host, port), timeout

    def __enter__(self) -> socket.socket:
        from tvm.rpc import base

        try:
            self.sock = socket.create_connection(self.address, timeout=self.timeout)
        except socket.timeout:
            raise RpcError(f"cannot reach {self.where} within {self.timeout:g} s") from None
        except OSError as err:
            raise RpcError(f"cannot connect to {self.where}: {err.strerror or err} (is 'edgec tracker' "
                           "running there?)") from None
        try:
            self.sock.sendall(struct.pack("<i", base.RPC_TRACKER_MAGIC))
            magic = struct.unpack("<i", base.recvall(self.sock, 4))[0]
        except (OSError, struct.error):
            magic = None
        if magic != base.RPC_TRACKER_MAGIC:
            self.sock.close()
            raise RpcError(f"{self.where} is not a TVM RPC tracker (wrong handshake)")
        return self.sock

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def _device_info(session, timeout: float, where: str) -> dict[str, Any] | None:
    """The server's self-description, or None for servers that do not offer one (TVM's own)."""
    try:
        function = session.get_function(INFO_FUNCTION)
    except Exception:
        return None
    try:
        return json.loads(bounded(function, timeout, f"device at {where}"))
    except (ValueError, TypeError):
        return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"
