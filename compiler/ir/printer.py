"""Stable text form of a graph, one line per node; tests compare against it.

    graph tiny(%x: f32[1,3,8,8]) {
      %w: f32[4,3,3,3] = const
      %y: f32[1,4,8,8] = conv(%x, %w) {groups=1, pads=(1,1,1,1), strides=(1,1)}
      return %y
    }
"""

from __future__ import annotations

from .graph import Graph, Node


def _attr(value) -> str:
    if isinstance(value, tuple):
        return "(" + ",".join(_attr(v) for v in value) + ")"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return repr(value)
    return str(value)


def format_node(graph: Graph, node: Node) -> str:
    outs = ", ".join(f"%{o}: {graph.types[o]}" for o in node.outputs)
    args = ", ".join(f"%{i}" for i in node.inputs)
    attrs = ", ".join(f"{k}={_attr(v)}" for k, v in sorted(node.attrs.items()) if v != () and v is not None)
    return f"{outs} = {node.op}({args})" + (f" {{{attrs}}}" if attrs else "")


def format_graph(graph: Graph) -> str:
    ins = ", ".join(f"%{i}: {graph.types[i]}" for i in graph.inputs)
    lines = [f"graph {graph.name}({ins}) {{"]
    for name, array in graph.constants.items():
        value = f" {array.reshape(-1)[0].item()!r}" if array.size == 1 else ""
        lines.append(f"  %{name}: {graph.types[name]} = const{value}")
    lines += [f"  {format_node(graph, n)}" for n in graph.nodes]
    lines.append(f"  return {', '.join('%' + o for o in graph.outputs)}")
    lines.append("}")
    return "\n".join(lines) + "\n"
