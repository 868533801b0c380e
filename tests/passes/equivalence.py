"""Shared check for pass tests: the reference interpreter gives the same outputs before and after."""

from __future__ import annotations

import numpy as np

from compiler.ir import interpreter, verify
from compiler.ir.graph import Graph


def random_feeds(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal(graph.types[n].shape).astype(graph.types[n].dtype) for n in graph.inputs}


def assert_equivalent(before: Graph, after: Graph, rtol: float = 1e-5, seeds: tuple[int, ...] = (0, 1)) -> None:
    """Same inputs, same output names, outputs equal within ``rtol`` (relative to the output's scale)."""
    verify(after)
    assert after.inputs == before.inputs and after.outputs == before.outputs
    for seed in seeds:
        feeds = random_feeds(before, seed)
        want, got = interpreter.run(before, feeds), interpreter.run(after, feeds)
        for name in before.outputs:
            scale = max(float(np.max(np.abs(want[name]))), 1e-12)
            assert np.max(np.abs(got[name] - want[name])) <= rtol * scale, f"output {name} changed"
