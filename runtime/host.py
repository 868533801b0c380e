"""Load an artifact directory and run it with TVM, numpy in and out: through the Relax VM, or by
one call of the library's ``edgec_main`` (the direct executor, ``compiler/codegen/direct.py``)."""

from __future__ import annotations

import functools
import json
import math
import os
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from compiler.errors import ArtifactError, InputError, last_line


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str


def read_manifest(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    manifest_path = path / "manifest.json"
    if not path.is_dir() or not manifest_path.is_file():
        raise ArtifactError(f"{path} is not an edgec artifact (no manifest.json); make one with 'edgec compile'")
    try:
        return json.loads(manifest_path.read_text())
    except json.JSONDecodeError as err:
        raise ArtifactError(f"{manifest_path} is corrupt: {err}") from None


class FeedChecks:
    """Input checking and random inputs, shared by every kind of loaded model (``self.inputs``)."""

    inputs: list[TensorSpec]

    @functools.cached_property
    def _expected(self) -> tuple[frozenset, list[tuple[str, tuple[int, ...], np.dtype]]]:
        """The input names, and (name, shape, dtype) per input: made once, a check runs per call."""
        return frozenset(t.name for t in self.inputs), [(t.name, t.shape, np.dtype(t.dtype)) for t in self.inputs]

    def check(self, feeds: Mapping[str, Any]) -> list[np.ndarray]:
        """The inputs in the model's order, checked by name, shape and dtype."""
        names, expected = self._expected
        if feeds.keys() != names:
            order = [t.name for t in self.inputs]
            missing = [n for n in order if n not in feeds]
            if missing:
                raise InputError(f"missing input(s) {missing}; the model takes {order}")
            raise InputError(f"unknown input(s) {[n for n in feeds if n not in names]}; the model takes {order}")
        arrays = []
        for name, shape, dtype in expected:
            array = feeds[name]
            if type(array) is not np.ndarray:
                array = np.asarray(array)
            if array.dtype != dtype:
                raise InputError(f"input '{name}' has dtype {array.dtype}, the model expects {dtype}")
            if array.shape != shape:
                raise InputError(f"input '{name}' has shape {list(array.shape)}, the model expects {list(shape)}")
            arrays.append(array if array.flags.c_contiguous else np.ascontiguousarray(array))
        return arrays

    def random_inputs(self, seed: int = 0) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        return {spec.name: random_array(rng, spec.shape, spec.dtype) for spec in self.inputs}


def random_array(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Standard normal floats; integers in [-128, 127] clipped to the dtype; booleans."""
    if dtype.startswith("float"):
        return rng.standard_normal(shape).astype(dtype)
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -128), min(info.max, 127) + 1, shape).astype(dtype)


class Model(FeedChecks):
    """A loaded artifact. ``run`` checks the inputs against the manifest before touching TVM."""

    def __init__(self, path: str | Path) -> None:
        # TVM's thread pool defaults to half the hardware threads (1 on a 2-core machine); use every
        # core this process may run on, as onnxruntime does, unless the user chose (TVM_NUM_THREADS).
        os.environ.setdefault("TVM_NUM_THREADS", str(len(os.sched_getaffinity(0))))
        import tvm
        from tvm.runtime.vm import VirtualMachine  # not tvm.relax: works with TVM's runtime library alone

        from .devices import local_device

        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        self.inputs, self.outputs = tensor_specs(self.manifest, "inputs"), tensor_specs(self.manifest, "outputs")
        library = self.path / self.manifest["library"]
        if not library.is_file():
            raise ArtifactError(f"{library} is missing; re-run 'edgec compile'")
        self.device = local_device(self.manifest, library)  # refuses code for another machine or a missing GPU
        try:
            self._lib = tvm.runtime.load_module(str(library))
        except Exception as err:
            raise ArtifactError(f"cannot load {library} on this machine (built for target "
                                f"'{self.manifest['target']['name']}'?): {last_line(err)}") from None
        self._tvm = tvm
        staged = self.device.dlpack_device_type() == tvm.cpu().dlpack_device_type()
        if executor_kind(self.manifest) == "direct":
            staged_outputs = [_aligned(spec) for spec in self.outputs]  # edgec_main writes the results here
            outputs = [self._shared(b) for b in staged_outputs]
            self._bind(DirectCall(tvm, self._lib, self.path, self.manifest, self.device, outputs), staged)
            if staged:
                self._direct = DirectRun(self.inputs, self._staged, self._main.entry,
                                         [*self._staged_tensors, *self._main.bound], self.outputs, staged_outputs,
                                         self.check)
        else:
            self._vm = VirtualMachine(self._lib, self.device)
            self._bind(self._vm["main"], staged)

    def _bind(self, main: Callable, staged: bool) -> None:
        """Keep ``main`` (inputs -> outputs). With ``staged`` (a local CPU), the inputs are copied into
        aligned buffers that TVM tensors share, made once: a small model's run is then mostly its
        kernels, not the tensor allocations and copies around them (about 25 us of 35 us for digits)."""
        self._main, self._lock, self._direct = main, threading.Lock(), None
        self._staged = [_aligned(spec) for spec in self.inputs] if staged else None
        self._staged_tensors = [self._shared(b) for b in self._staged] if staged else None

    def _shared(self, buffer: np.ndarray):
        """A TVM tensor over ``buffer``'s memory (an empty one has no aligned memory to share)."""
        if buffer.size == 0:
            return self._tvm.runtime.empty(buffer.shape, str(buffer.dtype), self.device)
        return self._tvm.runtime.from_dlpack(buffer)

    def _device_inputs(self, arrays: list[np.ndarray]) -> list:
        if self._staged is None:
            return [self._tvm.runtime.tensor(a, self.device) for a in arrays]
        for buffer, array in zip(self._staged, arrays):
            buffer[...] = array
        return self._staged_tensors

    def _invoke(self, args: list) -> list:
        """The output tensors of one call of ``main``."""
        result = self._main(*args)
        return [result] if isinstance(result, self._tvm.runtime.Tensor) else result

    def _outputs(self, results: list) -> dict[str, np.ndarray]:
        if self._staged is None:
            return {spec.name: results[i].numpy() for i, spec in enumerate(self.outputs)}
        return {spec.name: np.from_dlpack(results[i]).copy() for i, spec in enumerate(self.outputs)}

    def run(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if self._direct is not None:
            with self._lock:  # the staged buffers are shared by every call
                return self._direct(feeds)
        arrays = self.check(feeds)
        with self._lock:
            return self._outputs(self._invoke(self._device_inputs(arrays)))

    def benchmark(self, feeds: Mapping[str, Any], repeat: int = 50, warmup: int = 5) -> list[float]:
        """Latency of ``repeat`` runs in milliseconds (after ``warmup`` runs), inputs already on device."""
        arrays = self.check(feeds)
        sync = self.device.sync if self._staged is None else (lambda: None)  # GPU kernels run asynchronously
        with self._lock:
            args = self._device_inputs(arrays)

            def once() -> None:
                self._main(*args)
                sync()

            return timed_runs(once, repeat, warmup)


def executor_kind(manifest: Mapping[str, Any]) -> str:
    """"direct" or "vm" (artifacts from before the direct executor are VM artifacts)."""
    return manifest.get("executor", {}).get("kind", "vm")


class DirectCall:
    """The library's ``edgec_main`` with the weights, the arena and the output tensors bound: called
    with the input tensors, it runs the model and returns the output tensors."""

    def __init__(self, tvm, lib, path: Path, manifest: Mapping[str, Any], device, outputs: list) -> None:
        info = manifest["executor"]
        try:
            self.entry = lib[info["entry"]]
        except Exception:
            raise ArtifactError(f"{path} has no function '{info['entry']}'; re-run 'edgec compile'") from None
        self.params = tvm.runtime.tensor(read_params(path, info), device)
        self.arena = tvm.runtime.empty((info["arena_bytes"],), "uint8", device)
        self.outputs = outputs
        self.bound = [*outputs, self.params, self.arena]

    def __call__(self, *inputs) -> list:
        self.entry(*inputs, *self.bound)
        return self.outputs


class DirectRun:
    """One run of a direct artifact on this machine's CPU, in as little Python as possible (a small
    model's kernels take 2-6 us; this costs about 1 us): the inputs are checked and copied into the
    staged buffers in one pass, ``edgec_main`` runs on them, the outputs are copied out."""

    def __init__(self, inputs: list[TensorSpec], staged: list[np.ndarray], entry: Callable, args: list,
                 outputs: list[TensorSpec], staged_outputs: list[np.ndarray], check: Callable) -> None:
        self.inputs = [(spec.name, spec.shape, np.dtype(spec.dtype), buffer) for spec, buffer in zip(inputs, staged)]
        self.entry, self.args, self.check = entry, args, check
        self.outputs = [(spec.name, buffer) for spec, buffer in zip(outputs, staged_outputs)]
        self.only = self.outputs[0] if len(self.outputs) == 1 else None  # a third faster than the comprehension

    def __call__(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """``self.check`` (``FeedChecks.check``) handles everything but numpy arrays of the exact
        dtype and shape under exactly the input names: it converts, or raises the error."""
        if len(feeds) == len(self.inputs):
            for name, shape, dtype, buffer in self.inputs:
                array = feeds.get(name)
                if type(array) is not np.ndarray or array.dtype is not dtype or array.shape != shape:
                    break
                buffer[...] = array
            else:
                return self._call()
        for (*_, buffer), array in zip(self.inputs, self.check(feeds)):
            buffer[...] = array
        return self._call()

    def _call(self) -> dict[str, np.ndarray]:
        self.entry(*self.args)
        if self.only is not None:
            return {self.only[0]: self.only[1].copy()}
        return {name: buffer.copy() for name, buffer in self.outputs}


def read_params(path: Path, info: Mapping[str, Any]) -> np.ndarray:
    """The weights blob of a direct artifact, checked against the size the manifest records."""
    file = path / info["params"]
    try:
        params = np.fromfile(file, np.uint8)
    except OSError as err:
        raise ArtifactError(f"cannot read {file}: {err.strerror or err}; re-run 'edgec compile'") from None
    if params.size != info["params_bytes"]:
        raise ArtifactError(f"{file} is corrupt: {params.size} bytes, the manifest says {info['params_bytes']}")
    return params


def _aligned(spec: TensorSpec) -> np.ndarray:
    """An empty array for ``spec`` whose data starts on a 64-byte boundary, as TVM requires of
    memory it shares (and as its kernels assume)."""
    dtype = np.dtype(spec.dtype)
    size = int(np.prod(spec.shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(size + 64, np.uint8)
    start = (-raw.ctypes.data) % 64
    return raw[start:start + size].view(dtype).reshape(spec.shape)


def tensor_specs(manifest: Mapping[str, Any], key: str) -> list[TensorSpec]:
    """The manifest's "inputs" or "outputs" as TensorSpecs."""
    return [TensorSpec(t["name"], tuple(t["shape"]), t["dtype"]) for t in manifest[key]]


def load(path: str | Path):
    """The artifact at ``path``: a TVM-VM ``Model``; for C artifacts a ``CModel`` (``--target c``, runs
    here) or a ``McuModel`` (Cortex-M targets: boots the board under QEMU on first run)."""
    manifest = read_manifest(path)
    if manifest.get("runtime") == "edgec-c":
        if manifest.get("library"):
            from .c_host import CModel

            return CModel(path)
        from .mcu import load as load_board  # the Cortex-M runner (QEMU, or a serial port via runtime.mcu.load)

        return load_board(path)
    return Model(path)


def timed_runs(run: Callable[[], Any], repeat: int, warmup: int) -> list[float]:
    """Milliseconds of each of ``repeat`` calls of ``run``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def interleaved_runs(runners: Mapping[str, Callable[[], Any]], rounds: int, per_round: int = 1,
                     min_block_s: float = 0.0, warmup: int = 3, pause_s: float = 0.0) -> dict[str, list[float]]:
    """Milliseconds of each timed run of each runner. The runners take turns, in ``rounds``
    blocks of at least ``per_round`` runs and ``min_block_s`` seconds each (a model of microseconds
    runs slower just after a pause, and the timer is coarse), so that load from elsewhere on a
    shared machine hits all of them alike. ``pause_s`` before each block lets the last runner's
    pool threads stop spinning (onnxruntime's and TVM's both spin-wait after a run)."""
    block = per_round
    for run in runners.values():
        time.sleep(pause_s)
        for _ in range(warmup):
            start = time.perf_counter()
            run()
        block = max(block, math.ceil(min_block_s / max(time.perf_counter() - start, 1e-7)))
    times: dict[str, list[float]] = {label: [] for label in runners}
    for _ in range(rounds):
        for label, run in runners.items():
            time.sleep(pause_s)
            for _ in range(block):
                start = time.perf_counter()
                run()
                times[label].append((time.perf_counter() - start) * 1e3)
    return times


def latency_stats(times_ms: list[float]) -> dict[str, float]:
    ordered = sorted(times_ms)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {"median_ms": statistics.median(ordered), "mean_ms": statistics.fmean(ordered), "p90_ms": p90,
            "min_ms": ordered[0], "std_ms": statistics.pstdev(ordered) if len(ordered) > 1 else 0.0,
            "repeat": len(ordered)}
