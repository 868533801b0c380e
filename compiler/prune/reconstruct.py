"""Recovery without training: re-fit each pruned consumer by least squares on calibration data.

After a consumer (conv with groups=1, or dense) loses input channels, its output drifts. With
calibration samples, walk the pruned graph in order; at each such consumer, take its actual
inputs in the pruned network (already repaired upstream) and the *unpruned* layer's
pre-activation output on the original inputs, and solve

    min ||im2col(X_pruned) @ (W0 + D) + b - Y_original||^2 + lam ||D||^2

for the kept filters (W0 = the original weights restricted to the kept channels): the
"channel pruning by reconstruction" approach, ridge-regularized toward the original weights
so a small calibration set does not overfit. Without reconstruction, ``absorb_means`` folds the
calibration mean of each removed input channel into the bias where that is exact in
expectation (dense layers and unpadded convs).
"""

from __future__ import annotations

import itertools

import numpy as np

from ..ir.graph import Graph, Node
from ..ir.ops import get
from ..passes.rewrite import add_constant
from .calib import Sample, channel_means, collect, stacked

MAX_ROWS = 16384  # least-squares rows (patches) sampled per layer
RIDGE = 1e-3


def consumers(original: Graph, pruned: Graph) -> list[int]:
    """Indices of conv (groups=1) / dense layers whose input channels were pruned."""
    out = []
    for i, (a, b) in enumerate(zip(original.nodes, pruned.nodes)):
        if a.op not in ("conv", "dense") or a.attrs.get("groups", 1) != 1 or not original.is_const(a.inputs[1]):
            continue
        if original.types[a.inputs[0]].shape != pruned.types[b.inputs[0]].shape:
            out.append(i)
    return out


