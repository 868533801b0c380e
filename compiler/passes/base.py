"""The pass contract: a pass is a pure function from graph to graph plus what it changed.

``run(graph) -> PassResult``; the input graph is never mutated (passes work on
``graph.copy()``). ``changes`` is a small dict of counts (nodes removed, params saved, ...)
that the pass manager records for the manifest and ``edgec compile --report``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..ir.graph import Graph


@dataclass
class PassResult:
    graph: Graph
    changes: dict[str, int] = field(default_factory=dict)

    @property
    def modified(self) -> bool:
        return any(self.changes.values())


@dataclass(frozen=True)
class Pass:
    name: str                         # the CLI name, e.g. "fold-batchnorm"
    run: Callable[[Graph], PassResult]
    doc: str = ""
