"""TVM's RPC tracker with safe defaults: binds 127.0.0.1, prints where it listens, stops on a signal.

The tracker matches clients asking for a device key with RPC servers registered under it
(``edgec rpc-server --tracker HOST:PORT --key KEY``). It is TVM's own implementation
(``tvm.rpc.tracker``, which needs ``tornado``), run on a thread of this process instead of a
helper process, so SIGINT/SIGTERM stop it and close its port.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading

from tvm.rpc import base


def _say(message: str) -> None:
    print(f"tracker: {message}", flush=True)


class TrackerServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 9190) -> None:
        try:
            from tvm.rpc import tracker  # noqa: F401  (needs tornado)
        except ImportError as err:
            raise RuntimeError(f"the RPC tracker needs tornado ({err}); pip install tornado") from None
        self.host = host
        self.sock = socket.socket(base.get_addr_family((host, port)), socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError as err:
            self.sock.close()
            raise OSError(f"cannot listen on {host}:{port}: {err.strerror}") from None
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._handler = None
        self._ready = threading.Event()

    def stop(self, *_: object) -> None:
        self._stop.set()

    def serve_forever(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self.stop)
            signal.signal(signal.SIGTERM, self.stop)
        thread = threading.Thread(target=self._run, name="tracker", daemon=True)
        thread.start()
        self._ready.wait(30)
        _say(f"listening on {self.host}:{self.port}")
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            _say(f"warning: anyone who can reach {self.host}:{self.port} can use the devices registered here")
        while not self._stop.wait(0.5) and thread.is_alive():
            pass
        if self._handler is not None:
            self._handler._ioloop.add_callback(self._handler.stop)  # tornado's thread-safe entry point
        thread.join(5)
        self.sock.close()
        _say("stopped")

    def _run(self) -> None:
        from tvm.rpc.tracker import TrackerServerHandler

        asyncio.set_event_loop(asyncio.new_event_loop())
        self._handler = TrackerServerHandler(self.sock, base.random_key("tracker"))
        self._ready.set()
        self._handler.run()
