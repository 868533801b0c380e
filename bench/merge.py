"""Layer merging on the nine ONNX "light" zoo models with random weights.

For each model: IR nodes and parameter bytes before and after the merge pipeline, batch-norm
count after, and the largest output difference of the merged model (exported to ONNX and run
by onnxruntime) against onnxruntime on the original model, relative to the output's scale.
Then the TVM build of ResNet-50 with and without merging, timed in the same run.

    python -m bench.merge [--models resnet50,squeezenet] [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time

import numpy as np
import onnx

from bench.common import emit, machine, markdown_table, median_ms
from compiler.codegen.build import compile_graph
from compiler.export import export_onnx
from compiler.frontend.onnx import import_onnx
from compiler.passes import MERGE_PIPELINE, run_passes
from tests.oracle import run_ort
from tests.zoo_models import LIGHT, MODELS, dummy_feeds, randomize_weights

RTOL = 1e-4


def relative_error(got: list[np.ndarray], want: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(g - w)) / max(np.max(np.abs(w)), 1e-12)) for g, w in zip(got, want))


def merge_row(name: str) -> dict:
    model = randomize_weights(onnx.load(LIGHT / f"light_{name}.onnx"))
    feeds = dummy_feeds(model)
    reference = run_ort(model, feeds)
    graph = import_onnx(model)
    start = time.perf_counter()
    merged = run_passes(graph, MERGE_PIPELINE, verify_each=True)
    seconds = time.perf_counter() - start
    error = relative_error(run_ort(export_onnx(merged.graph), feeds), reference)
    return {
        "model": name,
        "onnx_nodes": len(model.graph.node),
        "ir_nodes_before": len(graph.nodes), "ir_nodes_after": len(merged.graph.nodes),
        "param_bytes_before": graph.param_bytes(), "param_bytes_after": merged.graph.param_bytes(),
        "batch_norm_before": graph.op_counts().get("batch_norm", 0),
        "batch_norm_after": merged.graph.op_counts().get("batch_norm", 0),
        "max_rel_error_vs_onnxruntime": error, "ok": error <= RTOL, "pass_seconds": round(seconds, 2),
        "changes": {r.name: r.changes for r in merged.records if any(r.changes.values())},
    }


def speed_row(name: str, repeat: int) -> dict:
    """Median latency of the TVM build without and with merging (same process, same input)."""
    import runtime

    model = randomize_weights(onnx.load(LIGHT / f"light_{name}.onnx"))
    feeds = dummy_feeds(model)
    graph = import_onnx(model)
    merged = run_passes(graph, MERGE_PIPELINE).graph
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, g in (("unmerged", graph), ("merged", merged)):
            compile_graph(g, f"{tmp}/{label}")
            loaded = runtime.load(f"{tmp}/{label}")
            times[label] = median_ms(lambda: loaded.run(feeds), repeat)
    return {"model": name, "unmerged_ms": times["unmerged"], "merged_ms": times["merged"],
            "merged_over_unmerged": times["merged"] / times["unmerged"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated light model names")
    parser.add_argument("--speed-model", default="resnet50", help="model timed merged vs unmerged ('' to skip)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="also write the JSON here")
    args = parser.parse_args()

    rows = [merge_row(name) for name in args.models.split(",") if name]
    speed = speed_row(args.speed_model, args.repeat) if args.speed_model else None
    table = markdown_table(
        ["model", "ONNX nodes", "IR nodes before → after", "param bytes before → after", "BN after",
         "max rel. error vs onnxruntime"],
        [[r["model"], r["onnx_nodes"], f"{r['ir_nodes_before']} → {r['ir_nodes_after']}",
          f"{r['param_bytes_before']:,} → {r['param_bytes_after']:,}", r["batch_norm_after"],
          f"{r['max_rel_error_vs_onnxruntime']:.1e}"] for r in rows])
    if speed:
        table += (f"\n\nTVM build of {speed['model']} (untuned, median of {args.repeat}): unmerged "
                  f"{speed['unmerged_ms']:.1f} ms, merged {speed['merged_ms']:.1f} ms, "
                  f"ratio merged/unmerged {speed['merged_over_unmerged']:.2f}")
    results = {"date": datetime.date.today().isoformat(), "machine": machine(), "rtol": RTOL,
               "models": rows, "speed": speed}
    emit(results, table, args.json)
    if not all(r["ok"] for r in rows):
        raise SystemExit("some merged models differ from onnxruntime by more than rtol")


if __name__ == "__main__":
    main()
