"""The direct executor against the Relax VM, on models small enough for the call to matter.

Each model is compiled twice from the same IR, with ``--executor direct`` and ``--executor vm``
(the same kernels); a child process per thread count times ``Model.run`` (numpy in, numpy out,
input checks included) of both and onnxruntime's ``session.run`` on the same inputs, in
interleaved rounds (``bench.latency.time_rounds``). ``<name>_int8`` is edgec's int8 build
(``bench.latency_int8`` calibration; onnxruntime runs the float model). Prints the medians in
microseconds, direct/VM and direct/onnxruntime, as a table and JSON.

    python -m bench.executor [--models digits,digits_int8,tiny_cnn,squeezenet] [--threads 1,2]
                             [--repeat 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import emit, machine, markdown_table
from bench.latency import ROOT, load_model, percentile, time_rounds

EXECUTORS = ("direct", "vm")


def compile_both(name: str, out: Path) -> None:
    from bench.latency_int8 import calibration
    from compiler.codegen.build import compile_graph
    from compiler.frontend.onnx import import_onnx
    from compiler.pipeline import CompressOptions, compress
    from compiler.quant.ptq import QuantOptions

    base = name.removesuffix("_int8")
    model, feeds = load_model(base)
    quantize = QuantOptions(calib=calibration(base, model, feeds)) if name.endswith("_int8") else None
    graph = compress(import_onnx(model), CompressOptions(quantize=quantize)).graph
    for executor in EXECUTORS:
        result = compile_graph(graph, out / f"{name}.{executor}", source=base, executor=executor)
        assert result.manifest["executor"]["kind"] == executor, result.manifest["executor"]


def measure(name: str, artifacts: Path, threads: int, repeat: int) -> dict:
    import numpy as np
    import onnxruntime as ort

    import runtime

    base = name.removesuffix("_int8")
    model, feeds = load_model(base)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    models = {e: runtime.load(artifacts / f"{name}.{e}") for e in EXECUTORS}
    direct, vm = (models[e].run(feeds) for e in EXECUTORS)
    for key in vm:  # the same kernels: the same numbers
        np.testing.assert_array_equal(direct[key], vm[key])
    times = time_rounds({"onnxruntime": lambda: session.run(None, feeds),
                         **{e: (lambda m=m: m.run(feeds)) for e, m in models.items()}}, repeat)
    row = {"model": name, "threads": threads}
    for label, values in times.items():
        row[label] = {"median_us": percentile(values, 0.5) * 1e3, "p90_us": percentile(values, 0.9) * 1e3}
    row["direct_over_vm"] = row["direct"]["median_us"] / row["vm"]["median_us"]
    row["direct_over_onnxruntime"] = row["direct"]["median_us"] / row["onnxruntime"]["median_us"]
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="digits,digits_int8,tiny_cnn,squeezenet")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeat", type=int, default=2000, help="timed runs per model, runtime and thread count")
    parser.add_argument("--json", help="also write the JSON here")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--artifacts", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    if args.child:
        json.dump([measure(n, Path(args.artifacts), args.child, args.repeat) for n in names], sys.stdout)
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgec-executor-") as tmp:
        for name in names:
            compile_both(name, Path(tmp))
        for threads in (int(t) for t in args.threads.split(",")):
            env = dict(os.environ, TVM_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
            cmd = [sys.executable, "-m", "bench.executor", "--child", str(threads), "--artifacts", tmp,
                   "--models", ",".join(names), "--repeat", str(args.repeat)]
            done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"benchmark child ({threads} threads) failed:\n{done.stderr}")
            rows += json.loads(done.stdout)
    body = [[r["model"], r["threads"], f"{r['onnxruntime']['median_us']:.1f}", f"{r['vm']['median_us']:.1f}",
             f"{r['direct']['median_us']:.1f}", f"{r['direct_over_vm']:.2f}", f"{r['direct_over_onnxruntime']:.2f}"]
            for r in rows]
    text = markdown_table(["model", "threads", "onnxruntime us", "edgec VM us", "edgec direct us", "direct / VM",
                           "direct / onnxruntime"], body)
    emit({"machine": machine(), "rows": rows}, text, args.json)


if __name__ == "__main__":
    main()
