"""``prune(graph, PruneOptions) -> PruneResult``: structured channel pruning, end to end.

trace dependency groups -> score classes -> allocate per-group counts (uniform, per layer, or
a global MACs/parameter target, by sensitivity when calibration data is given) -> rewrite the
IR -> recover (least-squares re-fit, or mean absorption) -> report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import PassError, UsageError
from ..ir.graph import Graph
from . import calib, criteria, policy, report, sensitivity
from .apply import apply_pruning
from .groups import ChannelMap, source_layers, trace
from .reconstruct import absorb_means, reconstruct


@dataclass
class PruneOptions:
    macs: float | None = None             # remove this fraction of MACs (global target)
    params: float | None = None           # remove this fraction of parameters (global target)
    ratio: float | None = None            # remove this fraction of every group's channels
    layer_ratios: dict[str, float] = field(default_factory=dict)  # layer name -> fraction of its channels
    criterion: str = "l1"                 # l1 | l2 | bn | activation
    channel_multiple: int = 8             # kept channel counts are multiples of this
    reconstruct: bool = True              # least-squares re-fit of pruned consumers (needs calib)
    calib: Any = None                     # calibration data (as for quantization)
    limit: int | None = 512               # at most this many calibration samples
    sensitivity: bool = True              # sensitivity-driven allocation for global targets (needs calib)
    sensitivity_samples: int = 16
    max_ratio: float = 0.9                # never remove more than this fraction of a group
    budget_macs: float = 4e10             # MACs the numpy interpreter may spend on sensitivity / re-fitting
    bn_scales: dict[str, np.ndarray] | None = None  # |gamma| by layer name, read before BN folding


@dataclass
class PruneResult:
    graph: Graph
    report: dict = field(default_factory=dict)


def check_options(options: PruneOptions) -> None:
    """Refuse bad options before any work (one-line UsageErrors)."""
    given = [k for k in ("macs", "params", "ratio") if getattr(options, k) is not None]
    if len(given) + bool(options.layer_ratios and options.ratio is None) != 1:
        raise UsageError("pruning needs exactly one of: a MACs target (--prune), a parameter target "
                         "(--prune-params), or per-layer ratios (--prune-ratios)")
    for name, value in [(k, getattr(options, k)) for k in given] + list(options.layer_ratios.items()):
        if not 0.0 < value < 1.0:
            raise UsageError(f"pruning ratio {name}={value} must be between 0 and 1 (exclusive)")
    if options.criterion not in criteria.CRITERIA:
        raise UsageError(f"unknown pruning criterion '{options.criterion}' "
                         f"(choose from {', '.join(criteria.CRITERIA)})")
    if options.criterion in criteria.DATA_DRIVEN and options.calib is None:
        raise UsageError(f"the '{options.criterion}' pruning criterion needs calibration data: "
                         "--calib FILE.npz|FILE.npy|DIR")
    if options.channel_multiple < 1:
        raise UsageError(f"channel multiple must be >= 1, got {options.channel_multiple}")


def prune(graph: Graph, options: PruneOptions) -> PruneResult:
    """A verified pruned copy of ``graph`` and its report; ``graph`` is left as it was.

    Raises UsageError for bad options, InputError for bad calibration data and PassError when
    no layer can be pruned. Sensitivity analysis and reconstruction run the numpy interpreter
    on the calibration samples, so on large models they take minutes (``sensitivity=False``).
    """
    check_options(options)
    cmap = trace(graph)
    if not cmap.groups:
        why = "; ".join(f"{n}: {r}" for n, r in cmap.excluded[:5]) or "it has no conv or dense layer"
        raise PassError(f"prune: nothing in graph '{graph.name}' can be pruned ({why})")
    samples = calib.load_samples(graph, options.calib, options.limit) if options.calib is not None else []
    activations, notes = None, []
    if options.criterion == "activation":  # mean |output| per channel of every source layer
        some = _affordable(graph, samples, options.budget_macs / 4, 16, notes, "the activation criterion", 1)
        activations = calib.channel_means(graph, some, [n.outputs[0] for n in source_layers(graph)])
    scores = criteria.class_scores(cmap, criteria.layer_scores(graph, options.criterion, options.bn_scales,
                                                               activations))
    counts = _allocate(cmap, scores, samples, options, notes)
    removed = np.concatenate([sensitivity.lowest(cmap, scores, g, int(n)) for g, n in enumerate(counts)]) \
        if counts.any() else np.zeros(0, np.int64)
    pruned = apply_pruning(cmap, removed)
    fit_samples = _affordable(graph, samples, options.budget_macs / 4, 16, notes, "re-fitting")
    refitted, recovery = _recover(cmap, graph, pruned, removed, fit_samples, options)
    out = _report(cmap, graph, pruned, counts, options, len(fit_samples), refitted, recovery)
    out["notes"] = out["notes"] + notes
    return PruneResult(pruned, out)


def _affordable(graph: Graph, samples: list, budget: float, minimum: int, notes: list[str], what: str,
                runs: int = 2) -> list:
    """The first samples that ``runs`` interpreter passes can afford within ``budget`` MACs."""
    from ..ir.stats import model_stats

    per_sample = max(model_stats(graph)["macs"] * runs, 1)
    n = max(minimum, int(budget // per_sample))
    if n < len(samples):
        notes.append(f"{what} uses {n} of {len(samples)} calibration samples (the reference interpreter runs "
                     f"{per_sample / runs / 1e9:.2f} GMACs per sample)")
    return samples[:n]


def keeper(cmap: ChannelMap, removed: np.ndarray):
    """keep(value): kept positions of an original value, None when all of it is kept."""
    def keep(value: str) -> np.ndarray | None:
        kept = cmap.keep(value, removed)
        return None if kept is None or len(kept) == cmap.graph.types[value].shape[1] else kept

    return keep


def _recover(cmap: ChannelMap, graph: Graph, pruned: Graph, removed: np.ndarray, samples: list,
             options: PruneOptions) -> tuple[int, str]:
    """Repair ``pruned`` in place: least-squares re-fit, or mean absorption, as data allows."""
    if not samples:
        return 0, "nothing (no calibration data)"
    if options.reconstruct:
        return reconstruct(graph, pruned, samples, keeper(cmap, removed)), "least squares"
    return absorb_means(graph, pruned, samples, keeper(cmap, removed)), "mean absorption"


def _allocate(cmap: ChannelMap, scores: np.ndarray, samples: list, options: PruneOptions,
              notes: list[str]) -> np.ndarray:
    m, cap = options.channel_multiple, options.max_ratio
    if options.ratio is not None or options.layer_ratios:
        counts = policy.uniform(cmap, options.ratio or 0.0, m, cap)
        named = policy.per_layer(cmap, options.layer_ratios, m, cap)
        return np.where(named > 0, named, counts)
    target = policy.Target("macs" if options.macs is not None else "params", options.macs or options.params)
    est = policy.Estimator(cmap)
    trials = len(cmap.groups) * len(sensitivity.RATIOS) * 3  # apply + re-fit + output run per trial
    few = _affordable(cmap.graph, samples[:options.sensitivity_samples], options.budget_macs, 0, [], "", trials)
    if samples and options.sensitivity and len(few) < 2:
        notes.append("sensitivity analysis skipped: the model is too large for the reference interpreter "
                     "within budget_macs; channels were allocated by the data-free proxy")
    elif samples and options.sensitivity:
        curves = sensitivity.curves(cmap, scores, few,
                                    lambda pruned, removed: _recover(cmap, cmap.graph, pruned, removed, few, options))
        return policy.global_greedy(cmap, est, target, m, cap, curves)
    return policy.global_greedy(cmap, est, target, m, cap)


def _report(cmap: ChannelMap, before: Graph, after: Graph, counts: np.ndarray, options: PruneOptions,
            samples: int, refitted: int, recovery: str) -> dict:
    t = report.totals(before, after)
    out = {"criterion": options.criterion, "channel_multiple": options.channel_multiple,
           "calibration_samples": samples, "refitted": refitted, "recovery": recovery,
           "layers": report.layer_rows(before, after), "totals": t,
           "macs_removed": 1 - t["macs"][1] / max(t["macs"][0], 1),
           "params_removed": 1 - t["params"][1] / max(t["params"][0], 1),
           "groups": len(cmap.groups), "groups_pruned": int(np.count_nonzero(counts)),
           "excluded": cmap.excluded, "notes": cmap.notes}
    goal = options.macs if options.macs is not None else options.params
    got = out["macs_removed"] if options.macs is not None else out["params_removed"]
    if goal is not None and got < goal - 0.02:
        out["warning"] = (f"target {100 * goal:.0f}% not reached ({100 * got:.1f}% removed): the prunable groups "
                          f"are at their limits (channel multiple {options.channel_multiple}, at most "
                          f"{100 * options.max_ratio:.0f}% per group)")
    return out
