"""The "tuned" rows of ``bench/latency.py``: edgec built with an ``edgec tune`` database.

A model gets them when it has a database: ``bench/tuning/<model>/`` (made with
``edgec tune MODEL.onnx --db bench/tuning/<model> --keep-best``, MODEL.onnx saved from
``bench.latency.load_model``: the same random weights) or ``--tuning-db MODEL=DIR``. The tuned build
is timed in the same interleaved rounds as onnxruntime and the untuned build, and its outputs are
checked against onnxruntime's like the untuned build's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from bench.common import markdown_table, ms

TUNING = Path(__file__).resolve().parent / "tuning"
LABEL = "edgec tuned"
SUFFIX = ".tuned"  # the tuned artifact of model M is <artifacts>/M.tuned


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tuning-db", action="append", default=[], metavar="MODEL=DIR",
                        help=f"tuning database for a model (repeatable; default: {TUNING}/<model> where it exists)")


def databases(names: list[str], given: list[str]) -> dict[str, Path]:
    """Model -> database folder, from --tuning-db and bench/tuning/<model>."""
    found = {name: TUNING / name for name in names if (TUNING / name).is_dir()}
    for item in given:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--tuning-db: '{item}' is not MODEL=DIR")
        found[name] = Path(path)
    return {name: path for name, path in found.items() if name in names}


def compile_tuned(names: list[str], out: Path, given: list[str]) -> dict[str, float]:
    """Compile each model that has a database into ``out/<model>.tuned``; compile seconds by row label."""
    from bench.latency import load_model
    from compiler.codegen.build import compile_graph
    from compiler.frontend.onnx import import_onnx
    from compiler.pipeline import compress

    seconds = {}
    for name, db in databases(names, given).items():
        start = time.perf_counter()
        result = compile_graph(compress(import_onnx(load_model(name)[0])).graph, out / f"{name}{SUFFIX}",
                               source=name, tuning_db=db)
        seconds[f"{name}{SUFFIX}"] = time.perf_counter() - start
        tuning = result.manifest["tuning"]
        print(f"compiled {name}{SUFFIX} in {seconds[f'{name}{SUFFIX}']:.1f} s: {tuning['tuned']} of "
              f"{tuning['kernels']} kernels from {db}", file=sys.stderr)
    return seconds


def tuned_runners(artifact: Path, feeds: dict, expected: list[np.ndarray]) -> dict[str, Callable]:
    """{LABEL: run} when ``artifact`` (the untuned build) has a tuned sibling; checks its outputs."""
    import runtime

    path = artifact.with_name(artifact.name + SUFFIX)
    if not path.is_dir():
        return {}
    compiled = runtime.load(path)
    ours = compiled.run(feeds)
    for out, want in zip(compiled.outputs, expected):
        error = float(np.max(np.abs(ours[out.name] - want))) / max(float(np.max(np.abs(want))), 1e-12)
        if error > 1e-3:
            raise SystemExit(f"{path}: output {out.name} differs from onnxruntime's (relative error {error:.2g})")
    return {LABEL: lambda: compiled.run(feeds)}


def finish_row(row: dict) -> None:
    """Add the tuned/onnxruntime ratio to a measured row that has a tuned build."""
    if LABEL in row:
        row["tuned_ratio"] = row[LABEL]["median_ms"] / row["onnxruntime"]["median_ms"]


def table(rows: list[dict], compile_s: dict[str, float]) -> str:
    """The tuned rows as a markdown table ("" if no model had a database)."""
    body = [[r["model"], r["threads"], ms(r['onnxruntime']['median_ms']), ms(r['edgec']['median_ms']),
             f"{ms(r[LABEL]['median_ms'])} ({ms(r[LABEL]['p90_ms'])})", f"{r['ratio']:.2f}", f"{r['tuned_ratio']:.2f}",
             f"{compile_s.get(r['model'] + SUFFIX, float('nan')):.1f}"] for r in rows if LABEL in r]
    if not body:
        return ""
    return markdown_table(["model", "threads", "onnxruntime ms", "edgec untuned ms", "edgec tuned ms, median (p90)",
                           "untuned / onnxruntime", "tuned / onnxruntime", "tuned compile s"], body)
