"""Human-readable output for the CLI: numbers, tensor specs and plain-text tables.

Machine-readable output (``--json``) never goes through here; these helpers only make the
default output pleasant to read.
"""

from __future__ import annotations

import sys
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .ir.types import TensorType


def count(n: float) -> str:
    """12345678 -> '12.35 M' (MACs, parameters)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)}"


def size(nbytes: int) -> str:
    """48213 -> '47.1 KiB'."""
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def spec(tensor: Mapping[str, Any]) -> str:
    """A manifest-style tensor spec ``{"name", "shape", "dtype"}`` -> 'x f32[1,3,8,8]'."""
    return f"{tensor['name']} {TensorType(tuple(tensor['shape']), tensor['dtype'])}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], right: Sequence[int] = ()) -> str:
    """Columns padded to the widest cell; ``right`` lists the right-aligned column indexes."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))

    lines = [line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]]
    return "\n".join(x.rstrip() for x in lines)


def summarize(array: np.ndarray, first: int = 5) -> str:
    """First values and, for arrays with more than one element, the flat argmax and range."""
    flat = array.reshape(-1)
    values = ", ".join(_scalar(v) for v in flat[:first]) + (", ..." if flat.size > first else "")
    text = f"[{values}]"
    if flat.size > 1 and array.dtype != np.bool_:
        text += f"  argmax {int(np.argmax(flat))}  min {_scalar(flat.min())}  max {_scalar(flat.max())}"
    return text


def _scalar(value: Any) -> str:
    value = value.item() if hasattr(value, "item") else value
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _bytes(n: Any) -> str:
    return "n/a" if n is None else f"{n:,} B"


def memory_summary(memory: Mapping[str, Any]) -> str:
    """The static memory of a C (AOT) build, one line each for RAM and flash."""
    return (f"  RAM:     {_bytes(memory['ram_bytes'])} (arena {_bytes(memory['arena_bytes'])}, of which kernel "
            f"scratch {_bytes(memory['workspace_bytes'])})\n"
            f"  flash:   {_bytes(memory['flash_bytes'])} (code {_bytes(memory['code_bytes'])}, "
            f"weights {_bytes(memory['weights_bytes'])})")


def memory_table(memory: Mapping[str, Any]) -> str:
    """Arena bytes in use at each kernel call (the memory plan's per-layer peak)."""
    rows = [(s["step"], s["kernel"], f"{s['peak_bytes']:,}") for s in memory.get("per_step_peak", [])]
    return "memory plan (arena bytes live during each kernel call):\n" + table(["step", "kernel", "peak"], rows,
                                                                              right=(0, 2))


def note(message: str) -> None:
    print(f"edgec: note: {message}", file=sys.stderr)


def executor(info: dict) -> str:
    """The manifest's executor in a line: how a run calls the kernels."""
    if info["kind"] == "direct":
        return (f"direct ({info['kernel_calls']} kernel calls from {info['entry']}; weights {size(info['params_bytes'])}"
                f" in {info['params']}, arena {size(info['arena_bytes'])})")
    return f"Relax VM ({info.get('why', '')})" if info.get("why") else "Relax VM"
