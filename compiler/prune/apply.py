"""The IR rewrite: remove a set of channel classes from every layer, constant and attribute.

Nodes are neither added nor removed, so node ``i`` of the pruned graph is node ``i`` of the
original (reconstruction relies on this). Constants are sliced into new arrays (the originals
are shared with other graph copies); every type is re-inferred and the result is verified.
"""

from __future__ import annotations

import numpy as np

from ..errors import PassError
from ..ir.graph import Graph, Node
from ..ir.ops import infer_types
from ..ir.verify import verify
from ..passes.rewrite import add_constant
from .groups import BINARY, ChannelMap, channel_axis, is_depthwise


class _Rewriter:
    def __init__(self, cmap: ChannelMap, removed: np.ndarray) -> None:
        self.cmap, self.removed = cmap, removed
        self.g = cmap.graph.copy()
        self._keep: dict[str, np.ndarray | None] = {}

    def keep(self, value: str) -> np.ndarray | None:
        """Kept positions of ``value``'s channel axis, or None when nothing of it is removed."""
        if value not in self._keep:
            kept = self.cmap.keep(value, self.removed)
            self._keep[value] = None if kept is None or len(kept) == self.g.types[value].shape[1] else kept
        return self._keep[value]

    def take(self, node: Node, index: int, positions: np.ndarray | None, axis: int) -> None:
        """Replace constant input ``index`` of ``node`` by its slice along ``axis``."""
        if positions is None:
            return
        name = node.inputs[index]
        node.inputs[index] = add_constant(self.g, np.take(self.g.constants[name], positions, axis=axis), name)

    def run(self) -> Graph:
        for index, node in enumerate(self.g.nodes):
            self.edit(index, node)
        for node in self.g.nodes:
            for name, t in zip(node.outputs, infer_types(node.op, [self.g.types[i] for i in node.inputs],
                                                         node.attrs)):
                self.g.types[name] = t
        self.g.remove_unused_constants()
        try:
            verify(self.g)
        except Exception as err:  # a tracing rule and its rewrite disagree: a bug, but say where
            raise PassError(f"prune: the pruned graph does not verify: {err}") from err
        return self.g

    def edit(self, index: int, node: Node) -> None:
        op, out = node.op, node.outputs[0]
        if op in ("conv", "dense"):
            self.layer(node)
        elif op == "batch_norm":
            for i in range(1, 5):
                self.take(node, i, self.keep(out), 0)
        elif op in BINARY:
            rank = self.g.types[out].rank
            for i, name in enumerate(node.inputs):
                axis = channel_axis(self.g.types[name].shape, rank) if rank >= 2 else None
                if axis is not None and self.g.is_const(name):
                    self.take(node, i, self.keep(out), axis)
        elif op == "split" and self.keep(node.inputs[0]) is not None:
            if node.attrs["axis"] % self.g.types[node.inputs[0]].rank == 1:
                node.attrs = {**node.attrs, "sizes": tuple(self._count(o) for o in node.outputs)}
        elif op == "slice":
            self.slice(node)
        elif op == "reshape":
            self.reshape(index, node)
        elif op == "resize" and self.keep(out) is not None:
            size = list(node.attrs["size"])
            size[1] = len(self.keep(out))
            node.attrs = {**node.attrs, "size": tuple(size)}

    def _count(self, value: str) -> int:
        kept = self.keep(value)
        return self.g.types[value].shape[1] if kept is None else len(kept)

    def layer(self, node: Node) -> None:
        x, out = node.inputs[0], node.outputs[0]
        ko, ki = self.keep(out), self.keep(x)
        self.take(node, 1, ko, 0)
        if len(node.inputs) == 3:
            self.take(node, 2, ko, 0)
        if node.op == "conv" and is_depthwise(self.cmap.graph, node):
            node.attrs = {**node.attrs, "groups": self._count(out)}
            return
        if ki is None:
            return
        groups = node.attrs.get("groups", 1)
        if node.op == "conv" and groups > 1:  # the same in-group indices of every group survive
            ki = ki[ki < self.cmap.graph.types[x].shape[1] // groups]
        self.take(node, 1, ki, 1)

    def slice(self, node: Node) -> None:
        x = node.inputs[0]
        kept = self.keep(x)
        if kept is None:
            return
        starts, ends = list(node.attrs["starts"]), list(node.attrs["ends"])
        starts[1], ends[1] = (int(np.searchsorted(kept, v)) for v in (starts[1], ends[1]))
        node.attrs = {**node.attrs, "starts": tuple(starts), "ends": tuple(ends)}

    def reshape(self, index: int, node: Node) -> None:
        shape = list(node.attrs["shape"])
        if index in self.cmap.shuffles and self.keep(node.inputs[0]) is not None:
            shape[2] = self._count(node.inputs[0]) // self.cmap.shuffles[index]
        elif node.outputs[0] in self.cmap.ids and self.keep(node.outputs[0]) is not None:
            shape[1] = self._count(node.outputs[0])
        else:
            return
        node.attrs = {**node.attrs, "shape": tuple(shape)}


def apply_pruning(cmap: ChannelMap, removed: np.ndarray) -> Graph:
    """A verified copy of ``cmap.graph`` without the channel classes ``removed`` (class roots)."""
    return _Rewriter(cmap, np.asarray(removed, dtype=np.int64)).run()
