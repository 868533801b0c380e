"""Channel dependency groups: which channels of which layers must be removed together.

Every value with a channel axis (axis 1, rank >= 2) gets one *channel id* per position along
that axis. Ids are elements of a union-find: walking the graph in order, each rule below either
creates fresh ids (a conv/dense layer makes new output channels), passes ids through (relu,
batch_norm, pooling, depthwise conv: channel i in is channel i out), re-arranges them exactly
(concat, split, slice, flatten, channel shuffle), or unites them (residual add: all branches
share channel indices; grouped conv: in-group index k of every group goes together). A *class*
is a union-find set: removing it removes every position holding it, everywhere, which keeps all
shapes consistent by construction. A class is *blocked* (never removed) where removing it
would change what the model computes in a way no rewrite fixes (graph inputs and outputs,
reshapes that mix channels, ops edgec does not know); the reason is kept for the report.

A *group* is the set of classes produced by the same layers (one conv, or all convs feeding a
residual stream); the ratio policy allocates one channel count per group.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir.graph import Graph, Node
from ..ir.ops.registry import norm_axis

# Ops that act on each channel alone: channel i in is channel i out.
PASS_THROUGH = {"identity", "relu", "sigmoid", "tanh", "exp", "sqrt", "neg", "abs", "leaky_relu", "clip",
                "hard_sigmoid", "hard_swish", "cast", "batch_norm", "max_pool", "avg_pool", "global_avg_pool",
                "global_max_pool", "lrn"}
BINARY = {"add", "sub", "mul", "div", "maximum", "minimum", "pow", "sum"}
APPROXIMATE = {"lrn": "lrn normalizes over neighbouring channels: pruning changes the neighbours (approximate)"}


class UnionFind:
    """Union-find over channel ids, with a blocking reason per set."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.reason: dict[int, str] = {}

    def fresh(self, n: int) -> np.ndarray:
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        return np.arange(start, start + n, dtype=np.int64)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(int(a)), self.find(int(b))
        if ra == rb:
            return
        self.parent[rb] = ra
        if rb in self.reason:
            self.reason.setdefault(ra, self.reason.pop(rb))

    def unite(self, a: np.ndarray, b: np.ndarray) -> None:
        for x, y in zip(a.tolist(), b.tolist()):
            self.union(x, y)

    def block(self, ids: np.ndarray, reason: str) -> None:
        for i in ids.tolist():
            self.reason.setdefault(self.find(i), reason)

    def roots(self) -> np.ndarray:
        return np.array([self.find(i) for i in range(len(self.parent))], dtype=np.int64)


@dataclass
class Group:
    """Classes that share their source layers; the policy keeps ``keep`` of them."""

    name: str
    layers: tuple[str, ...]       # conv/dense nodes whose output channels these are
    classes: np.ndarray            # class roots
    positions: int                 # channel positions per class in the source output (grouped convs tie G)

    @property
    def size(self) -> int:
        return len(self.classes)


@dataclass
class ChannelMap:
    """The result of tracing: channel ids per value, the groups and what was excluded."""

    graph: Graph
    ids: dict[str, np.ndarray]
    root: np.ndarray                           # id -> class root
    reason: dict[int, str]                     # blocked class root -> why
    shuffles: dict[int, int] = field(default_factory=dict)  # node index -> groups of a shuffle reshape
    groups: list[Group] = field(default_factory=list)
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (layer, reason)
    notes: list[str] = field(default_factory=list)

    def classes(self, value: str) -> np.ndarray | None:
        ids = self.ids.get(value)
        return None if ids is None else self.root[ids]

    def keep(self, value: str, removed: np.ndarray) -> np.ndarray | None:
        """Positions of ``value``'s channel axis that survive removing class roots ``removed``."""
        classes = self.classes(value)
        return None if classes is None else np.flatnonzero(~np.isin(classes, removed))


