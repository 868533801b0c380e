"""edgec CUDA artifacts vs onnxruntime on a machine with an NVIDIA GPU: outputs and latency.

    python -m bench.cuda ART_DIR[=MODEL.onnx] ... [--repeat 100] [--json FILE]

Each artifact (from ``edgec compile MODEL.onnx --target cuda -o ART_DIR``) runs on the GPU on the
same random inputs (seed 0) as onnxruntime runs the source model; the table gives the largest
output difference and the median latency of both, onnxruntime with its CUDA provider when it has
one and on the CPU (all cores) otherwise. The kernels are TVM's default GPU schedules (DLight),
untuned. Artifacts can be built on a machine without a GPU and carried over; only TVM's runtime
library is needed here (TVM_USE_RUNTIME_LIB=1).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from bench.common import emit, machine, markdown_table, median_ms
from compiler.cli_run import device_description


def parse_pairs(items: list[str]) -> list[tuple[str, str | None]]:
    return [(a, m or None) for a, _, m in (item.partition("=") for item in items)]


def ort_sessions(model: str):
    import onnxruntime as ort

    providers = ort.get_available_providers()
    sessions = {"onnxruntime-cpu": ort.InferenceSession(model, providers=["CPUExecutionProvider"])}
    if "CUDAExecutionProvider" in providers:
        sessions["onnxruntime-cuda"] = ort.InferenceSession(model, providers=["CUDAExecutionProvider"])
    return sessions


def measure(artifact: str, model: str | None, repeat: int) -> dict:
    import runtime

    start = time.perf_counter()
    edgec = runtime.load(artifact)
    load_s = time.perf_counter() - start  # includes compiling the CUDA C for this GPU
    feeds = edgec.random_inputs(seed=0)
    outputs = edgec.run(feeds)
    row = {"artifact": artifact, "target": edgec.manifest["target"]["name"], "device": device_description(edgec),
           "load_s": load_s, "edgec_median_ms": float(np.median(edgec.benchmark(feeds, repeat=repeat, warmup=10)))}
    model = model or edgec.manifest.get("source")
    if not model or not os.path.isfile(model):
        return row
    for name, session in ort_sessions(model).items():
        names = [o.name for o in session.get_outputs()]
        expected = dict(zip(names, session.run(None, feeds)))
        row[f"{name}_median_ms"] = median_ms(lambda s=session: s.run(None, feeds), repeat, warmup=10)
        row[f"max_abs_diff_vs_{name}"] = max(float(np.abs(outputs[k] - expected[k]).max()) for k in outputs)
        row[f"allclose_1e-4_vs_{name}"] = all(np.allclose(outputs[k], expected[k], rtol=1e-4, atol=1e-5)
                                              for k in outputs)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("artifacts", nargs="+", metavar="ART_DIR[=MODEL.onnx]")
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    rows = [measure(a, m, args.repeat) for a, m in parse_pairs(args.artifacts)]
    keys = [k for k in rows[0] if k != "artifact"]
    table = markdown_table(["artifact", *keys], [[r["artifact"], *(r.get(k, "") for k in keys)] for r in rows])
    emit({"machine": machine(), "repeat": args.repeat, "results": rows}, table, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
