"""A TVM RPC server with safe defaults; copy this one file to a board and run ``python3 server.py``.

It speaks TVM's RPC protocol (clients: ``tvm.rpc.connect``, ``edgec bench --rpc``) and registers
with TVM's tracker like ``python -m tvm.exec.rpc_server``, but it:

- binds 127.0.0.1 unless told otherwise (an RPC server runs any code a client sends it);
- refuses clients whose key differs from ``--key``, and finishes the handshake within a timeout;
- refuses uploads over ``--max-upload`` bytes and file names that leave the session's folder;
- ends a session after ``--session-timeout`` seconds;
- stops cleanly on SIGINT/SIGTERM: the running session is ended, the port closed, exit code 0.

Each session runs in a forked child (as in TVM's own server), so a crash or a timeout ends only
that session. Only the standard library and ``tvm`` (its runtime library is enough) are imported,
and no helper process is started with ``sys.executable``, so the server also runs under qemu-user.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import select
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import import_module


class _Lazy:
    """A module imported on first use: building the command line must not load TVM."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(import_module(self._name), attr)


base = _Lazy("tvm.rpc.base")          # TVM's RPC protocol constants and socket helpers
_ffi_api = _Lazy("tvm.rpc._ffi_api")  # the C++ server loop

INFO_FUNCTION = "edgec.rpc.device_info"  # what the client asks to learn the device's architecture
END_FUNCTION = "edgec.rpc.end_session"   # a client that is done (or failed) frees the server at once
PING_PERIOD = 2.0                        # seconds between tracker pings while idle (as TVM's server)
UNCLAIMED_GRACE = 6.0                    # a match key taken from the tracker but unused is renewed after this


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 9090                      # 0: any free port (printed when listening)
    port_end: int | None = None           # search [port, port_end) for a free port
    key: str = ""
    tracker: tuple[str, int] | None = None
    custom_addr: str | None = None        # address reported to the tracker (default: as it sees us)
    max_upload: int = 256 << 20           # bytes
    session_timeout: float = 600.0        # seconds; a client may ask for less, never more
    handshake_timeout: float = 10.0       # seconds for a client to send its magic and key


def _say(message: str) -> None:
    print(f"rpc-server: {message}", flush=True)


