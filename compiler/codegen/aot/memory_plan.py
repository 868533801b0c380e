"""Static memory planning: every intermediate tensor and kernel workspace at an offset in one arena.

A microcontroller build has no allocator, so the generated ``model.c`` addresses all of its
scratch memory as ``arena + offset``. This module picks the offsets. The problem is offline
dynamic storage allocation (NP-hard), so we do what TFLite Micro's ``GreedyMemoryPlanner``
does: visit buffers in one order and put each at the lowest aligned offset that does not collide
with an already placed buffer whose lifetime overlaps. Several visiting orders are tried and the
smallest arena wins; all of them are cheap (O(n^2 log n) for n buffers).

Conventions:

* A step is one kernel call. A buffer lives over ``[first, last]`` inclusive: the step that
  writes it up to the last step that reads it. Two buffers whose lifetimes overlap never share a
  byte, so a kernel's inputs, outputs and scratch (``first == last``) are always disjoint...
* ...except an ``inplace_of`` pair: an elementwise kernel may write its output over the input it
  reads last (``source.last == new.first``, ``new.size <= source.size``). The output is then put
  at the source's offset, which saves the largest tensor of many activation chains. Only kernels
  that read each element before writing it may ask for this; the planner honours it only when it
  gives an arena no larger than without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["BufferLife", "MemoryPlan", "plan_memory", "verify_plan"]


@dataclass(frozen=True)
class BufferLife:
    """One buffer to place: its size in bytes and the steps during which it must stay intact."""

    name: str
    size: int
    first: int
    last: int
    inplace_of: str | None = None


@dataclass
class MemoryPlan:
    """Where each buffer lives in the arena, and how full the arena is at each step."""

    offsets: dict[str, int]
    arena_bytes: int
    peak_per_step: list[int]

    def as_dict(self) -> dict:
        """The plan as plain JSON data for ``manifest.json``."""
        return {
            "arena_bytes": self.arena_bytes,
            "peak_bytes": max(self.peak_per_step, default=0),
            "peak_per_step": list(self.peak_per_step),
            "offsets": dict(self.offsets),
        }


# ----------------------------------------------------------------------------- helpers


def _align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def _live_together(a: BufferLife, b: BufferLife) -> bool:
    """True when the lifetimes overlap and both buffers occupy memory."""
    return a.size > 0 and b.size > 0 and a.first <= b.last and b.first <= a.last


def _may_share(new: BufferLife, source: BufferLife) -> bool:
    """True when ``new`` may overwrite ``source`` in place (the source dies as ``new`` is born)."""
    return new.inplace_of == source.name and source.last == new.first and new.size <= source.size


def _check_input(buffers: list[BufferLife], alignment: int) -> None:
    if not isinstance(alignment, int) or alignment < 1:
        raise ValueError(f"memory plan: alignment must be a positive integer, got {alignment!r}")
    names: set[str] = set()
    for buf in buffers:
        if buf.name in names:
            raise ValueError(f"memory plan: buffer {buf.name!r} is listed twice")
        names.add(buf.name)
        if buf.size < 0:
            raise ValueError(f"memory plan: buffer {buf.name!r} has negative size {buf.size}")
        if buf.first < 0 or buf.last < buf.first:
            raise ValueError(
                f"memory plan: buffer {buf.name!r} has an invalid lifetime "
                f"[{buf.first}, {buf.last}] (need 0 <= first <= last)"
            )
    for buf in buffers:
        if buf.inplace_of is not None and (buf.inplace_of not in names or buf.inplace_of == buf.name):
            raise ValueError(
                f"memory plan: buffer {buf.name!r} is in place of unknown buffer {buf.inplace_of!r}"
            )


# ----------------------------------------------------------------------------- grouping


def _inplace_groups(buffers: list[BufferLife], honour: bool) -> list[list[BufferLife]]:
    """Buffers that will share one offset: in-place chains, else singletons.

    Buffers are visited by birth so that a source is grouped before the buffer that takes it
    over. A source is given to at most one new buffer (the first visited), and a buffer joins a
    chain only if it is not live together with any member other than its source, so that every
    overlap inside a group is an allowed in-place pair.
    """
    by_name = {b.name: b for b in buffers}
    group_of: dict[str, list[BufferLife]] = {}
    groups: list[list[BufferLife]] = []
    donated: set[str] = set()
    index = {b.name: i for i, b in enumerate(buffers)}
    for buf in sorted(buffers, key=lambda b: (b.first, b.last, index[b.name])):
        source = by_name.get(buf.inplace_of) if honour and buf.inplace_of else None
        group = group_of.get(source.name) if source is not None else None
        if (
            source is not None
            and group is not None
            and source.name not in donated
            and _may_share(buf, source)
            and not any(m is not source and _live_together(m, buf) for m in group)
        ):
            donated.add(source.name)
            group.append(buf)
        else:
            group = [buf]
            groups.append(group)
        group_of[buf.name] = group
    return groups


# ----------------------------------------------------------------------------- placement


def _group_key_size(group: list[BufferLife]) -> tuple:
    """Largest first (the TFLite Micro order): big buffers are hardest to fit later."""
    size = max(b.size for b in group)
    span = max(b.last for b in group) - min(b.first for b in group) + 1
    return (-size, -span, min(b.first for b in group), group[0].name)


def _group_key_start(group: list[BufferLife]) -> tuple:
    """By birth: mimics a stack allocator, which wins on long sequential chains."""
    return (min(b.first for b in group), -max(b.size for b in group), group[0].name)


def _group_key_area(group: list[BufferLife]) -> tuple:
    """By size x duration: long-lived large buffers block the most space-time."""
    area = sum(b.size * (b.last - b.first + 1) for b in group)
    return (-area, group[0].name)


_ORDERS: list[Callable[[list[BufferLife]], tuple]] = [_group_key_size, _group_key_start, _group_key_area]


def _lowest_offset(forbidden: list[tuple[int, int]], alignment: int) -> int:
    """The lowest aligned offset outside every open interval ``(lo, hi)`` of ``forbidden``."""
    offset = 0
    for lo, hi in sorted(forbidden):
        if offset <= lo:
            break  # every later interval starts at or after ``lo`` too
        if offset < hi:
            offset = _align(hi, alignment)
    return offset


def _place(groups: list[list[BufferLife]], alignment: int) -> dict[str, int]:
    """Greedy placement of groups in the given order; each group shares one offset."""
    offsets: dict[str, int] = {}
    placed: list[BufferLife] = []
    for group in groups:
        forbidden: list[tuple[int, int]] = []
        for member in group:
            for other in placed:
                if _live_together(member, other):
                    # member at x collides iff other.start - member.size < x < other.end
                    start = offsets[other.name]
                    forbidden.append((start - member.size, start + other.size))
        offset = _lowest_offset(forbidden, alignment)
        for member in group:
            offsets[member.name] = offset
        placed.extend(group)
    return offsets


def _arena_bytes(buffers: list[BufferLife], offsets: dict[str, int], alignment: int) -> int:
    return _align(max((offsets[b.name] + b.size for b in buffers), default=0), alignment)


def _peak_per_step(buffers: list[BufferLife], offsets: dict[str, int]) -> list[int]:
    """Live bytes per step; storage shared in place is counted once (by its larger user)."""
    steps = max((b.last for b in buffers), default=-1) + 1
    peaks = [0] * steps
    by_name = {b.name: b for b in buffers}
    for buf in buffers:
        for step in range(buf.first, buf.last + 1):
            peaks[step] += buf.size
        source = by_name.get(buf.inplace_of) if buf.inplace_of else None
        if source is not None and _may_share(buf, source) and offsets[buf.name] == offsets[source.name]:
            peaks[buf.first] -= buf.size  # lives inside the source's storage at the handover step
    return peaks


# ----------------------------------------------------------------------------- public API


def plan_memory(buffers: list[BufferLife], alignment: int = 16) -> MemoryPlan:
    """Place every buffer at an aligned arena offset; pure and deterministic.

    Tries each visiting order with and without the requested in-place sharing and keeps the
    smallest arena (ties go to in-place, then to the earlier order), because no single greedy
    order is best on every graph.
    """
    buffers = list(buffers)
    _check_input(buffers, alignment)
    best: dict[str, int] | None = None
    best_arena = 0
    for honour in (True, False):
        groups = _inplace_groups(buffers, honour)
        for key in _ORDERS:
            offsets = _place(sorted(groups, key=key), alignment)
            arena = _arena_bytes(buffers, offsets, alignment)
            if best is None or arena < best_arena:
                best, best_arena = offsets, arena
        if not any(b.inplace_of for b in buffers):
            break  # the second round would repeat the first
    assert best is not None  # the loop runs at least once, even for no buffers
    offsets = {b.name: best[b.name] for b in buffers}
    return MemoryPlan(offsets, best_arena, _peak_per_step(buffers, offsets))


def verify_plan(buffers: list[BufferLife], plan: MemoryPlan, alignment: int | None = None) -> None:
    """Raise ``ValueError`` naming two buffers that collide, or any buffer outside the arena.

    Independent of the planner (a plain pairwise check), so tests and debug builds can trust it.
    """
    buffers = list(buffers)
    by_name = {b.name: b for b in buffers}
    if set(plan.offsets) != set(by_name):
        missing = sorted(set(by_name) - set(plan.offsets)) or sorted(set(plan.offsets) - set(by_name))
        raise ValueError(f"memory plan: offsets do not match the buffers (first difference {missing[0]!r})")
    for buf in buffers:
        offset = plan.offsets[buf.name]
        if offset < 0 or offset + buf.size > plan.arena_bytes:
            raise ValueError(
                f"memory plan: buffer {buf.name!r} at [{offset}, {offset + buf.size}) "
                f"is outside the {plan.arena_bytes}-byte arena"
            )
        if alignment and offset % alignment:
            raise ValueError(
                f"memory plan: buffer {buf.name!r} at offset {offset} is not {alignment}-aligned"
            )
    for i, a in enumerate(buffers):
        for b in buffers[i + 1:]:
            if _live_together(a, b) and _overlap_in_space(a, b, plan) and not _shared_in_place(a, b, plan):
                raise ValueError(
                    f"memory plan: buffers {a.name!r} [{a.first}, {a.last}] and {b.name!r} "
                    f"[{b.first}, {b.last}] are live together but overlap in the arena"
                )


def _overlap_in_space(a: BufferLife, b: BufferLife, plan: MemoryPlan) -> bool:
    a0, b0 = plan.offsets[a.name], plan.offsets[b.name]
    return a0 < b0 + b.size and b0 < a0 + a.size


def _shared_in_place(a: BufferLife, b: BufferLife, plan: MemoryPlan) -> bool:
    """True for an allowed in-place pair: same offset, and one overwrites the other as it dies."""
    same = plan.offsets[a.name] == plan.offsets[b.name]
    return same and (_may_share(a, b) or _may_share(b, a))
