"""Structured channel pruning (see ``api.prune``): removes whole conv filters / dense features,
with their coupled layers, so the pruned model is really smaller and faster on every target."""

from .api import PruneOptions, PruneResult, prune
from .policy import channel_multiple_for

__all__ = ["PruneOptions", "PruneResult", "prune", "channel_multiple_for"]