class RpcServer:
    """Listen, hand each accepted client to a forked session, repeat until ``stop``."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._stop = threading.Event()
        self._tracker: socket.socket | None = None
        self._tracker_error = ""                  # last tracker problem, printed once
        self._match_key = config.key
        self._last_ping = 0.0
        self._unclaimed_since: float | None = None
        self.sock = _bind(config.host, config.port, config.port_end)
        self.port = self.sock.getsockname()[1]

    def describe(self) -> str:
        c = self.config
        return (f"listening on {c.host}:{self.port} (key {c.key or 'none'}, tracker "
                f"{'%s:%d' % c.tracker if c.tracker else 'none'}, max upload {c.max_upload / (1 << 20):g} MiB, "
                f"session timeout {c.session_timeout:g} s)")

    def stop(self, *_: object) -> None:
        self._stop.set()

    def serve_forever(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self.stop)
            signal.signal(signal.SIGTERM, self.stop)
        _say(self.describe())
        if self.config.host not in ("127.0.0.1", "localhost", "::1"):
            _say(f"warning: anyone who can reach {self.config.host}:{self.port} can run code here")
        try:
            while not self._stop.is_set():
                client = self._next_client()
                if client is not None:
                    self._serve(*client)
        finally:
            self.sock.close()
            if self._tracker:
                self._tracker.close()
            _say("stopped")

    # -- accepting ------------------------------------------------------------------------
    def _next_client(self) -> tuple[socket.socket, tuple, float | None] | None:
        """One client that passed the handshake, or None (stop asked, idle tick, bad client)."""
        try:
            self._keep_tracker()
            ready, _, _ = select.select([self.sock], [], [], 0.5)
            if not ready:
                self._ping_tracker()
                return None
            conn, addr = self.sock.accept()
        except (OSError, ValueError) as err:  # the tracker went away or answered nonsense, or accept failed
            self._trouble(err)
            return None
        return self._handshake(conn, addr)

    def _trouble(self, err: Exception) -> None:
        """Report a problem once (the tracker connection is dropped and made again), wait, go on."""
        if self._tracker:
            self._tracker.close()
            self._tracker = None
        if str(err) != self._tracker_error:
            self._tracker_error = str(err)
            where = "tracker %s:%d" % self.config.tracker if self.config.tracker else "accepting clients"
            _say(f"{where}: {err}; retrying every 2 s")
        self._stop.wait(2.0)

    def _handshake(self, conn: socket.socket, addr: tuple) -> tuple[socket.socket, tuple, float | None] | None:
        conn.settimeout(self.config.handshake_timeout)
        try:
            if struct.unpack("<i", base.recvall(conn, 4))[0] != base.RPC_MAGIC:
                raise ValueError("not a TVM RPC client")
            size = struct.unpack("<i", base.recvall(conn, 4))[0]
            if not 0 <= size <= 4096:
                raise ValueError("bad key length")
            words = base.recvall(conn, size).decode("utf-8", "replace").split()
            if not words or words[0] != "client:" + self._match_key:
                conn.sendall(struct.pack("<i", base.RPC_CODE_MISMATCH))
                raise ValueError("wrong key")
            server_key = ("server:" + self.config.key).encode()
            conn.sendall(struct.pack("<ii", base.RPC_CODE_SUCCESS, len(server_key)) + server_key)
        except (OSError, ValueError) as err:
            _say(f"refused {addr[0]}:{addr[1]}: {err}")
            conn.close()
            return None
        conn.settimeout(None)
        asked = [float(w[len("-timeout="):]) for w in words[1:] if w.startswith("-timeout=")]
        return conn, addr, asked[0] if asked and asked[0] > 0 else None

    # -- serving --------------------------------------------------------------------------
    def _serve(self, conn: socket.socket, addr: tuple, asked_timeout: float | None) -> None:
        limit = min(self.config.session_timeout, asked_timeout or float("inf"))
        workdir = tempfile.mkdtemp(prefix="edgec-rpc-")
        _say(f"session from {addr[0]}:{addr[1]} (timeout {limit:g} s)")
        start = time.monotonic()
        child = multiprocessing.get_context("fork").Process(
            target=_session, args=(conn, workdir, self.config.max_upload), daemon=True)
        child.start()
        while child.is_alive() and not self._stop.is_set() and time.monotonic() - start < limit:
            child.join(0.25)
        if child.is_alive():
            why = "server stopping" if self._stop.is_set() else f"session timeout of {limit:g} s"
            _end_session(child, conn, f"RPCSessionTimeoutError: session ended by the server: {why}")
            _say(f"session from {addr[0]}:{addr[1]} ended: {why}")
        else:
            _say(f"session from {addr[0]}:{addr[1]} done in {time.monotonic() - start:.1f} s")
        conn.close()
        shutil.rmtree(workdir, ignore_errors=True)
        if self._tracker:  # a tracker match key is good for one session
            try:
                self._put_on_tracker()
            except (OSError, ValueError) as err:
                self._trouble(err)

    # -- tracker --------------------------------------------------------------------------
    def _keep_tracker(self) -> None:
        """Register with the tracker (again, after it was lost) before accepting clients."""
        if self.config.tracker is None or self._tracker is not None:
            return
        sock = socket.create_connection(self.config.tracker, timeout=self.config.handshake_timeout)
        sock.sendall(struct.pack("<i", base.RPC_TRACKER_MAGIC))
        if struct.unpack("<i", base.recvall(sock, 4))[0] != base.RPC_TRACKER_MAGIC:
            sock.close()
            raise OSError(f"{self.config.tracker[0]}:{self.config.tracker[1]} is not a TVM RPC tracker")
        self._tracker = sock
        self._call_tracker([base.TrackerCode.UPDATE_INFO,
                            {"key": "server:" + self.config.key, "addr": [self.config.custom_addr, self.port]}])
        self._put_on_tracker()
        self._tracker_error = ""
        _say(f"registered with tracker {self.config.tracker[0]}:{self.config.tracker[1]} as '{self.config.key}'")

    def _put_on_tracker(self) -> None:
        self._match_key = base.random_key(self.config.key)
        self._unclaimed_since = None
        self._call_tracker([base.TrackerCode.PUT, self.config.key, (self.port, self._match_key),
                            self.config.custom_addr])

    def _ping_tracker(self) -> None:
        """While idle: if a client took our match key from the tracker but never came, offer a new one."""
        now = time.monotonic()
        if self._tracker is None or now - self._last_ping < PING_PERIOD:
            return
        self._last_ping = now
        base.sendjson(self._tracker, [base.TrackerCode.GET_PENDING_MATCHKEYS])
        if self._match_key in base.recvjson(self._tracker):
            self._unclaimed_since = None
        elif self._unclaimed_since is None:
            self._unclaimed_since = now
        elif now - self._unclaimed_since > UNCLAIMED_GRACE:
            self._put_on_tracker()

    def _call_tracker(self, message: list) -> None:
        base.sendjson(self._tracker, message)
        if base.recvjson(self._tracker) != base.TrackerCode.SUCCESS:
            raise OSError(f"tracker refused {message[0]}")


def _bind(host: str, port: int, port_end: int | None) -> socket.socket:
    last: OSError | None = None
    for candidate in range(port, max(port_end or 0, port + 1)):
        sock = socket.socket(base.get_addr_family((host, candidate)), socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError as err:
            sock.close()
            last = err
            continue
        sock.listen(4)
        return sock
    raise OSError(f"cannot listen on {host}:{port}{'-%d' % (port_end - 1) if port_end else ''}: "
                  f"{last.strerror if last else 'no port'}")


def _end_session(child, conn: socket.socket, message: str) -> None:
    try:
        _ffi_api.ReturnException(conn.fileno(), message)
    except Exception:  # the client may be gone already
        pass
    child.terminate()
    child.join(2.0)
    if child.is_alive():
        child.kill()
        child.join()


# -- the session child --------------------------------------------------------------------
def _session(conn: socket.socket, workdir: str, max_upload: int) -> None:
    """Serve one client: TVM's RPC loop, with file access confined to ``workdir``."""
    import tvm
    import tvm_ffi

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which ends us
    os.chdir(workdir)

    def workpath(name: str) -> str:
        parts = str(name).replace("\\", "/").split("/")
        if str(name).startswith("/") or ".." in parts or not str(name).strip():
            raise ValueError(f"file name '{name}' is outside the session folder; use a plain relative name")
        return os.path.join(workdir, *parts)

    def upload(name: str, data: bytes) -> None:
        if len(data) > max_upload:
            raise ValueError(f"upload '{name}' is {len(data)} bytes, over this server's limit of "
                             f"{max_upload} bytes (raise it with --max-upload)")
        path = workpath(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(bytes(data))

    def load_module(name: str):
        return tvm.runtime.load_module(workpath(name))

    tvm_ffi.register_global_func("tvm.rpc.server.workpath", workpath, override=True)
    tvm_ffi.register_global_func("tvm.rpc.server.upload", upload, override=True)
    tvm_ffi.register_global_func("tvm.rpc.server.load_module", load_module, override=True)
    tvm_ffi.register_global_func(INFO_FUNCTION, lambda: json.dumps(device_info()), override=True)
    # End this session process shortly after answering, whatever the client still holds.
    tvm_ffi.register_global_func(END_FUNCTION, lambda: threading.Timer(0.05, os._exit, (0,)).start(),
                                 override=True)
    _ffi_api.ServerLoop(conn.fileno())


def device_info() -> dict:
    """What the client needs to check an artifact against this device and to describe it."""
    import tvm

    try:
        cuda = bool(tvm.cuda(0).exist)
    except Exception:
        cuda = False
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, "arm" if machine.startswith("armv") else machine)
    return {"server": "edgec", "arch": arch, "machine": platform.machine(), "system": platform.system(),
            "cpu": _cpu_name(), "threads": tvm.runtime.num_threads(), "cuda": cuda, "tvm": tvm.__version__,
            "note": os.environ.get("EDGEC_BOARD_NOTE", "")}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu part")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# -- command line -------------------------------------------------------------------------
def parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"'{text}' is not HOST:PORT")
    return host.strip("[]"), int(port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The server's options; ``edgec rpc-server`` uses the same ones."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 exposes it to the network)")
    parser.add_argument("--port", type=int, default=9090, help="port (default 9090; 0 picks a free one)")
    parser.add_argument("--port-end", type=int, help="search ports [PORT, PORT_END) for a free one")
    parser.add_argument("--key", default="", help="clients must present this key (the tracker's device key)")
    parser.add_argument("--tracker", type=parse_address, metavar="HOST:PORT", help="register with this tracker")
    parser.add_argument("--custom-addr", help="address to report to the tracker (default: as the tracker sees us)")
    parser.add_argument("--max-upload", type=float, default=256, metavar="MIB",
                        help="largest file a client may upload, in MiB (default 256)")
    parser.add_argument("--session-timeout", type=float, default=600, metavar="S",
                        help="end a session after S seconds (default 600)")


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    if args.tracker and not args.key:
        raise ValueError("--tracker needs --key: the tracker hands this server to clients asking for that key")
    return ServerConfig(host=args.host, port=args.port, port_end=args.port_end, key=args.key,
                        tracker=args.tracker, custom_addr=args.custom_addr,
                        max_upload=int(args.max_upload * (1 << 20)), session_timeout=args.session_timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="server.py", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        server = RpcServer(config_from_args(args))
    except (OSError, ValueError) as err:
        print(f"rpc-server: error: {err}", file=sys.stderr)
        return 1
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
