"""Shared bits of the benchmark scripts: timing, tables, JSON, machine description."""

from __future__ import annotations

import json
import os
import platform
import statistics
from typing import Any, Callable, Sequence

from runtime.host import timed_runs


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def median_ms(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> float:
    return statistics.median(timed_runs(fn, repeat, warmup))


def ms(value: float) -> str:
    """Milliseconds for a table: two decimals, or three significant digits below 1 ms (0.00781)."""
    return f"{value:.2f}" if value >= 1 else f"{value:.3g}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return f"{value:,}" if isinstance(value, int) else (f"{value:.3g}" if isinstance(value, float) else str(value))

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def emit(results: dict[str, Any], table: str, json_path: str | None) -> None:
    """Print the table and the JSON; also write the JSON to ``json_path`` if given."""
    print(table)
    print()
    text = json.dumps(results, indent=2)
    print(text)
    if json_path:
        with open(json_path, "w") as f:
            f.write(text + "\n")
