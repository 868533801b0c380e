"""edgec IR -> Relax IRModule.

One Relax function ``main`` takes the graph inputs in order and returns a tuple of the graph
outputs; weights become Relax constants. Each IR node is lowered by its rule in
``relax_ops``; this is the only package that imports TVM.
"""

from __future__ import annotations

import re

import tvm
from tvm import relax

from ..errors import LoweringError
from ..ir.graph import Graph, Node
from ..ir.ops import get
from ..ir.ops.registry import activation_of
from .relax_ops import LOWERINGS, LowerContext


def relax_var_name(name: str) -> str:
    """Relax names must be identifiers; ONNX names may hold '/', ':' and '.'."""
    clean = re.sub(r"\W", "_", name)
    return clean if clean and not clean[0].isdigit() else f"v_{clean}"


def unsupported(graph: Graph) -> list[str]:
    return sorted({n.op for n in graph.nodes if n.op not in LOWERINGS})


def to_relax(graph: Graph) -> tvm.IRModule:
    missing = unsupported(graph)
    if missing:
        raise LoweringError(f"no TVM lowering for IR op(s): {', '.join(missing)}")
    bb = relax.BlockBuilder()
    params = [relax.Var(relax_var_name(n), relax.TensorType(graph.types[n].shape, graph.types[n].dtype))
              for n in graph.inputs]
    env: dict[str, relax.Expr] = dict(zip(graph.inputs, params))
    ctx = LowerContext(graph, bb)
    with bb.function("main", params, attrs={"global_symbol": "main"}):
        with bb.dataflow():
            for name, array in graph.constants.items():
                env[name] = relax.const(array, str(array.dtype))
            for node in graph.nodes:
                args = [env[i] for i in node.inputs]
                attrs = get(node.op).full_attrs(node.attrs)
                try:
                    result = LOWERINGS[node.op](ctx, node, args, attrs)
                    act = activation_of(attrs)
                    if act is not None:  # a fused layer: its activation applies to the result
                        act_node = Node(act[0], [node.outputs[0]], node.outputs, act[1], node.name)
                        result = LOWERINGS[act[0]](ctx, act_node, [bb.emit(result)], act[1])
                except LoweringError:
                    raise
                except Exception as err:
                    raise LoweringError(f"lowering {node.label} failed: {type(err).__name__}: {err}") from err
                results = [result] if len(node.outputs) == 1 else list(result)
                for out, expr in zip(node.outputs, results):
                    env[out] = bb.emit(expr, name_hint=relax_var_name(out))
            out = bb.emit_output(relax.Tuple([env[o] for o in graph.outputs]))
        bb.emit_func_output(out)
    return bb.get()
