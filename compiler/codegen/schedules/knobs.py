"""The choices a kernel schedule makes for itself, so that ``edgec tune`` can try others.

Each tiled family picks its register tile from ``CpuParams`` with a small cost model
(``conv.tile_choices``: FMAs per load over wasted pixels) and the conv its loop order from the
weight's size against L2. The model is measured to be right for most kernels, not all of them,
and nothing in it knows how a kernel's neighbours use the cache. ``Knobs`` overrides those
choices; a family's ``*_variants`` lists the next-best ones, which the tuner measures
(``tuning/variants.py``) next to MetaSchedule's own candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

# Tiles per kernel the tuner tries: the model's best and the next ones in its order.
TILES = 8


@dataclass(frozen=True)
class Knobs:
    """``None`` is the schedule's own choice."""

    tile: tuple[int, int] | None = None      # (pixels or rows, channel vectors) per register tile
    weight_stationary: bool | None = None    # conv: output-channel slabs outside the rows

    def describe(self) -> str:
        parts = []
        if self.tile:
            parts.append(f"tile {self.tile[0]}x{self.tile[1]}")
        if self.weight_stationary is not None:
            parts.append("weight-stationary" if self.weight_stationary else "row-major")
        return ", ".join(parts) or "default"


DEFAULT = Knobs()


def tile_variants(tiles: list[tuple[int, int]], orders: tuple[bool | None, ...] = (None,)) -> list[Knobs]:
    """Knobs for the first ``TILES`` of a family's tiles (best first), each in every loop order of
    ``orders`` (None: the schedule's own)."""
    return [Knobs(tile, order) for tile in tiles[:TILES] for order in orders]


def order_choice(knobs: Knobs, weight_bytes: int, l2_bytes: int) -> bool:
    """Weight-stationary (each output-channel slab of the weight read from cache for every row)
    when the weight is too big to stay in half of L2 while rows stream by, unless ``knobs`` says."""
    if knobs.weight_stationary is not None:
        return knobs.weight_stationary
    return weight_bytes > l2_bytes // 2
