"""The named targets edgec knows."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import Any

from compiler.errors import TargetError


@dataclass(frozen=True)
class TargetSpec:
    name: str
    description: str
    tvm: dict[str, Any]                  # TVM target in dict form
    host: dict[str, Any] | None = None   # TVM host target for device targets (CUDA)
    cc: str | None = None                # cross compiler that links the library; None = TVM's default
    runs_on_host: bool = True            # can `edgec run` execute it here without a device?
    features: tuple[str, ...] = field(default_factory=tuple)


def _host() -> TargetSpec:
    machine = platform.machine()
    return TargetSpec("host", f"this machine ({machine}), generic LLVM code", {"kind": "llvm"})


TARGETS: dict[str, TargetSpec] = {t.name: t for t in [_host()]}


def get_target(name: str) -> TargetSpec:
    if name not in TARGETS:
        raise TargetError(f"unknown target '{name}'; known targets: {', '.join(sorted(TARGETS))}")
    return TARGETS[name]
