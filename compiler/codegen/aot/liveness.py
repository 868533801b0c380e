"""Buffer lifetimes from the ordered kernel calls of a model, for the memory planner.

Step ``i`` is the ``i``-th kernel call; it reads some buffers and writes others. A buffer lives
from the step that writes it to the last step that reads it, inclusive (``BufferLife``). Names in
``keep`` — model inputs, outputs, constants — are excluded: they have their own storage (caller
buffers, flash) and must not be overwritten. A written buffer nobody reads (a kernel's scratch
workspace, or a dead output) lives for its own step only, since the kernel still writes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from compiler.codegen.aot.memory_plan import BufferLife

__all__ = ["lifetimes"]

Step = tuple[Sequence[str], Sequence[str]]


def lifetimes(
    steps: Sequence[Step],
    sizes: Mapping[str, int],
    keep: set[str],
    inplace: Mapping[str, str] | None = None,
) -> list[BufferLife]:
    """One ``BufferLife`` per written name not in ``keep``, in the order the steps write them.

    ``steps`` is a list of ``(reads, writes)`` per kernel call. ``inplace`` maps an output to
    the input its kernel may overwrite (elementwise kernels); it is passed on as ``inplace_of``
    unless that input is kept, and the planner decides whether the pair may really share.
    Raises ``ValueError`` naming the buffer for a read before any write, a second write, or a
    missing size.
    """
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for index, (reads, writes) in enumerate(steps):
        for name in reads:
            if name in keep:
                continue
            if name not in first:
                raise ValueError(f"liveness: step {index} reads {name!r} before any step writes it")
            last[name] = index
        for name in writes:
            if name in keep:
                continue
            if name in first:
                raise ValueError(f"liveness: {name!r} is written by steps {first[name]} and {index}")
            if name not in sizes:
                raise ValueError(f"liveness: no size for buffer {name!r} (written by step {index})")
            first[name] = last[name] = index
    inplace = inplace or {}
    return [
        BufferLife(name, sizes[name], start, last[name], _source(inplace.get(name), keep))
        for name, start in first.items()
    ]


def _source(name: str | None, keep: set[str]) -> str | None:
    """Kept tensors (inputs, weights) are never overwritten in place."""
    return None if name is None or name in keep else name
