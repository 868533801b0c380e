"""An artifact running on a remote device: upload the library, load it there, run and time it.

``RemoteModel`` has the same ``run``/``benchmark``/``random_inputs`` as ``runtime.Model``: inputs
are checked here against the manifest, copied to the device, and the outputs copied back. Timing
uses TVM's ``time_evaluator`` on the device, so the network is not in the figures.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Mapping

from compiler.errors import ArtifactError
from targets.toolchain import elf_arch

from ..devices import check_fits, target_name, wanted_device
from ..host import DirectCall, Model, executor_kind, read_manifest, tensor_specs
from .client import Remote, RpcError, bounded


class RemoteModel(Model):
    def __init__(self, path: str | Path, remote: Remote, timeout: float = 120.0) -> None:
        import tvm
        from tvm.runtime.vm import VirtualMachine

        self.path, self.remote, self._tvm = Path(path), remote, tvm
        self.manifest = read_manifest(self.path)
        self.inputs, self.outputs = tensor_specs(self.manifest, "inputs"), tensor_specs(self.manifest, "outputs")
        library = self.path / self.manifest["library"]
        if not library.is_file():
            raise ArtifactError(f"{library} is missing; re-run 'edgec compile'")
        if remote.info:  # edgec's server says what it is: check before sending anything
            check_fits(self.manifest, library, remote.info.get("arch", "?"), bool(remote.info.get("cuda")),
                       f"the device at {remote.where}", "compile for that device's target (edgec targets)")
        session = remote.session
        name = f"edgec-{uuid.uuid4().hex[:12]}.so"
        self._call(lambda: session.upload(str(library), name), timeout, f"uploading {library}")
        try:
            lib = bounded(lambda: session.load_module(name), timeout, f"loading {library} on {remote.where}")
        except RpcError:
            raise
        except Exception as err:
            arch = elf_arch(library)
            raise ArtifactError(f"{library.parent} (target '{target_name(self.manifest)}', {arch} code) does not "
                                f"load on the device at {remote.where}; if that device is not {arch}, compile for "
                                f"its target: {_reason(err)}") from None
        self.device = session.cuda(0) if wanted_device(self.manifest) == "cuda" else session.cpu(0)
        self._lib, self._vm = lib, None
        if executor_kind(self.manifest) == "direct":
            def start() -> DirectCall:
                outputs = [tvm.runtime.empty(spec.shape, spec.dtype, self.device) for spec in self.outputs]
                return DirectCall(tvm, lib, self.path, self.manifest, self.device, outputs)

            self._bind(self._call(start, timeout, "sending the weights"), staged=False)
        else:
            self._vm = self._call(lambda: VirtualMachine(lib, self.device), timeout, "starting the VM")
            self._bind(self._vm["main"], staged=False)

    def _call(self, call, timeout: float, what: str) -> Any:
        try:
            return bounded(call, timeout, f"{what} on {self.remote.where}")
        except (RpcError, ArtifactError):
            raise
        except Exception as err:
            raise RpcError(f"{what} on {self.remote.where} failed: {_reason(err)}") from None

    def _invoke(self, args: list) -> list:
        """The direct entry's output tensors; or through the VM's stateful calls, since a tuple
        returned over RPC is an opaque handle."""
        if self._vm is None:
            return self._main(*args)
        self._vm.set_input("main", *args)
        self._vm.invoke_stateful("main")
        return self._vm.get_outputs("main")

    def run(self, feeds: Mapping[str, Any]):
        return self._call(lambda: Model.run(self, feeds), 600.0, "running the model")

    def benchmark(self, feeds: Mapping[str, Any], repeat: int = 50, warmup: int = 5) -> list[float]:
        """Latency of ``repeat`` runs in milliseconds, timed on the device after ``warmup`` runs."""
        def measure() -> list[float]:
            if self._vm is None:  # the direct executor: time its entry function
                args = [*self._device_inputs(self.check(feeds)), *self._main.bound]
                for _ in range(warmup):
                    self._main.entry(*args)
                timer = self._lib.time_evaluator(self.manifest["executor"]["entry"], self.device, number=1,
                                                 repeat=repeat)
                return [t * 1e3 for t in timer(*args).results]
            self._vm.set_input("main", *self._device_inputs(self.check(feeds)))
            for _ in range(warmup):
                self._vm.invoke_stateful("main")
            timer = self._vm.time_evaluator("invoke_stateful", self.device, number=1, repeat=repeat)
            return [t * 1e3 for t in timer("main").results]

        return self._call(measure, 3600.0, "timing the model")

    def device_description(self) -> str:
        return self.remote.describe()

    def close(self) -> None:
        self._vm = self._main = self._lib = None
        self.remote.close()


def _reason(err: BaseException) -> str:
    """The useful line of a remote error (TVM prefixes remote tracebacks with many lines)."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if "cannot open shared object" in line or "wrong ELF class" in line or "Exec format" in line:
            return line
    return lines[-1] if lines else type(err).__name__
