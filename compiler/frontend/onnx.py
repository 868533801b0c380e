"""ONNX -> edgec IR.

The importer reads and checks the file, refuses unsupported ops up front (all of them in one
message), fixes symbolic dimensions, then converts node by node with the converters in
``onnx_ops``. Constants computed from constants fold on the way, so the IR holds only the
real computation. ONNX op names stay here; the IR speaks its own vocabulary.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import FrontendError
from ..ir.builder import GraphBuilder
from ..ir.graph import Graph
from ..ir.types import DTYPES
from ..ir.verify import verify
from . import onnx_ops  # noqa: F401  (registers the converters)
from .context import CONVERTERS, ImportContext, onnx_attrs

MIN_OPSET = 7
MAX_OPSET = onnx.defs.onnx_opset_version()


def load_model(path: str | os.PathLike) -> onnx.ModelProto:
    """Read an ONNX file with errors that say what is wrong with it."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FrontendError(f"no such file: {path}")
    if os.path.isdir(path):
        raise FrontendError(f"{path} is a directory, not an ONNX file")
    try:
        model = onnx.load(path)
    except Exception as err:  # protobuf raises DecodeError and friends
        raise FrontendError(f"{path} is not a valid ONNX file (it may be truncated or corrupt): "
                            f"{type(err).__name__}") from None
    if not model.graph.node and not model.graph.output:
        raise FrontendError(f"{path} is not a valid ONNX file: it holds no graph")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "invalid model"
        raise FrontendError(f"{path} is not a valid ONNX model: {first}") from None
    return model


def default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return MAX_OPSET


def unsupported_ops(model: onnx.ModelProto) -> dict[str, list[str]]:
    """Op types with no converter, each with the names of the nodes using it."""
    missing: dict[str, list[str]] = {}
    for i, node in enumerate(model.graph.node):
        known = node.domain in ("", "ai.onnx") and node.op_type in CONVERTERS
        if not known:
            op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
            missing.setdefault(op, []).append(node.name or f"#{i} ({node.output[0] if node.output else ''})")
    return missing


