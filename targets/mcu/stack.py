"""Worst-case stack estimate of a bare-metal build, from GCC's call graphs (``-fcallgraph-info=su``).

Each object's ``.ci`` file lists its functions with their frame sizes and its call edges. The
estimate is the deepest chain from ``Reset_Handler`` plus the deepest interrupt handler chain on top
(one exception can preempt at the deepest point: edgec enables only SysTick, and faults end the
program) plus the exception frame the core pushes (26 words with the FP context) plus a fixed
allowance for C library leaf functions (memcpy, memset, ...), which come without call-graph data.
A recursive chain or a dynamically sized frame makes the estimate unknown (``bytes`` is None).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

EXCEPTION_FRAME = 26 * 4   # R0-R3, R12, LR, PC, xPSR + S0-S15, FPSCR, reserved
LIBRARY_ALLOWANCE = 128    # newlib-nano's memcpy/memset/... frames, not in the call graphs
ENTRY = "Reset_Handler"
HANDLERS = ("SysTick_Handler", "Default_Handler")

NODE = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)"')
EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
FRAME = re.compile(r"\\n(\d+) bytes \(([^)]*)\)")


def read_call_graph(build_dir: Path) -> tuple[dict[str, tuple[int | None, str]], dict[str, set[str]]]:
    """({function: (frame bytes or None, qualifier)}, {caller: callees}) over all ``.ci`` files."""
    frames: dict[str, tuple[int | None, str]] = {}
    calls: dict[str, set[str]] = {}
    for path in sorted(build_dir.rglob("*.ci")):
        text = path.read_text(errors="replace")
        for title, label in NODE.findall(text):
            match = FRAME.search(label)
            if match:
                frames[title] = (int(match.group(1)), match.group(2))
            else:
                frames.setdefault(title, (None, "external"))
        for source, target in EDGE.findall(text):
            calls.setdefault(source, set()).add(target)
    return frames, calls


def deepest(name: str, frames: dict[str, tuple[int | None, str]], calls: dict[str, set[str]],
            memo: dict[str, int], active: set[str], notes: list[str]) -> int | None:
    """Bytes of the deepest chain from ``name``; None when unbounded (recursion, dynamic frame)."""
    if name in memo:
        return memo[name]
    if name in active:
        notes.append(f"recursion through {name}")
        return None
    size, qualifier = frames.get(name, (None, "external"))
    if size is None:
        return LIBRARY_ALLOWANCE  # a library function (no call graph): its allowance covers it
    if qualifier != "static":
        notes.append(f"{name} has a {qualifier} frame")
        if "bounded" not in qualifier:
            return None
    active.add(name)
    below = 0
    for callee in sorted(calls.get(name, ())):
        depth = deepest(callee, frames, calls, memo, active, notes)
        if depth is None:
            active.discard(name)
            return None
        below = max(below, depth)
    active.discard(name)
    memo[name] = size + below
    return memo[name]


def estimate_stack(build_dir: Path) -> dict[str, Any]:
    """{'bytes': worst case or None, 'method': how, 'notes': [...]} for the build in ``build_dir``."""
    frames, calls = read_call_graph(Path(build_dir))
    if ENTRY not in frames:
        return {"bytes": None, "method": "no call graph (-fcallgraph-info=su) found", "notes": []}
    notes: list[str] = []
    memo: dict[str, int] = {}
    main_chain = deepest(ENTRY, frames, calls, memo, set(), notes)
    handler_chain = [deepest(h, frames, calls, memo, set(), notes) for h in HANDLERS if h in frames]
    if main_chain is None or None in handler_chain:
        return {"bytes": None, "method": "call graph (unbounded)", "notes": notes}
    total = main_chain + max(handler_chain, default=0) + EXCEPTION_FRAME + LIBRARY_ALLOWANCE
    return {"bytes": -(-total // 8) * 8, "method": "GCC call graph: deepest chain + one exception + "
            f"{LIBRARY_ALLOWANCE} B library allowance", "notes": notes}
