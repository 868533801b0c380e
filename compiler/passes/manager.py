"""Runs a list of passes in order, recording what each did.

Cross-cutting concerns live here, not in the passes: verifying the IR after each pass (in
tests and ``--debug``), dumping the IR after each pass (``--dump-ir DIR`` writes
``NNN_<pass>.ir``), and naming the failing pass and the passes before it in errors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..errors import EdgecError, PassError
from ..ir.graph import Graph
from ..ir.printer import format_graph
from ..ir.verify import verify
from .base import Pass


@dataclass
class PassRecord:
    name: str
    changes: dict[str, int]
    nodes_before: int
    nodes_after: int
    param_bytes_before: int
    param_bytes_after: int
    seconds: float

    def as_dict(self) -> dict:
        return {"pass": self.name, "changes": self.changes, "nodes": [self.nodes_before, self.nodes_after],
                "param_bytes": [self.param_bytes_before, self.param_bytes_after], "seconds": round(self.seconds, 4)}


@dataclass
class PipelineResult:
    graph: Graph
    records: list[PassRecord] = field(default_factory=list)


def run_passes(graph: Graph, passes: Sequence[Pass], verify_each: bool = False,
               dump_dir: str | Path | None = None) -> PipelineResult:
    records: list[PassRecord] = []
    if dump_dir is not None:
        dump_dir = Path(dump_dir)
        dump_dir.mkdir(parents=True, exist_ok=True)
        (dump_dir / "000_input.ir").write_text(format_graph(graph))
    for index, p in enumerate(passes, start=1):
        start = time.perf_counter()
        history = ", ".join(r.name for r in records) or "none"
        try:
            result = p.run(graph)
            if verify_each:
                verify(result.graph)
        except EdgecError as err:
            raise PassError(f"pass '{p.name}' failed (after passes: {history}): {err}") from err
        except Exception as err:
            raise PassError(f"pass '{p.name}' crashed (after passes: {history}): {type(err).__name__}: {err}") from err
        records.append(PassRecord(p.name, result.changes, len(graph.nodes), len(result.graph.nodes),
                                  graph.param_bytes(), result.graph.param_bytes(), time.perf_counter() - start))
        graph = result.graph
        if dump_dir is not None:
            (dump_dir / f"{index:03d}_{p.name}.ir").write_text(format_graph(graph))
    return PipelineResult(graph, records)
