"""Graph-to-graph compression passes and the manager that runs them."""

from .base import Pass, PassResult
from .manager import PipelineResult, run_passes
from .pipeline import MERGE_PIPELINE, PASSES, select_passes

__all__ = ["Pass", "PassResult", "PipelineResult", "run_passes", "MERGE_PIPELINE", "PASSES", "select_passes"]