def channel_axis(shape: tuple[int, ...], out_rank: int) -> int | None:
    """The axis of an operand (numpy broadcasting) that lines up with the output's axis 1, unless it is 1."""
    axis = 1 - (out_rank - len(shape))
    return axis if axis >= 0 and shape[axis] != 1 else None


def source_layers(graph: Graph) -> list[Node]:
    """Layers that create channels: conv (not depthwise) and rank-2 dense with constant weights."""
    return [n for n in graph.nodes if _is_source(graph, n)]


def _is_source(graph: Graph, node: Node) -> bool:
    if len(node.inputs) < 2 or not graph.is_const(node.inputs[1]) or \
            (len(node.inputs) == 3 and not graph.is_const(node.inputs[2])):
        return False
    if node.op == "dense":
        return graph.types[node.inputs[0]].rank == 2
    return node.op == "conv" and not is_depthwise(graph, node)


def is_depthwise(graph: Graph, node: Node) -> bool:
    c = graph.types[node.inputs[0]].shape[1]
    return node.op == "conv" and node.attrs["groups"] == c > 1 and graph.types[node.outputs[0]].shape[1] == c


class _Tracer:
    def __init__(self, graph: Graph) -> None:
        self.g = graph
        self.uf = UnionFind()
        self.ids: dict[str, np.ndarray] = {}
        self.shuffles: dict[int, int] = {}
        self.skip: set[int] = set()
        self.notes: set[str] = set()

    def channels(self, value: str) -> int | None:
        t = self.g.types[value]
        return t.shape[1] if t.rank >= 2 else None

    def fresh(self, value: str, reason: str | None = None) -> None:
        c = self.channels(value)
        if c is not None:
            self.ids[value] = self.uf.fresh(c)
            if reason:
                self.uf.block(self.ids[value], reason)

    def block_node(self, node: Node, reason: str) -> None:
        for name in node.inputs:
            if name in self.ids:
                self.uf.block(self.ids[name], reason)
        for name in node.outputs:
            self.fresh(name, reason)

    def run(self) -> None:
        for name in self.g.inputs:
            self.fresh(name, f"graph input '{name}'")
        for index, node in enumerate(self.g.nodes):
            if index in self.skip:
                continue
            self.visit(index, node)
        for name in self.g.outputs:
            if name in self.ids:
                self.uf.block(self.ids[name], f"graph output '{name}'")

    # -- rules ------------------------------------------------------------------------------
    def visit(self, index: int, node: Node) -> None:
        op, ins = node.op, [i for i in node.inputs if i in self.ids]
        label = f"{node.op} '{node.name or node.outputs[0]}'"
        if op in PASS_THROUGH or self._channelwise(node):
            if node.inputs[0] in self.ids:
                self.ids[node.outputs[0]] = self.ids[node.inputs[0]]
            if op in APPROXIMATE:
                self.notes.add(f"{label}: {APPROXIMATE[op]}")
        elif op in ("conv", "dense"):
            self.layer(node, label)
        elif op in BINARY:
            self.binary(node)
        elif op == "concat":
            self.concat(node, label)
        elif op == "split":
            self.split(node)
        elif op == "slice":
            self.slice(node, label)
        elif op == "reshape":
            self.reshape(index, node, label)
        elif op in ("softmax", "log_softmax"):
            self.block_node(node, f"{label}: {op} over the channel axis mixes channels")
        elif not ins:
            for name in node.outputs:
                self.fresh(name, f"{label} (op '{op}' is not traced for pruning)")
        else:
            self.block_node(node, f"{label}: op '{op}' is not traced for pruning")

    def _channelwise(self, node: Node) -> bool:
        """softmax/pad/resize/reduce that leave the channel axis alone."""
        t = self.g.types[node.inputs[0]]
        if t.rank < 2 or node.op not in ("softmax", "log_softmax", "pad", "resize", "reduce_mean", "reduce_sum",
                                         "reduce_max", "reduce_min", "transpose"):
            return False
        a = node.attrs
        if node.op in ("softmax", "log_softmax"):
            return norm_axis(a["axis"], t.rank) != 1
        if node.op == "pad":
            return a["pads"][1] == 0 and a["pads"][t.rank + 1] == 0
        if node.op == "resize":
            return tuple(a["size"])[:2] == t.shape[:2]
        if node.op == "transpose":
            return tuple(a["perm"])[:2] == (0, 1)
        axes = {norm_axis(x, t.rank) for x in a["axes"]} or set(range(t.rank))
        return not axes & {0, 1}

    def layer(self, node: Node, label: str) -> None:
        x, out = node.inputs[0], node.outputs[0]
        if node.op == "conv" and is_depthwise(self.g, node) and all(self.g.is_const(i) for i in node.inputs[1:]):
            if x in self.ids:
                self.ids[out] = self.ids[x]
            return
        if not _is_source(self.g, node):
            self.block_node(node, f"{label}: weights are not constant or input is not [N, K]")
            return
        groups = node.attrs.get("groups", 1)
        if groups > 1 and x in self.ids:  # in-group index k of every group goes together
            per = self.ids[x].reshape(groups, -1)
            for g in range(1, groups):
                self.uf.unite(per[0], per[g])
        m = self.channels(out)
        self.ids[out] = np.tile(self.uf.fresh(m // groups), groups)

    def binary(self, node: Node) -> None:
        """Full-channel inputs share channel indices; per-channel constants are sliced by ``apply``."""
        out = node.outputs[0]
        rank, c = self.g.types[out].rank, self.channels(out)
        if c is None:
            return
        full = []
        for name in node.inputs:
            if channel_axis(self.g.types[name].shape, rank) is None:
                continue  # broadcasts over the channels
            if name in self.ids and self.g.types[name].rank == rank:
                full.append(name)
            elif not self.g.is_const(name):
                self.block_node(node, f"{node.op} '{node.name}': input '{name}' broadcasts in an untraced way")
                return
        if not full:
            self.fresh(out)
            return
        for other in full[1:]:
            self.uf.unite(self.ids[full[0]], self.ids[other])
        self.ids[out] = self.ids[full[0]]

    def concat(self, node: Node, label: str) -> None:
        out = node.outputs[0]
        rank = self.g.types[out].rank
        for name in node.inputs:
            if name not in self.ids and self.channels(name) is not None:
                self.fresh(name, f"{label}: input '{name}' is not traced")
        if rank < 2:
            return
        if norm_axis(node.attrs["axis"], rank) == 1:
            self.ids[out] = np.concatenate([self.ids[i] for i in node.inputs])
            return
        for other in node.inputs[1:]:
            self.uf.unite(self.ids[node.inputs[0]], self.ids[other])
        self.ids[out] = self.ids[node.inputs[0]]

    def split(self, node: Node) -> None:
        x = node.inputs[0]
        if x not in self.ids:
            for name in node.outputs:
                self.fresh(name)
            return
        if norm_axis(node.attrs["axis"], self.g.types[x].rank) != 1:
            for name in node.outputs:
                self.ids[name] = self.ids[x]
            return
        bounds = np.cumsum((0,) + tuple(node.attrs["sizes"]))
        for name, lo, hi in zip(node.outputs, bounds[:-1], bounds[1:]):
            self.ids[name] = self.ids[x][lo:hi]

    def slice(self, node: Node, label: str) -> None:
        x, out = node.inputs[0], node.outputs[0]
        if x not in self.ids:
            self.fresh(out)
            return
        start, end, step = (node.attrs[k][1] for k in ("starts", "ends", "steps"))
        if (start, end, step) == (0, self.channels(x), 1):
            self.ids[out] = self.ids[x]
        elif step == 1:
            self.ids[out] = self.ids[x][start:end]
        else:
            self.block_node(node, f"{label}: strided slice of the channel axis")

    def reshape(self, index: int, node: Node, label: str) -> None:
        x, out = node.inputs[0], node.outputs[0]
        src, dst = self.g.types[x].shape, self.g.types[out].shape
        if x not in self.ids:
            self.fresh(out)
            return
        if len(src) >= 2 and len(dst) >= 2 and src[:2] == dst[:2]:  # e.g. [N,C,1,1] -> [N,C]
            self.ids[out] = self.ids[x]
        elif len(dst) == 2 and dst[0] == src[0]:  # flatten: channel c -> features c*HW .. c*HW+HW-1
            self.ids[out] = np.repeat(self.ids[x], int(np.prod(src[2:], dtype=np.int64)))
        elif not self.shuffle(index, node):
            self.block_node(node, f"{label}: reshape {list(src)} -> {list(dst)} mixes channels")

    def shuffle(self, index: int, node: Node) -> bool:
        """Channel shuffle: reshape [N,C,*S] -> [N,G,C/G,*S], transpose(0,2,1,...), reshape back."""
        x = node.inputs[0]
        src, mid = self.g.types[x].shape, self.g.types[node.outputs[0]].shape
        if len(mid) != len(src) + 1 or mid[0] != src[0] or mid[3:] != src[2:] or mid[1] * mid[2] != src[1]:
            return False
        users = self.g.consumers()
        chain = [node]
        for op in ("transpose", "reshape"):
            readers = users.get(chain[-1].outputs[0], [])
            if len(readers) != 1 or readers[0].op != op or chain[-1].outputs[0] in self.g.outputs:
                return False
            chain.append(readers[0])
        perm = tuple(chain[1].attrs["perm"])
        if perm != (0, 2, 1) + tuple(range(3, len(mid))) or self.g.types[chain[2].outputs[0]].shape != src:
            return False
        groups = mid[1]
        per = self.ids[x].reshape(groups, -1)  # position g*n + k
        for g in range(1, groups):
            self.uf.unite(per[0], per[g])
        self.ids[chain[2].outputs[0]] = per.T.reshape(-1)  # output position k*G + g holds input g*n + k
        positions = {id(n): i for i, n in enumerate(self.g.nodes)}
        self.shuffles[index] = groups
        self.skip.update(positions[id(n)] for n in chain[1:])
        return True


def trace(graph: Graph) -> ChannelMap:
    """Trace channel ids through ``graph`` and collect the prunable groups."""
    tracer = _Tracer(graph)
    tracer.run()
    root = tracer.uf.roots()
    reason = {root[r]: why for r, why in tracer.uf.reason.items()}
    cmap = ChannelMap(graph, tracer.ids, root, reason, tracer.shuffles, notes=sorted(tracer.notes))
    _collect_groups(cmap)
    return cmap


def _collect_groups(cmap: ChannelMap) -> None:
    sources_of: dict[int, set[str]] = {}
    positions: dict[int, int] = {}
    layers = source_layers(cmap.graph)
    for node in layers:
        classes = cmap.classes(node.outputs[0])
        for c in classes.tolist():
            sources_of.setdefault(c, set()).add(node.name)
        for c, n in zip(*np.unique(classes, return_counts=True)):
            positions[int(c)] = int(n)
    by_key: dict[tuple[str, ...], list[int]] = {}
    for c, names in sources_of.items():
        by_key.setdefault(tuple(sorted(names)), []).append(c)
    order = {n.name: i for i, n in enumerate(layers)}
    for key in sorted(by_key, key=lambda k: min(order[n] for n in k)):
        classes = np.array(sorted(by_key[key]), dtype=np.int64)
        blocked = [cmap.reason[c] for c in classes.tolist() if c in cmap.reason]
        if blocked:
            for name in key:
                cmap.excluded.append((name, blocked[0]))
            continue
        cmap.groups.append(Group(key[0] if len(key) == 1 else f"{key[0]} (+{len(key) - 1})", key, classes,
                                 positions[int(classes[0])]))
