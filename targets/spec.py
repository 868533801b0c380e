"""What a target is: the TVM target, the machine code it makes, and how that code is linked and run.

A ``TargetSpec`` is plain data (no TVM import), so ``edgec targets`` lists targets instantly and a
user's board file is checked field by field before anything is compiled.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from typing import Any

# The ELF machine each architecture name stands for, and the Debian cross toolchain that links
# shared libraries for it on another machine (compiler, apt packages to install).
CROSS_TOOLCHAINS: dict[str, tuple[str, str]] = {
    "x86_64": ("x86_64-linux-gnu-g++", "g++-x86-64-linux-gnu libc6-dev-amd64-cross"),
    "aarch64": ("aarch64-linux-gnu-g++", "g++-aarch64-linux-gnu libc6-dev-arm64-cross"),
    "arm": ("arm-linux-gnueabihf-g++", "g++-arm-linux-gnueabihf libc6-dev-armhf-cross"),
}
DEVICES = ("cpu", "cuda", "mcu")
RUNNERS = ("local", "qemu-aarch64", "qemu-arm", "qemu-system-arm", "cuda", "rpc")


def host_arch() -> str:
    """This machine's architecture in the names above ('x86_64', 'aarch64', 'arm')."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, "arm" if machine.startswith("armv") else machine)


def host_cpu_flags() -> frozenset[str]:
    """CPU feature flags of this machine (x86 'flags' or ARM 'Features' in /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip().lower() in ("flags", "features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


@dataclass(frozen=True)
class TargetSpec:
    """One named target. ``tvm`` and ``host`` are TVM targets in dict form (``host`` only for
    device targets such as CUDA, whose host code may itself be cross-compiled)."""

    name: str
    description: str
    tvm: dict[str, Any]
    host: dict[str, Any] | None = None
    arch: str = field(default_factory=host_arch)  # ELF machine of the library: x86_64, aarch64, arm
    device: str = "cpu"                            # where the model runs: cpu, cuda, mcu
    runner: str = "local"                          # default way to run it: local, qemu-*, cuda, rpc
    cc: str | None = None                          # linker command; None = chosen from arch (see linker)
    toolchain: str | None = None                   # apt package(s) that provide ``cc``
    features: tuple[str, ...] = ()                 # CPU features the code needs (checked before running)
    source: str = "built-in"                       # where the definition came from (file path for boards)

    def linker(self) -> tuple[str | None, str | None]:
        """(compiler, apt packages) that link the library; (None, None) = this machine's own g++."""
        if self.cc:
            return self.cc, self.toolchain
        if self.arch == host_arch() or self.device == "mcu":
            return None, None
        return CROSS_TOOLCHAINS.get(self.arch, (None, None))

    @property
    def runs_on_host(self) -> bool:
        """Can ``edgec run`` execute the artifact on this machine, with no board or GPU?"""
        if self.device != "cpu" or self.arch != host_arch():
            return False
        flags = host_cpu_flags()
        return all(f in flags for f in self.features) if flags else not self.features

    @property
    def summary(self) -> str:
        """The one line ``edgec targets`` prints."""
        return self.description


def check_field(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    """A board-file field of the right type, or a ValueError naming it (turned into TargetError)."""
    if not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise ValueError(f"{where} must be a {names}, got {value!r}")
    return value


def spec_from_dict(data: dict[str, Any], source: str, base: TargetSpec | None = None) -> TargetSpec:
    """Build a TargetSpec from a board file's table; ``base`` (a built-in) fills what is left out."""
    known = {"name", "description", "base", "tvm", "host", "arch", "device", "runner", "cc", "toolchain",
             "features"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; a target has {sorted(known)}")
    name = check_field(data.get("name"), str, "'name'")
    if not name or any(c.isspace() or c in "/\\" for c in name):
        raise ValueError(f"'name' {name!r} must be a non-empty word (no spaces or slashes)")
    if base is None and "tvm" not in data:
        raise ValueError(f"target '{name}' needs a [tvm] table (e.g. kind = \"llvm\") or a 'base' target")
    fields: dict[str, Any] = {} if base is None else {
        "tvm": dict(base.tvm), "host": base.host, "arch": base.arch, "device": base.device,
        "runner": base.runner, "cc": base.cc, "toolchain": base.toolchain, "features": base.features,
        "description": base.description}
    for key in ("tvm", "host"):
        if key in data:
            fields[key] = dict(check_field(data[key], dict, f"'{key}'"))
    for key in ("description", "arch", "device", "runner", "cc", "toolchain"):
        if key in data:
            fields[key] = check_field(data[key], str, f"'{key}'")
    if "features" in data:
        fields["features"] = tuple(check_field(f, str, "'features' entry")
                                   for f in check_field(data["features"], list, "'features'"))
    check_choice(fields.get("device", "cpu"), DEVICES, "device")
    check_choice(fields.get("runner", "local"), RUNNERS, "runner")
    if "kind" not in fields["tvm"]:
        raise ValueError("[tvm] needs 'kind' (\"llvm\" for CPUs, \"cuda\" for NVIDIA GPUs)")
    fields.setdefault("description", f"user target from {os.path.basename(source)}")
    return TargetSpec(name=name, source=source, **fields)


def check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise ValueError(f"'{what}' is {value!r}; choose one of {', '.join(choices)}")
