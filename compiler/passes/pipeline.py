"""The default layer-merging pipeline, in the order the passes run.

Order matters: no-ops go first so batch norms and affine ops sit right after their layer;
batch-norm and affine folding come before chain merging (a folded BN makes two layers
adjacent); activation fusion comes after merging (a fused layer no longer merges); clean-up
(CSE, dead nodes) comes last.
"""

from __future__ import annotations

from typing import Sequence

from ..errors import UsageError
from .base import Pass
from .decompose_sum import DecomposeSum
from .eliminate_common_subexpressions import EliminateCommonSubexpressions
from .eliminate_dead_nodes import EliminateDeadNodes
from .eliminate_noops import EliminateNoops
from .fold_affine import FoldAffine
from .fold_batchnorm import FoldBatchNorm
from .fold_constants import FoldConstants
from .fold_pad import FoldPad
from .fuse_activations import FuseActivations
from .fuse_qdq import FuseQdq
from .matmul_to_dense import MatmulToDense
from .merge_linear_chains import MergeLinearChains

MERGE_PIPELINE: list[Pass] = [
    EliminateNoops,
    FoldConstants,
    DecomposeSum,
    MatmulToDense,
    FoldPad,
    FoldBatchNorm,
    FoldAffine,
    MergeLinearChains,
    FuseActivations,
    EliminateCommonSubexpressions,
    EliminateDeadNodes,
]

PASSES: dict[str, Pass] = {p.name: p for p in MERGE_PIPELINE + [FuseQdq]}


def select_passes(names: Sequence[str] | None) -> list[Pass]:
    """The passes named (in pipeline order as given), or the whole default pipeline."""
    if names is None:
        return list(MERGE_PIPELINE)
    unknown = [n for n in names if n not in PASSES]
    if unknown:
        raise UsageError(f"unknown pass(es) {unknown}; known passes: {', '.join(PASSES)}")
    return [PASSES[n] for n in names]
