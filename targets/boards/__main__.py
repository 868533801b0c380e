"""``python -m targets.boards build|serve``: the Makefile's entry point for the emulated board."""

from __future__ import annotations

import argparse
import os
import sys

from compiler.errors import EdgecError

from .board import board_command, board_env
from .userland import CACHE, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m targets.boards", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build (or reuse) the emulated aarch64 userland under .cache/boards")
    serve = sub.add_parser("serve", help="run the board's RPC server on 127.0.0.1 (Ctrl-C stops it)")
    serve.add_argument("--port", type=int, default=9090, help="port (default 9090)")
    serve.add_argument("--key", default="", help="device key")
    serve.add_argument("--tracker", metavar="HOST:PORT", help="register with this tracker (needs --key)")
    args = parser.parse_args(argv)
    try:
        root = build(CACHE, log=lambda message: print(f"board: {message}", flush=True))
        if args.command == "build":
            return 0
        command = board_command(root, args.port, args.key, args.tracker)
    except EdgecError as err:
        print(f"board: error: {err}", file=sys.stderr)
        return 1
    os.execvpe(command[0], command, board_env())  # the server handles Ctrl-C/SIGTERM itself


if __name__ == "__main__":
    sys.exit(main())