def _onnx_dtype(elem_type: int, what: str) -> str:
    try:
        dtype = str(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    except Exception:
        dtype = f"type {elem_type}"
    if dtype not in DTYPES:
        raise FrontendError(f"{what} has dtype {dtype}, which edgec does not support ({', '.join(DTYPES)})")
    return dtype


def parse_input_shapes(specs: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """``["x=1,3,224,224"]`` -> ``{"x": (1, 3, 224, 224)}`` (the CLI's --input-shape)."""
    shapes = {}
    for spec in specs:
        name, sep, dims = spec.rpartition("=")
        try:
            if not sep or not name:
                raise ValueError
            shapes[name] = tuple(int(d) for d in dims.split(",") if d.strip())
        except ValueError:
            raise FrontendError(f"--input-shape '{spec}' is not NAME=D1,D2,... (e.g. x=1,3,224,224)") from None
    return shapes


def import_onnx(model: onnx.ModelProto | str | os.PathLike,
                input_shapes: Mapping[str, Sequence[int]] | None = None,
                notices: list[str] | None = None) -> Graph:
    """Import an ONNX model (or file) into a verified edgec graph.

    ``input_shapes`` fixes the shape of named inputs; other symbolic dimensions become 1 and
    a one-line notice is appended to ``notices``.
    """
    if not isinstance(model, onnx.ModelProto):
        model = load_model(model)
    opset = default_opset(model)
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise FrontendError(f"model uses opset {opset}; edgec supports opsets {MIN_OPSET} to {MAX_OPSET}")
    missing = unsupported_ops(model)
    if missing:
        listing = "; ".join(f"{op} (nodes: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''})"
                            for op, names in sorted(missing.items()))
        raise FrontendError(f"unsupported op(s): {listing}")

    g = model.graph
    builder = GraphBuilder(g.name or "model")
    ctx = ImportContext(builder, opset)
    names: dict[str, str | None] = {"": None}  # ONNX value name -> IR value name

    initializers = {init.name: init for init in g.initializer}
    for init in g.initializer:
        names[init.name] = builder.const(_tensor(init), init.name)
    shapes = dict(input_shapes or {})
    unknown = sorted(set(shapes) - {i.name for i in g.input})
    if unknown:
        raise FrontendError(f"--input-shape names unknown input(s) {unknown}; the model's inputs are "
                            f"{[i.name for i in g.input if i.name not in initializers]}")
    for inp in g.input:
        if inp.name in initializers:
            continue  # old-style models list their weights as inputs too
        if not inp.type.HasField("tensor_type"):
            kind = inp.type.WhichOneof("value") or "untyped"
            raise FrontendError(f"input '{inp.name}' is a {kind.replace('_type', '')} value; "
                                "edgec compiles models whose inputs are tensors")
        names[inp.name] = builder.input(inp.name, _input_shape(inp, shapes.get(inp.name), ctx),
                                        _onnx_dtype(inp.type.tensor_type.elem_type, f"input '{inp.name}'"))

    for node in g.node:
        ctx.node = node
        inputs = [names.get(i, i if i in builder.graph.types else None) if i else None for i in node.input]
        for onnx_name, ir_name in zip(node.input, inputs):
            if onnx_name and ir_name is None:
                raise ctx.error(f"input '{onnx_name}' is not produced by any earlier node (graph not sorted?)")
        outs = CONVERTERS[node.op_type](ctx, node, inputs, onnx_attrs(node))
        for onnx_name, ir_name in zip(node.output, outs):
            if onnx_name:
                names[onnx_name] = ir_name
    ctx.node = None

    for out in g.output:
        if names.get(out.name) is None:
            raise FrontendError(f"graph output '{out.name}' is not produced by any node")
    _bind_outputs(builder, [(out.name, names[out.name]) for out in g.output])
    graph = builder.graph
    graph.remove_unused_constants()
    verify(graph)
    if any(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in g.node):
        from ..passes.fuse_qdq import fuse_qdq  # a pre-quantized (QDQ) model becomes integer IR

        graph = fuse_qdq(graph).graph
    if notices is not None:
        notices.extend(ctx.notices)
    return graph


def _tensor(init: onnx.TensorProto) -> np.ndarray:
    try:
        array = numpy_helper.to_array(init)
    except Exception as err:
        raise FrontendError(f"initializer '{init.name}' cannot be read: {err}") from None
    _onnx_dtype(init.data_type, f"initializer '{init.name}'")
    return array


def _input_shape(inp: onnx.ValueInfoProto, given: Sequence[int] | None, ctx: ImportContext) -> tuple[int, ...]:
    dims = inp.type.tensor_type.shape.dim
    if given is not None:
        given = tuple(int(d) for d in given)
        if inp.type.tensor_type.HasField("shape"):
            fixed = [(i, d.dim_value) for i, d in enumerate(dims) if d.HasField("dim_value") and d.dim_value > 0]
            if len(given) != len(dims) or any(given[i] != v for i, v in fixed):
                raise FrontendError(f"--input-shape {inp.name}={','.join(map(str, given))} does not fit the model's "
                                    f"input shape {[d.dim_value or d.dim_param or '?' for d in dims]}")
        return given
    if not inp.type.tensor_type.HasField("shape"):
        raise FrontendError(f"input '{inp.name}' has no shape; give one with --input-shape {inp.name}=D1,D2,...")
    if any(d.HasField("dim_value") and d.dim_value == 0 for d in dims):
        raise FrontendError(f"input '{inp.name}' has a zero-sized dimension; edgec does not compile empty tensors")
    shape = [d.dim_value if d.HasField("dim_value") else 1 for d in dims]
    if any(not d.HasField("dim_value") for d in dims):
        symbolic = [d.dim_param or "?" for d in dims if not d.HasField("dim_value")]
        ctx.notice(f"input '{inp.name}': symbolic dimension(s) {', '.join(symbolic)} set to 1 "
                   f"(shape {','.join(map(str, shape))}); use --input-shape {inp.name}=... to choose")
    return tuple(shape)


def _bind_outputs(builder: GraphBuilder, outputs: list[tuple[str, str]]) -> None:
    """Make the IR's outputs carry the ONNX output names (users look them up by name)."""
    graph = builder.graph
    for onnx_name, ir_name in outputs:
        if ir_name in graph.inputs or ir_name in graph.constants or ir_name in graph.outputs:
            ir_name = builder.op("identity", [ir_name], outputs=[onnx_name])  # outputs are node values
        if ir_name != onnx_name and onnx_name not in graph.inputs and onnx_name not in graph.constants:
            if onnx_name in graph.types:  # the name is held by an intermediate value: move that aside
                graph.rename(onnx_name, graph.fresh_name(onnx_name + "_"))
            graph.rename(ir_name, onnx_name)
            ir_name = onnx_name
        graph.outputs.append(ir_name)
