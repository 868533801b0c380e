"""The pruning report: channels, MACs and parameters per layer before and after, and totals."""

from __future__ import annotations

from typing import Any

from ..ir.graph import Graph
from ..ir.stats import node_macs


def _params(graph: Graph, node) -> int:
    return sum(int(graph.constants[i].size) for i in dict.fromkeys(node.inputs) if graph.is_const(i))


def layer_rows(before: Graph, after: Graph) -> list[dict[str, Any]]:
    """One row per conv/dense layer (nodes correspond by position)."""
    rows = []
    for a, b in zip(before.nodes, after.nodes):
        if a.op not in ("conv", "dense"):
            continue
        rows.append({"layer": a.name or a.outputs[0], "op": a.op,
                     "in": [before.types[a.inputs[0]].shape[-1 if a.op == "dense" else 1],
                            after.types[b.inputs[0]].shape[-1 if b.op == "dense" else 1]],
                     "out": [before.types[a.outputs[0]].shape[1], after.types[b.outputs[0]].shape[1]],
                     "macs": [node_macs(before, a), node_macs(after, b)],
                     "params": [_params(before, a), _params(after, b)]})
    return rows


def totals(before: Graph, after: Graph) -> dict[str, list[int]]:
    macs = [sum(node_macs(g, n) for n in g.nodes) for g in (before, after)]
    return {"macs": macs, "params": [before.param_count(), after.param_count()]}


def format_report(report: dict[str, Any]) -> str:
    """The table the CLI prints with --report."""
    from ..cli_format import count, table

    rows = [(r["layer"], r["op"], f"{r['in'][0]} -> {r['in'][1]}", f"{r['out'][0]} -> {r['out'][1]}",
             f"{count(r['macs'][0])} -> {count(r['macs'][1])}", f"{count(r['params'][0])} -> {count(r['params'][1])}")
            for r in report["layers"] if r["in"][0] != r["in"][1] or r["out"][0] != r["out"][1]]
    t = report["totals"]
    lines = [f"pruning ({report['criterion']} criterion, channel multiple {report['channel_multiple']}, "
             f"{report['calibration_samples']} calibration samples, {report['refitted']} layers re-fitted "
             f"by {report['recovery']}):"]
    if rows:
        lines.append(table(["layer", "op", "in ch", "out ch", "MACs", "params"], rows))
    lines.append(f"MACs {count(t['macs'][0])} -> {count(t['macs'][1])} (-{100 * report['macs_removed']:.1f}%), "
                 f"params {count(t['params'][0])} -> {count(t['params'][1])} (-{100 * report['params_removed']:.1f}%)"
                 f"; {report['groups_pruned']}/{report['groups']} groups pruned")
    if report["excluded"]:
        lines.append("excluded: " + "; ".join(f"{name} ({why})" for name, why in report["excluded"][:12])
                     + (f"; ... {len(report['excluded']) - 12} more" if len(report["excluded"]) > 12 else ""))
    for note in report["notes"]:
        lines.append(f"note: {note}")
    if report.get("warning"):
        lines.append(f"warning: {report['warning']}")
    return "\n".join(lines)
