"""The host side of edgec's board protocol (docs/mcu-protocol.md), over any Transport.

A frame is ``magic[4] version:u8 command:u8 status:u16 arg:u32 length:u32 payload crc32:u32``,
little-endian, CRC-32 (zlib's) over everything before it; requests start with ``EDGC``, replies
with ``EDGR``. ``BoardClient`` sends INFO / RUN / BENCH and checks every reply.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import BoardError, BoardTimeout
from .transport import Transport

VERSION = 1
REQUEST, REPLY = b"EDGC", b"EDGR"
HEADER = struct.Struct("<4sBBHII")
INFO, RUN, BENCH = 1, 2, 3
COMMANDS = {INFO: "INFO", RUN: "RUN", BENCH: "BENCH"}
DTYPES = {0: "float32", 1: "int8", 2: "uint8", 3: "int32", 4: "int64"}
STATUS = {0: "ok", 1: "a NULL input or output pointer", 2: "workspace exhausted", 3: "a kernel failed",
          0x100: "bad CRC (the request was corrupted on the way)", 0x101: "unknown command",
          0x102: "wrong payload length", 0x103: "unsupported protocol version",
          0x104: "the device's I/O buffers are smaller than the model's tensors"}
MAX_PAYLOAD = 64 << 20


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    bytes: int
    scale: float
    zero_point: int


@dataclass(frozen=True)
class BoardInfo:
    protocol: int
    runtime_version: str
    clock_hz: int
    arena_bytes: int
    workspace_bytes: int
    weights_bytes: int
    input_capacity: int
    stack_bytes: int       # the firmware's stack reserve
    stack_used: int        # deepest stack use since reset (painted stack), at the time of the INFO request
    model: str
    board: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]


def frame(magic: bytes, command: int, payload: bytes = b"", arg: int = 0, status: int = 0) -> bytes:
    body = HEADER.pack(magic, VERSION, command, status, arg, len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body))


class Reader:
    """Sequential little-endian reads from a reply payload."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def string(self) -> str:
        (n,) = self.take("H")
        self.at += n
        return self.data[self.at - n:self.at].decode("utf-8", "replace")


def parse_tensor(r: Reader) -> TensorInfo:
    dtype, ndim, name_len, size, scale, zero_point = r.take("BBHIfi")
    shape = r.take(f"{ndim}i")
    name = r.data[r.at:r.at + name_len].decode("utf-8", "replace")
    r.at += name_len
    if dtype not in DTYPES:
        raise BoardError(f"the board describes tensor '{name}' with unknown dtype code {dtype}")
    return TensorInfo(name, DTYPES[dtype], tuple(shape), size, scale, zero_point)


def parse_info(payload: bytes) -> BoardInfo:
    r = Reader(payload)
    protocol, version, clock, arena, workspace, weights, capacity, n_in, n_out, stack, used = r.take("11I")
    model, board = r.string(), r.string()
    inputs = tuple(parse_tensor(r) for _ in range(n_in))
    outputs = tuple(parse_tensor(r) for _ in range(n_out))
    return BoardInfo(protocol, f"{version >> 16}.{(version >> 8) & 255}.{version & 255}", clock, arena,
                     workspace, weights, capacity, stack, used, model, board, inputs, outputs)


class BoardClient:
    """Requests to one board. ``timeout`` bounds each reply (seconds); ``describe`` names the board in errors."""

    def __init__(self, transport: Transport, timeout: float = 60.0) -> None:
        self.transport, self.timeout = transport, timeout
        self._info: BoardInfo | None = None

    def request(self, command: int, payload: bytes = b"", arg: int = 0, timeout: float | None = None) -> bytes:
        """Send one request and return the reply payload (status checked)."""
        self.transport.write(frame(REQUEST, command, payload, arg))
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        name = COMMANDS[command]
        try:
            head = self.transport.read(HEADER.size, deadline)
        except BoardTimeout as err:
            raise BoardTimeout(f"{err} to {name} within {self.timeout if timeout is None else timeout:g} s") from None
        magic, version, echoed, status, _, length = HEADER.unpack(head)
        if magic != REPLY or echoed != command or length > MAX_PAYLOAD:
            raise BoardError(f"{self.transport.description} sent a malformed reply to {name} "
                             f"(header {head.hex()}); is the board running edgec's firmware?")
        payload = self.transport.read(length, deadline)
        (crc,) = struct.unpack("<I", self.transport.read(4, deadline))
        if crc != zlib.crc32(head + payload):
            raise BoardError(f"the reply to {name} from {self.transport.description} failed its CRC check")
        if version != VERSION:
            raise BoardError(f"the board speaks protocol version {version}; this edgec speaks {VERSION}")
        if status:
            raise BoardError(f"{self.transport.description} refused {name}: "
                             f"{STATUS.get(status, f'status {status}')} (status {status})")
        return payload

    def info(self) -> BoardInfo:
        if self._info is None:
            payload = self.request(INFO)
            try:
                self._info = parse_info(payload)
            except (struct.error, IndexError):
                raise BoardError(f"the INFO reply of {self.transport.description} is malformed ({len(payload)} "
                                 "bytes): firmware from another edgec version? rebuild it (make)") from None
        return self._info

    def stack_used(self) -> int:
        """Deepest stack use since the board started (a fresh INFO request)."""
        self._info = None
        return self.info().stack_used

    def input_payload(self, arrays: Sequence[np.ndarray]) -> bytes:
        info = self.info()
        if len(arrays) != len(info.inputs):
            raise BoardError(f"the board's model takes {len(info.inputs)} inputs, got {len(arrays)}")
        parts = []
        for spec, array in zip(info.inputs, arrays):
            data = np.ascontiguousarray(array, dtype=np.dtype(spec.dtype).newbyteorder("<")).tobytes()
            if len(data) != spec.bytes:
                raise BoardError(f"input '{spec.name}' is {len(data)} bytes; the board's model takes {spec.bytes}")
            parts.append(data)
        return b"".join(parts)

    def run(self, arrays: Sequence[np.ndarray]) -> tuple[list[np.ndarray], int]:
        """(outputs in descriptor order, ticks of the inference)."""
        payload = self.request(RUN, self.input_payload(arrays))
        (ticks,) = struct.unpack_from("<Q", payload)
        outputs, at = [], 8
        for spec in self.info().outputs:
            raw = payload[at:at + spec.bytes]
            if len(raw) != spec.bytes:
                raise BoardError(f"the board sent {len(raw)} bytes for output '{spec.name}', expected {spec.bytes}")
            outputs.append(np.frombuffer(raw, dtype=np.dtype(spec.dtype).newbyteorder("<"))
                           .astype(spec.dtype).reshape(spec.shape))
            at += spec.bytes
        return outputs, ticks

    def bench(self, arrays: Sequence[np.ndarray], repeat: int) -> list[int]:
        """Ticks of ``repeat`` inferences (the board caps one request at 64; longer runs are split)."""
        payload, ticks = self.input_payload(arrays), []
        while len(ticks) < repeat:
            n = min(64, repeat - len(ticks))
            reply = self.request(BENCH, payload, arg=n, timeout=self.timeout * n)
            (count,) = struct.unpack_from("<I", reply)
            ticks += list(struct.unpack_from(f"<{count}Q", reply, 4))
        return ticks
