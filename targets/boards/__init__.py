"""Emulated boards for tests and demos: an aarch64 Linux userland run by qemu-user.

``python -m targets.boards build`` assembles (or reuses) the userland under ``.cache/boards``;
``python -m targets.boards serve`` runs the board's RPC server on 127.0.0.1 until Ctrl-C.
``make board`` and ``make board-serve`` call these.
"""

from .board import EmulatedBoard

__all__ = ["EmulatedBoard"]
