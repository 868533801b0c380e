"""Calibration data for pruning: load samples (the quantizer's reader) and run graphs on them."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..ir import interpreter
from ..ir.graph import Graph

Sample = dict[str, np.ndarray]


def load_samples(graph: Graph, source: Any, limit: int | None) -> list[Sample]:
    """Samples for ``graph``'s inputs from a .npz/.npy/folder/array/iterable (see ``quant.calib_data``)."""
    from ..quant.calib_data import iter_samples

    return list(iter_samples(source, {n: graph.types[n] for n in graph.inputs}, limit))


MEMORY_BUDGET = 512 << 20  # bytes of activations one interpreter run may hold
MAX_BATCH = 32


def _pins_batch(node, rank: int) -> bool:
    """Does ``node`` act across the batch axis (so samples cannot be stacked)?"""
    a = node.attrs
    if node.op in ("softmax", "log_softmax", "gather", "concat", "split"):
        return a["axis"] % max(rank, 1) == 0
    if node.op.startswith("reduce_"):
        return not a["axes"] or 0 in {x % rank for x in a["axes"]}
    if node.op == "transpose":
        return a["perm"][0] != 0
    if node.op == "pad":
        return bool(a["pads"][0] or a["pads"][rank])
    return node.op in ("broadcast_to", "tile")


def _batched_attrs(node, n: int) -> dict | None:
    """Attributes of ``node`` for batch ``n`` (None: they pin the batch to 1)."""
    a = node.attrs
    key = {"reshape": "shape", "resize": "size", "slice": "ends"}.get(node.op)
    if key is None:
        return a
    if a[key][:1] != (1,) or (node.op == "slice" and (a["starts"][0], a["steps"][0]) != (0, 1)):
        return None
    return {**a, key: (n,) + tuple(a[key][1:])}


def rebatch(graph: Graph, n: int) -> Graph | None:
    """``graph`` with batch size ``n`` instead of 1, or None when an op pins the batch axis.

    The numpy references are vectorized over the batch, so running calibration samples ``n`` at
    a time is much faster than one by one.
    """
    from ..ir.ops import infer_types
    from ..ir.types import TensorType

    if any(graph.types[i].shape[:1] != (1,) for i in graph.inputs):
        return None
    g = graph.copy()
    for name in g.inputs:
        g.types[name] = TensorType((n,) + g.types[name].shape[1:], g.types[name].dtype)
    for node in g.nodes:
        attrs = _batched_attrs(node, n)
        if attrs is None or _pins_batch(node, g.types[node.inputs[0]].rank):
            return None
        node.attrs = attrs
        try:
            types = infer_types(node.op, [g.types[i] for i in node.inputs], attrs)
        except Exception:  # noqa: BLE001 - an op that does not batch: run one sample at a time
            return None
        if any(t.shape[:1] != (n,) for t in types):
            return None
        g.types.update(zip(node.outputs, types))
    return g


def stacked(graph: Graph, samples: list[Sample]) -> list[tuple[Graph, Sample]]:
    """(graph, feed) pairs covering ``samples``: stacked ``n`` at a time on a rebatched copy of
    ``graph`` when its ops allow and memory permits, the rest one by one on ``graph`` itself."""
    per_sample = sum(t.nbytes for name, t in graph.types.items() if name not in graph.constants)
    n = max(1, min(MAX_BATCH, MEMORY_BUDGET // max(per_sample, 1), len(samples)))
    batched = rebatch(graph, n) if n > 1 else None
    if batched is None:
        return [(graph, s) for s in samples]
    full = len(samples) // n * n
    pairs = [(batched, {k: np.concatenate([s[k] for s in samples[i:i + n]]) for k in graph.inputs})
             for i in range(0, full, n)]
    return pairs + [(graph, s) for s in samples[full:]]


def run_all(graph: Graph, samples: list[Sample]) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """(number of samples, value environment) per interpreter run, stacking samples when possible."""
    for g, feed in stacked(graph, samples):
        yield g.types[g.inputs[0]].shape[0] if g is not graph else 1, interpreter.run(g, feed, keep_all=True)


def collect(graph: Graph, samples: Iterable[Sample], values: Iterable[str]) -> dict[str, np.ndarray]:
    """The named values over all samples, concatenated along the batch axis."""
    wanted = list(dict.fromkeys(values))
    parts: dict[str, list[np.ndarray]] = {v: [] for v in wanted}
    for _, env in run_all(graph, list(samples)):
        for v in wanted:
            parts[v].append(env[v])
    return {v: np.concatenate(p) for v, p in parts.items()}


def outputs(graph: Graph, samples: Iterable[Sample]) -> list[np.ndarray]:
    """Every graph output, concatenated over the samples, as float64."""
    got = collect(graph, samples, graph.outputs)
    return [got[v].astype(np.float64) for v in graph.outputs]


def relative_error(reference: list[np.ndarray], test: list[np.ndarray]) -> float:
    """Output error energy over output energy (0 = identical), over all outputs."""
    num = sum(float(np.sum((r - t) ** 2)) for r, t in zip(reference, test))
    den = sum(float(np.sum(r ** 2)) for r in reference)
    return num / max(den, 1e-30)


def channel_means(graph: Graph, samples: Iterable[Sample], values: Iterable[str],
                  fn: Callable[[np.ndarray], np.ndarray] = np.abs) -> dict[str, np.ndarray]:
    """Per-channel mean of ``fn(value)`` over all samples, streamed (one sample's values in memory)."""
    wanted = list(dict.fromkeys(values))
    sums: dict[str, np.ndarray] = {}
    n = 0
    for rows, env in run_all(graph, list(samples)):
        for v in wanted:
            sums[v] = sums.get(v, 0.0) + channel_mean(env[v], fn) * rows
        n += rows
    return {v: s / max(n, 1) for v, s in sums.items()}


def channel_mean(array: np.ndarray, fn: Callable[[np.ndarray], np.ndarray] = np.abs) -> np.ndarray:
    """Per-channel (axis 1) mean of ``fn(array)``."""
    axes = tuple(i for i in range(array.ndim) if i != 1)
    return np.mean(fn(array.astype(np.float64)), axis=axes)
