"""Winograd F(2x2, 3x3) against edgec's direct conv and onnxruntime, one 3x3 conv + ReLU at a time.

Each layer (the 3x3 shapes of ResNet-50 and SqueezeNet) is one ONNX model, compiled twice: as
Winograd and as the direct NHWC conv (the thresholds of ``schedules/winograd.applies`` set so that
every conv, or none, qualifies); the last column says which one edgec's build picks. A child process per thread count times ``Model.run`` of both and
onnxruntime's ``session.run`` in interleaved rounds (``bench.latency.time_rounds``), and checks
both builds against onnxruntime. Prints medians in milliseconds and the ratios, as a table and
JSON.

    python -m bench.winograd [--threads 1,2] [--repeat 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.common import emit, machine, markdown_table
from bench.latency import ROOT, time_rounds

# (name, in channels, out channels, height = width): ResNet-50's and SqueezeNet's 3x3 convs
LAYERS = [("resnet50 conv2", 64, 64, 56), ("resnet50 conv3", 128, 128, 28), ("resnet50 conv4", 256, 256, 14),
          ("resnet50 conv5", 512, 512, 7), ("squeezenet fire2", 16, 64, 55), ("squeezenet fire4", 32, 128, 27),
          ("squeezenet fire6", 48, 192, 13), ("squeezenet fire8", 64, 256, 13)]
BUILDS = ("winograd", "direct")


def conv_relu(cin: int, cout: int, size: int):
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = (rng.standard_normal((cout, cin, 3, 3)) / np.sqrt(9 * cin)).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["y"])], "conv_relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, size, size])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def compile_layers(out: Path) -> dict[str, bool]:
    """Both builds of every layer; returns whether edgec chose Winograd for each."""
    import onnx

    from compiler.codegen.build import compile_graph
    from compiler.codegen.schedules import winograd
    from compiler.frontend.onnx import import_onnx
    from compiler.pipeline import compress

    chosen = {}
    for i, (name, cin, cout, size) in enumerate(LAYERS):
        model = conv_relu(cin, cout, size)
        onnx.save(model, out / f"{i}.onnx")
        graph = compress(import_onnx(model)).graph
        chosen[name] = winograd.applies((1, cin, size, size), (cout, cin, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1)
        for build, (channels, tiles) in {"winograd": (1, 0), "direct": (1 << 30, 0)}.items():
            saved = winograd.MIN_CHANNELS, winograd.MIN_TILES  # every conv qualifies, or none
            winograd.MIN_CHANNELS, winograd.MIN_TILES = channels, tiles
            try:
                compile_graph(graph, out / f"{i}.{build}")
            finally:
                winograd.MIN_CHANNELS, winograd.MIN_TILES = saved
    return chosen


def measure(artifacts: Path, threads: int, repeat: int) -> list[dict]:
    import onnx
    import onnxruntime as ort

    import runtime

    rows = []
    for i, (name, cin, cout, size) in enumerate(LAYERS):
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        session = ort.InferenceSession(onnx.load(artifacts / f"{i}.onnx").SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        feeds = {"x": np.random.default_rng(1).standard_normal((1, cin, size, size)).astype(np.float32)}
        want = session.run(None, feeds)[0]
        models = {b: runtime.load(artifacts / f"{i}.{b}") for b in BUILDS}
        errors = {}
        for build, model in models.items():
            got = model.run(feeds)["y"]
            errors[build] = float(np.abs(got - want).max() / np.abs(want).max())
            if errors[build] > 1e-4:
                raise SystemExit(f"{name}: the {build} build differs from onnxruntime (relative error {errors[build]:.2g})")
        runners = {"onnxruntime": lambda: session.run(None, feeds), **{b: (lambda m=m: m.run(feeds)) for b, m in models.items()}}
        times = time_rounds(runners, repeat)
        medians = {label: float(np.median(t)) for label, t in times.items()}
        rows.append({"layer": name, "channels": f"{cin}->{cout}", "size": size, "threads": threads,
                     "median_ms": medians, "max_rel_error": errors,
                     "winograd_over_direct": medians["winograd"] / medians["direct"],
                     "winograd_over_onnxruntime": medians["winograd"] / medians["onnxruntime"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--json")
    parser.add_argument("--measure", nargs=2, metavar=("ARTIFACTS", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:  # the child process: TVM's thread pool size is fixed at its first use
        print(json.dumps(measure(Path(args.measure[0]), int(args.measure[1]), args.repeat)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        chosen = compile_layers(Path(tmp))
        rows = []
        for threads in (int(t) for t in args.threads.split(",")):
            env = {**os.environ, "TVM_NUM_THREADS": str(threads)}
            out = subprocess.run([sys.executable, "-m", "bench.winograd", "--measure", tmp, str(threads),
                                  "--repeat", str(args.repeat)], cwd=ROOT, env=env, check=True,
                                 capture_output=True, text=True).stdout
            rows += json.loads(out.strip().splitlines()[-1])
    for row in rows:
        row["edgec_uses_winograd"] = chosen[row["layer"]]
    table = markdown_table(
        ["layer", "channels", "size", "threads", "onnxruntime ms", "edgec direct ms", "edgec Winograd ms",
         "Winograd / direct", "Winograd / onnxruntime", "edgec uses"],
        [[r["layer"], r["channels"], f"{r['size']}x{r['size']}", r["threads"], f"{r['median_ms']['onnxruntime']:.3f}",
          f"{r['median_ms']['direct']:.3f}", f"{r['median_ms']['winograd']:.3f}", f"{r['winograd_over_direct']:.2f}",
          f"{r['winograd_over_onnxruntime']:.2f}", "Winograd" if r["edgec_uses_winograd"] else "direct"]
         for r in rows])
    emit({"machine": machine(), "rows": rows}, table, args.json)


if __name__ == "__main__":
    main()
