"""Per-group sensitivity: how much the model output changes when one group alone is pruned.

Each group is pruned at a few ratios (lowest-importance classes first, no reconstruction) and
the relative output error on a few calibration samples is recorded; the greedy policy spends
its MACs budget where the error grows slowest.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..ir.graph import Graph

from .apply import apply_pruning
from .calib import Sample, outputs, relative_error
from .groups import ChannelMap

RATIOS = (0.25, 0.5, 0.75, 0.9)


def lowest(cmap: ChannelMap, scores: np.ndarray, g: int, count: int) -> np.ndarray:
    """The ``count`` least important classes of group ``g``."""
    classes = cmap.groups[g].classes
    return classes[np.argsort(scores[classes], kind="stable")[:count]]


def curves(cmap: ChannelMap, scores: np.ndarray, samples: list[Sample],
           recover: Callable[[Graph, np.ndarray], None] | None = None,
           ratios: tuple[float, ...] = RATIOS) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """group index -> (ratios, relative output errors), starting at (0, 0).

    ``recover(pruned, removed)`` (the same recovery the final model gets) runs on each trial, so
    the curves measure what is left after reconstruction, not the raw damage.
    """
    reference = outputs(cmap.graph, samples)
    result = {}
    for g, group in enumerate(cmap.groups):
        errors = [0.0]
        for ratio in ratios:
            count = min(int(round(ratio * group.size)), group.size - 1)
            if count < 1:
                errors.append(errors[-1])
                continue
            removed = lowest(cmap, scores, g, count)
            pruned = apply_pruning(cmap, removed)
            if recover is not None:
                recover(pruned, removed)
            errors.append(relative_error(reference, outputs(pruned, samples)))
        result[g] = (np.array((0.0,) + tuple(ratios)), np.maximum.accumulate(np.array(errors)))
    return result
