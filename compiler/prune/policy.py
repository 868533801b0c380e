"""How many channels each group keeps: uniform, per-layer, or a global MACs/parameter target.

A fast estimator predicts MACs and parameters for any per-group removal counts without
rewriting the graph: for every value it knows how many positions each group holds, so a
layer's MACs scale by (kept outputs / outputs) * (kept inputs / inputs). The global target is
met greedily: repeatedly take the step (one channel multiple of one group) that saves the
most MACs per unit of added output error (sensitivity curves from calibration data; without
data, the group's share of the model times the squared fraction removed). Kept counts are
multiples of the channel multiple (SIMD width of the target), so pruned layers stay
vector-friendly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..ir.stats import node_macs
from .groups import ChannelMap, Group, is_depthwise

# Vector width in float32 lanes, by target feature or architecture.
_MULTIPLES = (("avx512f", 16), ("avx2", 8))


def channel_multiple_for(target) -> int:
    """The channel multiple for a target spec (or None = host): 16 avx512, 8 avx2, 4 NEON/MCU."""
    from targets.spec import host_arch, host_cpu_flags

    if target is None or getattr(target, "name", "host") == "host":
        flags, arch, device = host_cpu_flags(), host_arch(), "cpu"
    else:
        flags, arch, device = set(target.features), target.arch, target.device
    if device == "cuda":
        return 16
    if device == "mcu" or arch in ("aarch64", "arm"):
        return 4
    return next((m for flag, m in _MULTIPLES if flag in flags), 8)


OVERSHOOT = 0.05  # steps that pass the target by more than this are taken only when nothing else is left


class Estimator:
    """MACs and parameters as a linear-in-removals model of the traced graph."""

    def __init__(self, cmap: ChannelMap) -> None:
        graph = cmap.graph
        self.values = [v for v in cmap.ids]
        index = {v: i for i, v in enumerate(self.values)}
        self.channels = np.array([graph.types[v].shape[1] for v in self.values] + [1], dtype=np.float64)
        group_of = np.full(len(cmap.root), -1)
        for g, group in enumerate(cmap.groups):
            group_of[group.classes] = g
        self.share = np.zeros((len(self.values) + 1, len(cmap.groups)))  # positions per removed class
        for v, i in index.items():
            owners = group_of[cmap.classes(v)]
            for g in np.unique(owners[owners >= 0]):
                self.share[i, g] = np.count_nonzero(owners == g) / cmap.groups[g].size
        none = len(self.values)
        outs, ins, macs, params = [], [], [], []
        for node in graph.nodes:
            out, x = index.get(node.outputs[0], none), index.get(node.inputs[0], none)
            layer = node.op in ("conv", "dense") and not is_depthwise(graph, node)
            outs.append(out)
            ins.append(x if layer else none)
            macs.append(node_macs(graph, node))
            params.append(sum(int(graph.constants[i].size) for i in node.inputs if graph.is_const(i)))
        self.outs, self.ins = np.array(outs), np.array(ins)
        self.macs, self.params = np.array(macs, np.float64), np.array(params, np.float64)
        self.total_params = float(graph.param_count())

    def estimate(self, removed: np.ndarray) -> tuple[float, float]:
        """(MACs, parameters) after removing ``removed[g]`` classes of each group g."""
        frac = 1.0 - (self.share @ removed) / self.channels
        scale = frac[self.outs] * frac[self.ins]
        return float(self.macs @ scale), float(self.total_params - self.params @ (1.0 - scale))


@dataclass
class Target:
    metric: str        # "macs" or "params"
    fraction: float    # of the metric to remove


def class_multiple(group: Group, multiple: int) -> int:
    """Classes to remove at a time so the layer's channel count stays a multiple of ``multiple``
    (a class of a grouped conv or a channel shuffle spans several channels)."""
    return multiple // math.gcd(multiple, group.positions)


def steps(group: Group, multiple: int, max_ratio: float) -> np.ndarray:
    """Allowed removal counts of a group: kept classes are a multiple of the class multiple, >= it."""
    size, step = group.size, class_multiple(group, multiple)
    if size <= step:
        return np.zeros(1, dtype=np.int64)
    keeps = np.arange(size, 0, -1)
    keeps = keeps[(keeps == size) | ((keeps % step == 0) & (keeps >= max(step, size * (1 - max_ratio))))]
    return size - keeps


def round_removal(group: Group, ratio: float, multiple: int, max_ratio: float) -> int:
    """The allowed removal count closest to ``ratio * size``."""
    allowed = steps(group, multiple, max_ratio)
    return int(allowed[np.argmin(np.abs(allowed - ratio * group.size))])


def uniform(cmap: ChannelMap, ratio: float, multiple: int, max_ratio: float) -> np.ndarray:
    return np.array([round_removal(g, ratio, multiple, max_ratio) for g in cmap.groups], dtype=np.int64)


def per_layer(cmap: ChannelMap, ratios: dict[str, float], multiple: int, max_ratio: float) -> np.ndarray:
    """Removal counts for the groups of the named layers; other groups keep every channel."""
    removed = np.zeros(len(cmap.groups), dtype=np.int64)
    excluded = dict(cmap.excluded)
    for name, ratio in ratios.items():
        hits = [g for g, group in enumerate(cmap.groups) if name in group.layers]
        if not hits:
            if name in excluded:
                raise UsageError(f"--prune-ratios: layer '{name}' cannot be pruned: {excluded[name]}")
            known = ", ".join(layer for g in cmap.groups for layer in g.layers)
            raise UsageError(f"--prune-ratios: no prunable layer '{name}' (prunable: {known})")
        removed[hits[0]] = round_removal(cmap.groups[hits[0]], ratio, multiple, max_ratio)
    return removed


def reduction(est: Estimator, removed: np.ndarray, target: Target, base: tuple[float, float]) -> float:
    macs, params = est.estimate(removed.astype(np.float64))
    return 1.0 - (macs / base[0] if target.metric == "macs" else params / max(base[1], 1.0))


def global_greedy(cmap: ChannelMap, est: Estimator, target: Target, multiple: int, max_ratio: float,
                  curves: dict[int, tuple[np.ndarray, np.ndarray]] | None = None) -> np.ndarray:
    """Greedy allocation: cheapest added error per saved MAC (or parameter) first.

    ``curves[g]`` = (ratios, errors) of group g pruned alone (interpolated). Without curves the
    error proxy is the group's share of the model times the squared fraction removed: cuts spread
    evenly, and groups that span much of the network (residual streams) are cut less, as the
    usual practice is.
    """
    curves = curves or {}
    base = est.estimate(np.zeros(len(cmap.groups)))
    allowed = [steps(g, multiple, max_ratio) for g in cmap.groups]
    at = np.zeros(len(cmap.groups), dtype=np.int64)  # index into allowed[g]
    removed = np.zeros(len(cmap.groups), dtype=np.int64)

    weight = []  # each group's share of the MACs (or params), for the data-free proxy
    for g, group in enumerate(cmap.groups):
        whole = np.zeros(len(cmap.groups))
        whole[g] = group.size
        weight.append(max(reduction(est, whole, target, base), 1e-6))

    def error(g: int, count: int) -> float:
        fraction = count / cmap.groups[g].size
        if g not in curves:
            return weight[g] * fraction ** 2
        return float(np.interp(fraction, *curves[g]))

    while reduction(est, removed, target, base) < target.fraction:
        best, best_cost = -1, (True, np.inf)
        now = reduction(est, removed, target, base)
        for g in range(len(cmap.groups)):
            if at[g] + 1 >= len(allowed[g]):
                continue
            trial = removed.copy()
            trial[g] = allowed[g][at[g] + 1]
            after = reduction(est, trial, target, base)
            overshoot = after > target.fraction + OVERSHOOT  # a coarse step (a residual stream): last resort
            cost = (overshoot, (error(g, trial[g]) - error(g, removed[g]) + 1e-9) / max(after - now, 1e-12))
            if cost < best_cost:
                best, best_cost = g, cost
        if best < 0:
            break
        at[best] += 1
        removed[best] = allowed[best][at[best]]
    return removed
