"""edgec as an ONNX backend (``onnx.backend.base.Backend``).

The ONNX backend API is how ONNX's own conformance suite, and tools written against it, run
a model: ``EdgecBackend.prepare(model).run(inputs)``. Here ``prepare`` is the whole edgec
pipeline -- import to the IR, compile with TVM for the host, load the artifact -- so a
passing backend test exercises exactly what ``edgec compile`` + ``edgec run`` do.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import onnx
from onnx import helper
from onnx.backend.base import Backend, BackendRep, Device, DeviceType, namedtupledict

from .errors import InputError, TargetError


class EdgecRep(BackendRep):
    """A compiled model, ready to run; outputs come back in graph order as a named tuple."""

    def __init__(self, model: Any, workdir: str) -> None:
        self.model = model  # runtime.host.Model
        self.input_names = [spec.name for spec in model.inputs]
        self.output_names = [spec.name for spec in model.outputs]
        self._outputs_type = namedtupledict("Outputs", self.output_names)
        # The artifact folder lives as long as the loaded library that came from it.
        self._cleanup = weakref.finalize(self, shutil.rmtree, workdir, True)

    def run(self, inputs: Any, **kwargs: Any) -> tuple[Any, ...]:
        """``inputs``: a list in graph-input order, a dict by name, or one array."""
        results = self.model.run(self._feeds(inputs))
        return self._outputs_type(*(results[name] for name in self.output_names))

    def _feeds(self, inputs: Any) -> dict[str, np.ndarray]:
        if isinstance(inputs, Mapping):
            return dict(inputs)
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        inputs = list(inputs)
        if len(inputs) != len(self.input_names):
            raise InputError(f"got {len(inputs)} input(s), the model takes {len(self.input_names)}: "
                             f"{self.input_names}")
        return dict(zip(self.input_names, inputs))

    def close(self) -> None:
        """Delete the artifact folder now rather than when the object is collected."""
        self._cleanup()


class EdgecBackend(Backend):
    """Runs ONNX models through edgec: ONNX -> IR -> TVM (host CPU) -> Relax VM."""

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> EdgecRep:
        """Compile ``model``. Keyword ``input_shapes`` ({name: shape}) fixes symbolic dims."""
        import runtime

        from .codegen.build import compile_graph
        from .frontend.onnx import import_onnx

        cls._check_device(device)
        graph = import_onnx(model, input_shapes=kwargs.get("input_shapes"))
        workdir = tempfile.mkdtemp(prefix="edgec-backend-")
        try:
            compile_graph(graph, Path(workdir) / "artifact")
            return EdgecRep(runtime.load(Path(workdir) / "artifact"), workdir)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple[Any, ...]:
        rep = cls.prepare(model, device, **kwargs)
        try:
            return rep.run(inputs)
        finally:
            rep.close()

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Any, device: str = "CPU",
                 outputs_info: Sequence[tuple[np.dtype, tuple[int, ...]]] | None = None,
                 **kwargs: Any) -> tuple[Any, ...]:
        """Run one node by wrapping it in a one-node model (``opset_version`` picks the opset)."""
        super().run_node(node, inputs, device=device, outputs_info=outputs_info, **kwargs)
        present = [name for name in node.input if name]
        arrays = list(inputs.values()) if isinstance(inputs, Mapping) else list(inputs)
        value_infos = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.asarray(a).dtype),
                                                     list(np.shape(a))) for name, a in zip(present, arrays)]
        outputs = [helper.make_empty_tensor_value_info(name) for name in node.output if name]
        graph = helper.make_graph([node], "run_node", value_infos, outputs)
        opset = kwargs.get("opset_version", onnx.defs.onnx_opset_version())
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        return cls.run_model(model, dict(zip(present, arrays)), device)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        try:
            return Device(device).type == DeviceType.CPU
        except AttributeError:  # an unknown device kind such as "TPU"
            return False

    @classmethod
    def _check_device(cls, device: str) -> None:
        if not cls.supports_device(device):
            raise TargetError(f"edgec's ONNX backend runs on device 'CPU' only, not '{device}'")


prepare = EdgecBackend.prepare
run_model = EdgecBackend.run_model
run_node = EdgecBackend.run_node
supports_device = EdgecBackend.supports_device
