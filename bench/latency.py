"""Latency of edgec's untuned build against onnxruntime, on the same inputs, same thread count.

For the five ONNX zoo architectures with random weights (SqueezeNet, ShuffleNet, ResNet-50,
Inception-v1, DenseNet-121) and ``examples/tiny_cnn.onnx``: each model is compiled once (the
compile time is reported), then for each thread count a child process (TVM reads
``TVM_NUM_THREADS`` once, when its thread pool starts) loads the artifact and an onnxruntime
session with ``intra_op_num_threads`` = the same count, and times both in interleaved rounds,
so that load from elsewhere on the machine hits both alike. Reported: median and p90 per
model, the ratio edgec/onnxruntime of the medians, its geometric mean over the five zoo
models, and edgec's 2-thread/1-thread ratio.

Int8 rows (``--int8-models``, ``bench/latency_int8.py``): edgec's int8 build (its own
post-training quantization) against edgec's fp32 build and onnxruntime's QDQ int8 model from
``quantize_static`` (per-channel int8 weights), calibrated on the same samples, timed in the
same interleaved way.

    python -m bench.latency [--models resnet50,squeezenet] [--int8-models digits,resnet50]
                            [--threads 1,2] [--repeat 30] [--json out.json] [--readme README.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from bench import tuned
from bench.common import emit, machine, markdown_table, ms
from bench.latency_int8 import INT8, INT8_MARKERS, INT8_WHAT, prepare_int8, summarize_int8, table_int8
from runtime.host import interleaved_runs

ROOT = Path(__file__).resolve().parent.parent
ZOO = ["squeezenet", "shufflenet", "resnet50", "inception_v1", "densenet121"]
EXTRA = {"tiny_cnn": ROOT / "examples" / "tiny_cnn.onnx", "digits": ROOT / "examples" / "digits" / "digits_cnn.onnx"}
PAUSE_S = 0.2  # onnxruntime's and TVM's pool threads spin-wait after a run; both would slow the other
MIN_BLOCK_S = 0.02
README_BEGIN, README_END = "<!-- bench:latency begin -->", "<!-- bench:latency end -->"


def load_model(name: str) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """The ONNX model and the inputs both runtimes get."""
    from tests.zoo_models import LIGHT, dummy_feeds, graph_inputs, randomize_weights

    if name == "digits":
        from examples.digits.data import load_split

        model = onnx.load(EXTRA[name])
        return model, {graph_inputs(model)[0].name: load_split()[2][:1]}
    if name in EXTRA:
        model = onnx.load(EXTRA[name])
        rng = np.random.default_rng(0)
        feeds = {vi.name: rng.standard_normal([d.dim_value or 1 for d in vi.type.tensor_type.shape.dim])
                 .astype(np.float32) for vi in graph_inputs(model)}
        return model, feeds
    model = randomize_weights(onnx.load(LIGHT / f"light_{name}.onnx"))
    return model, dummy_feeds(model)


def compile_model(name: str, out: Path, quantize=None) -> float:
    """Compile one model into ``out``; returns seconds (import + passes + quantization + build)."""
    from compiler.codegen.build import compile_graph
    from compiler.frontend.onnx import import_onnx
    from compiler.pipeline import CompressOptions, compress

    start = time.perf_counter()
    graph = compress(import_onnx(load_model(name)[0]), CompressOptions(quantize=quantize)).graph
    compile_graph(graph, out, source=name)
    seconds = time.perf_counter() - start
    print(f"compiled {out.name} in {seconds:.1f} s", file=sys.stderr)
    return seconds


def compile_all(names: list[str], out: Path) -> dict[str, float]:
    """Compile each model into ``out/<name>``; returns compile seconds per model."""
    return {name: compile_model(name, out / name) for name in names}


# -- child: one thread count ------------------------------------------------------------------
def percentile(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def time_rounds(runners: dict[str, callable], repeat: int, rounds: int = 5, warmup: int = 3) -> dict[str, list]:
    """Per-run latencies (ms), the runners alternating in ``rounds`` blocks of at least ``repeat /
    rounds`` runs and ``MIN_BLOCK_S`` seconds, with a pause before each (``interleaved_runs``)."""
    return interleaved_runs(runners, rounds, max(1, math.ceil(repeat / rounds)), MIN_BLOCK_S, warmup, PAUSE_S)


def measure(name: str, artifact: Path, threads: int, repeat: int) -> dict:
    import onnxruntime as ort

    import runtime

    model, feeds = load_model(name)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    compiled = runtime.load(artifact)
    ours = compiled.run(feeds)
    theirs = session.run(None, feeds)
    error = max(float(np.max(np.abs(ours[o.name] - t)) / max(float(np.max(np.abs(t))), 1e-12))
                for o, t in zip(compiled.outputs, theirs))
    # Both timed end to end from numpy inputs to numpy outputs (input checks and copies included).
    times = time_rounds({"onnxruntime": lambda: session.run(None, feeds), "edgec": lambda: compiled.run(feeds),
                         **tuned.tuned_runners(artifact, feeds, theirs)}, repeat)
    row = {"model": name, "threads": threads, "max_rel_error": error}
    for label, values in times.items():
        row[label] = {"median_ms": percentile(values, 0.5), "p90_ms": percentile(values, 0.9), "runs": len(values)}
    row["ratio"] = row["edgec"]["median_ms"] / row["onnxruntime"]["median_ms"]
    tuned.finish_row(row)
    return row


def child(args: argparse.Namespace) -> None:
    from bench.latency_int8 import measure_int8

    names = [n for n in args.models.split(",") if n]
    int8 = [n for n in args.int8_models.split(",") if n]
    rows = [measure(name, Path(args.artifacts) / name, args.child, args.repeat) for name in names]
    rows += [measure_int8(name, Path(args.artifacts), args.child, args.repeat) for name in int8]
    json.dump(rows, sys.stdout)


def run_child(names: list[str], int8: list[str], artifacts: Path, threads: int, repeat: int) -> list[dict]:
    env = dict(os.environ, TVM_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, "-m", "bench.latency", "--child", str(threads), "--artifacts", str(artifacts),
           "--models", ",".join(names), "--int8-models", ",".join(int8), "--repeat", str(repeat)]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"benchmark child ({threads} threads) failed:\n{done.stderr}")
    return json.loads(done.stdout)


# -- report -----------------------------------------------------------------------------------
def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def summarize(rows: list[dict], threads: list[int]) -> dict:
    """Geomean and worst edgec/onnxruntime ratio of the float rows, and the thread scaling."""
    rows = [r for r in rows if "ratio" in r]
    summary = {}
    for t in threads:
        zoo = [r["ratio"] for r in rows if r["threads"] == t and r["model"] in ZOO]
        summary[f"geomean_ratio_{t}t"] = geomean(zoo)
        summary[f"max_ratio_{t}t"] = max(zoo) if zoo else float("nan")
    if 1 in threads and 2 in threads:
        by = {(r["model"], r["threads"]): r["edgec"]["median_ms"] for r in rows}
        summary["edgec_2t_over_1t"] = {m: by[(m, 2)] / by[(m, 1)] for m, t in by if t == 1 and (m, 2) in by}
    return summary


def table(rows: list[dict], compile_s: dict[str, float], summary: dict, threads: list[int]) -> str:
    body = [[r["model"], r["threads"], f"{ms(r['onnxruntime']['median_ms'])} ({ms(r['onnxruntime']['p90_ms'])})",
             f"{ms(r['edgec']['median_ms'])} ({ms(r['edgec']['p90_ms'])})", f"{r['ratio']:.2f}",
             f"{compile_s[r['model']]:.1f}"] for r in rows if "ratio" in r]
    for t in threads:
        body.append([f"**geomean, 5 zoo models**", t, "", "", f"**{summary[f'geomean_ratio_{t}t']:.2f}**", ""])
    text = markdown_table(["model", "threads", "onnxruntime ms, median (p90)", "edgec ms, median (p90)",
                           "edgec / onnxruntime", "edgec compile s"], body)
    if "edgec_2t_over_1t" in summary:
        text += "\n\nedgec 2-thread / 1-thread latency: " + ", ".join(
            f"{m} {v:.2f}" for m, v in summary["edgec_2t_over_1t"].items())
    return text


def update_readme(path: Path, results: dict, text: str, command: str, markers=(README_BEGIN, README_END),
                  what: str = "untuned build") -> None:
    """Replace the section between ``markers`` (a new section goes after the float one, or at
    the end of the file)."""
    begin, end = markers
    readme = path.read_text()
    section = (f"{begin}\nMeasured {results['date']} on {results['machine']} with `{command}` "
               f"({what}, batch 1, same inputs; onnxruntime {results['onnxruntime']}, "
               f"TVM {results['tvm']}).\n\n{text}\n{end}")
    if begin in readme:
        start, stop = readme.index(begin), readme.index(end) + len(end)
        readme = readme[:start] + section + readme[stop:]
    elif README_END in readme:
        at = readme.index(README_END) + len(README_END)
        readme = readme[:at] + "\n\n" + section + readme[at:]
    else:
        readme = readme.rstrip() + "\n\n## CPU latency against onnxruntime\n\n" + section + "\n"
    path.write_text(readme)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(ZOO + list(EXTRA)), help="comma-separated model names")
    parser.add_argument("--int8-models", default=",".join(INT8),
                        help="comma-separated models for the int8 rows (empty: none)")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per model, runtime and thread count")
    parser.add_argument("--json", help="also write the JSON here")
    parser.add_argument("--readme", help="replace the results section of this README")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--artifacts", help=argparse.SUPPRESS)
    tuned.add_arguments(parser)
    args = parser.parse_args()
    if args.child:
        return child(args)

    import onnxruntime
    import tvm

    names = [n for n in args.models.split(",") if n]
    int8 = [n for n in args.int8_models.split(",") if n]
    threads = [int(t) for t in args.threads.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        compile_s = compile_all(names, Path(tmp))
        compile_s.update(prepare_int8(int8, Path(tmp), compile_s))
        compile_s.update(tuned.compile_tuned(names, Path(tmp), args.tuning_db))
        rows = [row for t in threads for row in run_child(names, int8, Path(tmp), t, args.repeat)]
    summary = summarize(rows, threads)
    summary.update(summarize_int8(rows, threads))
    results = {"date": datetime.date.today().isoformat(), "machine": machine(), "tvm": tvm.__version__,
               "onnxruntime": onnxruntime.__version__, "repeat": args.repeat, "compile_s": compile_s,
               "summary": summary, "rows": rows}
    text = table(rows, compile_s, summary, threads) if names else ""
    if tuned.table(rows, compile_s):
        text += "\n\n" + tuned.table(rows, compile_s)
    int8_text = table_int8(rows, compile_s) if int8 else ""
    emit(results, "\n\n".join(t for t in (text, int8_text) if t), args.json)
    command = "python -m bench.latency " + " ".join(sys.argv[1:])
    if args.readme and text:
        update_readme(Path(args.readme), results, text, command)
    if args.readme and int8_text:
        update_readme(Path(args.readme), results, int8_text, command, INT8_MARKERS, INT8_WHAT)
    bad = [r["model"] for r in rows if r.get("max_rel_error", 0.0) > 1e-3]
    if bad:
        raise SystemExit(f"edgec's outputs differ from onnxruntime's for: {', '.join(bad)}")


if __name__ == "__main__":
    main()
