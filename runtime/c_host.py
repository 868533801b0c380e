"""Run an AOT C artifact (``edgec compile --target c``) on this machine through ctypes.

The artifact's ``libmodel.so`` is the generated ``model.c`` + kernels + the edgec C runtime, built
with the host's gcc: exactly the code a microcontroller runs, so tests and ``edgec run`` check it
against the TVM-VM build and the reference interpreter. No TVM is needed to run it.
"""

from __future__ import annotations

import ctypes
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from compiler.errors import ArtifactError, EdgecError

from .host import FeedChecks, read_manifest, tensor_specs, timed_runs


class _TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("ndim", ctypes.c_int32),
                ("shape", ctypes.POINTER(ctypes.c_int32)), ("bytes", ctypes.c_uint32), ("scale", ctypes.c_float),
                ("zero_point", ctypes.c_int32)]


class _ModelInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("num_inputs", ctypes.c_uint32), ("inputs", ctypes.POINTER(_TensorInfo)),
                ("num_outputs", ctypes.c_uint32), ("outputs", ctypes.POINTER(_TensorInfo)),
                ("arena_bytes", ctypes.c_uint32), ("workspace_bytes", ctypes.c_uint32),
                ("weights_bytes", ctypes.c_uint32)]


def _load_private_copy(library: Path) -> ctypes.CDLL:
    """dlopen a fresh copy: the loader caches libraries by path, so an artifact recompiled in place
    would otherwise keep running the old code in this process (and the arena is per library)."""
    with tempfile.TemporaryDirectory(prefix="edgec-c-") as tmp:
        copy = Path(tmp) / library.name
        shutil.copyfile(library, copy)
        try:
            return ctypes.CDLL(str(copy))
        except OSError as err:
            raise ArtifactError(f"cannot load {library}: {err}") from None


class CModel(FeedChecks):
    """A loaded C artifact: ``run`` and ``benchmark`` like ``runtime.host.Model``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        self.inputs, self.outputs = tensor_specs(self.manifest, "inputs"), tensor_specs(self.manifest, "outputs")
        library = self.path / (self.manifest.get("library") or "libmodel.so")
        if not library.is_file():
            raise ArtifactError(f"{library} is missing; re-run 'edgec compile --target c'")
        self._lib = _load_private_copy(library)
        self._lib.edgec_model_run.restype = ctypes.c_int
        self._lib.edgec_model_run.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)]
        self._lib.edgec_model_describe.restype = ctypes.POINTER(_ModelInfo)
        self._lib.edgec_status_string.restype = ctypes.c_char_p
        self._lib.edgec_status_string.argtypes = [ctypes.c_int]
        self._lib.edgec_version.restype = ctypes.c_char_p
        self.info = self.describe()

    def describe(self) -> dict[str, Any]:
        """What the library itself says about its inputs, outputs and memory (edgec_model_describe)."""
        info = self._lib.edgec_model_describe().contents

        def tensors(array, count: int) -> list[dict[str, Any]]:
            return [{"name": t.name.decode(), "shape": [t.shape[d] for d in range(t.ndim)], "bytes": t.bytes,
                     "scale": t.scale, "zero_point": t.zero_point} for t in (array[i] for i in range(count))]

        return {"name": info.name.decode(), "inputs": tensors(info.inputs, info.num_inputs),
                "outputs": tensors(info.outputs, info.num_outputs), "arena_bytes": info.arena_bytes,
                "workspace_bytes": info.workspace_bytes, "weights_bytes": info.weights_bytes,
                "runtime_version": self._lib.edgec_version().decode()}

    def _call(self, arrays: list[np.ndarray], results: list[np.ndarray]) -> None:
        ins = (ctypes.c_void_p * max(1, len(arrays)))(*[a.ctypes.data for a in arrays])
        outs = (ctypes.c_void_p * max(1, len(results)))(*[r.ctypes.data for r in results])
        status = self._lib.edgec_model_run(ins, outs)
        if status != 0:
            raise EdgecError(f"{self.path}: edgec_model_run failed: {self._lib.edgec_status_string(status).decode()}"
                             f" (status {status})")

    def _buffers(self) -> list[np.ndarray]:
        return [np.empty(spec.shape, spec.dtype) for spec in self.outputs]

    def run(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        arrays, results = self.check(feeds), self._buffers()
        self._call(arrays, results)
        return {spec.name: r for spec, r in zip(self.outputs, results)}

    def benchmark(self, feeds: Mapping[str, Any], repeat: int = 50, warmup: int = 5) -> list[float]:
        """Latency of ``repeat`` runs in milliseconds (after ``warmup`` runs)."""
        arrays, results = self.check(feeds), self._buffers()
        return timed_runs(lambda: self._call(arrays, results), repeat, warmup)

    def device_description(self) -> str:
        return f"cpu: {platform.processor() or platform.machine()}, 1 thread (edgec C runtime, gcc -O2)"