def im2col(x: np.ndarray, node: Node, kernel: tuple[int, ...]) -> np.ndarray:
    """Conv patches [N * out_positions, C * prod(kernel)] in the weight's (C, *K) order."""
    from ..ir.ops.nn import spatial_attrs

    nd = x.ndim - 2
    strides, pads, dilations = spatial_attrs(node.attrs, nd)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[nd + i]) for i in range(nd)])
    out = [(xp.shape[2 + i] - dilations[i] * (kernel[i] - 1) - 1) // strides[i] + 1 for i in range(nd)]
    taps = []
    for k in itertools.product(*(range(s) for s in kernel)):
        window = tuple(slice(k[i] * dilations[i], k[i] * dilations[i] + (out[i] - 1) * strides[i] + 1, strides[i])
                       for i in range(nd))
        taps.append(xp[(slice(None), slice(None)) + window])
    cols = np.stack(taps, axis=2)  # N, C, taps, *out
    cols = np.moveaxis(cols.reshape(*cols.shape[:3], -1), 3, 1)  # N, P, C, taps
    return cols.reshape(-1, cols.shape[2] * cols.shape[3])


def _rows(node: Node, x: np.ndarray, kernel: tuple[int, ...]) -> np.ndarray:
    return im2col(x, node, kernel) if node.op == "conv" else x.reshape(-1, x.shape[-1])


def _pre_activation(node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    opdef = get(node.op)
    attrs = {**opdef.full_attrs(node.attrs), "activation": "", "activation_attrs": ()}
    return opdef.reference(inputs, attrs)[0].astype(np.float64)


def _targets(y: np.ndarray) -> np.ndarray:
    """[N, M, *S] -> [N * S, M] (channels last), or [N, M] as is."""
    return np.moveaxis(y, 1, -1).reshape(-1, y.shape[1])


def fit(a: np.ndarray, y: np.ndarray, w0: np.ndarray, b0: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Ridge least squares for [W; b] starting from (w0 [M, K], b0 [M]); rows of ``a`` are subsampled."""
    if len(a) > MAX_ROWS:
        pick = rng.choice(len(a), MAX_ROWS, replace=False)
        a, y = a[pick], y[pick]
    a = np.concatenate([a, np.ones((len(a), 1))], axis=1)
    start = np.concatenate([w0, b0[:, None]], axis=1).T  # [K+1, M]
    gram = a.T @ a
    lam = RIDGE * max(float(np.mean(np.diag(gram))), 1e-12)
    gram[np.diag_indices_from(gram)] += lam
    delta = np.linalg.solve(gram, a.T @ (y - a @ start))
    sol = start + delta
    return sol[:-1].T, sol[-1]


def reconstruct(original: Graph, pruned: Graph, samples: list[Sample], keep_out, seed: int = 0) -> int:
    """Re-fit the pruned consumers of ``pruned`` in place; returns how many were re-fitted.

    ``keep_out(value)`` gives the kept output positions of an original value (None = all).
    """
    targets = consumers(original, pruned)
    if not targets or not samples:
        return 0
    rng = np.random.default_rng(seed)
    before = collect(original, samples, [original.nodes[i].inputs[0] for i in targets])
    last_use = {name: i for i, node in enumerate(pruned.nodes) for name in node.inputs}
    runs = [(g, dict(feed)) for g, feed in stacked(pruned, samples)]
    for i, node in enumerate(pruned.nodes):
        if i in targets:
            _refit(original, pruned, i, before, [env for _, env in runs], keep_out, rng)
            for g in {id(g): g for g, _ in runs}.values():
                _share_params(pruned, g, i)
        for g, env in runs:
            _execute(g, g.nodes[i], env)
            for name in node.inputs:
                if last_use.get(name) == i and name not in pruned.outputs:
                    env.pop(name, None)
    return len(targets)


def _share_params(src: Graph, dst: Graph, i: int) -> None:
    """Give node ``i`` of ``dst`` (a rebatched copy) the re-fitted constants of ``src``."""
    if dst is src:
        return
    dst.nodes[i].inputs = list(src.nodes[i].inputs)
    for name in src.nodes[i].inputs[1:]:
        dst.constants[name], dst.types[name] = src.constants[name], src.types[name]


def _execute(graph: Graph, node: Node, env: dict) -> None:
    opdef = get(node.op)
    ins = [env[n] if n in env else graph.constants[n] for n in node.inputs]
    env.update(zip(node.outputs, (np.asarray(r) for r in opdef.reference(ins, opdef.full_attrs(node.attrs)))))


def _refit(original: Graph, pruned: Graph, i: int, before: dict, envs: list[dict], keep_out, rng) -> None:
    src, node = original.nodes[i], pruned.nodes[i]
    w_orig = original.constants[src.inputs[1]]
    ins = [before[src.inputs[0]]] + [original.constants[n] for n in src.inputs[1:]]
    y = _targets(_pre_activation(src, ins))
    ko = keep_out(src.outputs[0])
    if ko is not None:
        y = y[:, ko]
    w = pruned.constants[node.inputs[1]]
    b = pruned.constants[node.inputs[2]] if len(node.inputs) == 3 else np.zeros(w.shape[0], w.dtype)
    x = np.concatenate([env[node.inputs[0]] for env in envs]).astype(np.float64)
    a = _rows(node, x, w.shape[2:])
    w_new, b_new = fit(a, y, w.reshape(w.shape[0], -1).astype(np.float64), b.astype(np.float64), rng)
    _set_params(pruned, node, w_new.reshape(w.shape).astype(w_orig.dtype), b_new.astype(w_orig.dtype))


def _set_params(graph: Graph, node: Node, w: np.ndarray, b: np.ndarray) -> None:
    name = node.outputs[0]
    node.inputs = [node.inputs[0], add_constant(graph, w, f"{name}_weight"), add_constant(graph, b, f"{name}_bias")]
    graph.remove_unused_constants()


def absorb_means(original: Graph, pruned: Graph, samples: list[Sample], keep) -> int:
    """bias += W[:, removed] . mean(removed inputs), for dense layers and unpadded convs."""
    targets = [i for i in consumers(original, pruned)
               if original.nodes[i].op == "dense" or not any(original.nodes[i].attrs["pads"])]
    if not targets or not samples:
        return 0
    means = channel_means(original, samples, [original.nodes[i].inputs[0] for i in targets], fn=lambda v: v)
    for i in targets:
        src, node = original.nodes[i], pruned.nodes[i]
        x = src.inputs[0]
        gone = np.setdiff1d(np.arange(original.types[x].shape[1]), keep(x))
        w = original.constants[src.inputs[1]].astype(np.float64)
        mean = means[x][gone]
        shift = np.tensordot(w[:, gone].reshape(w.shape[0], len(gone), -1).sum(axis=2), mean, axes=(1, 0))
        ko = keep(src.outputs[0])
        if ko is not None:
            shift = shift[ko]
        wp = pruned.constants[node.inputs[1]]
        b = pruned.constants[node.inputs[2]].astype(np.float64) if len(node.inputs) == 3 else 0.0
        _set_params(pruned, node, wp, (b + shift).astype(wp.dtype))
    return len(targets)
