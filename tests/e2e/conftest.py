"""Shared fixtures for the end-to-end CLI tests: run ``compiler.cli.main`` and capture its output."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from compiler.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY_CNN = ROOT / "examples" / "tiny_cnn.onnx"


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*args: object) -> CliResult:
    """``edgec ARGS`` in-process, stdout and stderr captured (usable from module-scoped fixtures)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    return run_cli
