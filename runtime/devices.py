"""Does an artifact fit the machine that is about to run it? Checked before the library is loaded.

The library's ELF header says which architecture its code is for; the manifest says which
device (CPU or CUDA GPU) and which CPU features it needs. A mismatch becomes one ArtifactError
that names the target and says where to run the artifact instead, rather than a loader error.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any, Mapping

from compiler.errors import ArtifactError
from targets.spec import host_arch, host_cpu_flags
from targets.toolchain import elf_arch

RPC_HINT = "run it on the device: edgec bench ARTIFACT --rpc HOST:PORT (README: Deploying to a board)"


def target_name(manifest: Mapping[str, Any]) -> str:
    return manifest.get("target", {}).get("name", "?")


def wanted_device(manifest: Mapping[str, Any]) -> str:
    """'cpu' or 'cuda' (manifests from before targets recorded it are CPU artifacts)."""
    return manifest.get("target", {}).get("device", "cpu")


def check_fits(manifest: Mapping[str, Any], library: Path, arch: str, has_cuda: bool, where: str,
               hint: str) -> None:
    """Raise an ArtifactError if ``library`` cannot run on a machine with ``arch`` (and a GPU or not)."""
    built = elf_arch(library)
    name = target_name(manifest)
    if built != arch:
        raise ArtifactError(f"{library.parent} was built for target '{name}' ({built} code); {where} is "
                            f"{arch}: {hint}")
    if wanted_device(manifest) == "cuda" and not has_cuda:
        raise ArtifactError(f"{library.parent} was built for target '{name}', a CUDA GPU, and {where} has no "
                            "CUDA GPU (or no NVIDIA driver)")


def local_device(manifest: Mapping[str, Any], library: Path):
    """The TVM device that runs ``library`` on this machine, after checking it can."""
    import tvm

    cuda = wanted_device(manifest) == "cuda"
    if cuda:
        prepare_cuda_compiler()
    check_fits(manifest, library, host_arch(), cuda and bool(tvm.cuda(0).exist), "this machine",
               RPC_HINT.replace("ARTIFACT", str(library.parent)))
    missing = [f for f in manifest.get("target", {}).get("features", []) if f not in host_cpu_flags()]
    if missing and host_cpu_flags():
        raise ArtifactError(f"{library.parent} was built for target '{target_name(manifest)}', which needs CPU "
                            f"features this machine lacks ({', '.join(missing)}); compile with --target host")
    return tvm.cuda(0) if cuda else tvm.cpu(0)


def prepare_cuda_compiler() -> None:
    """CUDA artifacts carry CUDA C; TVM compiles it for the GPU present when the library loads.

    That needs TVM's compile hook (``tvm.support.nvcc``) and a compiler: NVRTC through the
    ``cuda-bindings`` package (TVM's default), else ``nvcc`` from the CUDA toolkit."""
    if "TVM_CUDA_COMPILE_MODE" not in os.environ and not _has_module("cuda.bindings") and shutil.which("nvcc"):
        os.environ["TVM_CUDA_COMPILE_MODE"] = "nvcc"
    import tvm.support.nvcc  # noqa: F401  (registers tvm_callback_cuda_compile)


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False
