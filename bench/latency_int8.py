"""The int8 rows of ``bench/latency.py``: edgec int8 vs edgec fp32 vs onnxruntime int8.

For each model, both quantizers see the same calibration samples: the digits CNN the first 64
training images of ``examples/digits/data.py``, the zoo models (random weights) their dummy
input and a few uniform random images like it. edgec's int8 build is its own post-training
quantization (``compiler/quant``, min-max ranges); onnxruntime's is the QDQ model from
``onnxruntime.quantization.quantize_static`` (per-channel int8 weights, min-max ranges, uint8
activations), after onnxruntime's recommended ``quant_pre_process`` (which folds the zoo
models' batch-norm Mul/Add into the convolutions) and an upgrade to opset 13 (per-channel
DequantizeLinear needs it). That is the fastest variant measured on this AVX-512 VNNI machine
(ResNet-50, 1 thread, one process: u8 activations 51 ms, s8 105 ms, u8 without
pre-processing 77 ms; onnxruntime fp32 139 ms, all under heavy load from other jobs). The three are timed in interleaved rounds in one process, on the
same input, with the same thread count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

INT8 = ["digits", "resnet50", "squeezenet"]
CALIB_SAMPLES = 4       # zoo models: the dummy input and 3 random images like it
DIGITS_SAMPLES = 64
ORT_ACTIVATIONS = "uint8"
INT8_MARKERS = ("<!-- bench:latency-int8 begin -->", "<!-- bench:latency-int8 end -->")
INT8_WHAT = ("int8: edgec PTQ vs onnxruntime QDQ from quantize_static, per-channel int8 weights, "
             f"{ORT_ACTIVATIONS} activations, same calibration samples")


def int8_dir(out: Path, name: str) -> Path:
    return out / f"{name}_int8"


def ort_int8_path(out: Path, name: str) -> Path:
    return out / f"{name}_ort_int8.onnx"


def calibration(name: str, model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """The calibration samples both quantizers get."""
    (input_name, example), = feeds.items()
    if name == "digits":
        from examples.digits.data import load_split

        train = load_split()[0][:DIGITS_SAMPLES]
        return [{input_name: train[i:i + 1]} for i in range(len(train))]
    rng = np.random.default_rng(1)
    return [feeds] + [{input_name: rng.uniform(0, 1, example.shape).astype(np.float32)}
                      for _ in range(CALIB_SAMPLES - 1)]


def quantize_ort(model: onnx.ModelProto, samples: list[dict], path: Path, activations: str = ORT_ACTIVATIONS) -> None:
    """onnxruntime's QDQ int8 model: per-channel QInt8 weights, ``activations`` u/int8."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) < 13:
        model = onnx.version_converter.convert_version(model, 13)
    upgraded, prepared = path.with_suffix(".opset13.onnx"), path.with_suffix(".pre.onnx")
    onnx.save(model, upgraded)
    quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=True)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(samples)

        def get_next(self):
            return next(self.items, None)

    act = QuantType.QUInt8 if activations == "uint8" else QuantType.QInt8
    quantize_static(str(prepared), str(path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=act, weight_type=QuantType.QInt8)


def prepare_int8(names: list[str], out: Path, compiled: dict[str, float]) -> dict[str, float]:
    """edgec int8 (and fp32, unless in ``compiled``) artifacts and onnxruntime's QDQ model for
    each model; returns the compile seconds of the new edgec builds (int8 as ``<name>_int8``)."""
    from bench.latency import compile_model, load_model
    from compiler.quant.ptq import QuantOptions

    seconds = {}
    for name in names:
        model, feeds = load_model(name)
        samples = calibration(name, model, feeds)
        if name not in compiled:
            seconds[name] = compile_model(name, out / name)
        seconds[f"{name}_int8"] = compile_model(name, int8_dir(out, name), QuantOptions(calib=samples))
        quantize_ort(model, samples, ort_int8_path(out, name))
    return seconds


def measure_int8(name: str, out: Path, threads: int, repeat: int) -> dict:
    """One int8 row: the three timed interleaved; int8 output error relative to fp32's range."""
    import onnxruntime as ort

    import runtime
    from bench.latency import load_model, percentile, time_rounds

    _, feeds = load_model(name)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(ort_int8_path(out, name)), options, providers=["CPUExecutionProvider"])
    int8, fp32 = runtime.load(int8_dir(out, name)), runtime.load(out / name)
    want = fp32.run(feeds)
    ours, theirs = int8.run(feeds), dict(zip((o.name for o in session.get_outputs()), session.run(None, feeds)))

    def error(got: dict) -> float:
        return max(float(np.max(np.abs(got[k] - v)) / max(float(np.max(np.abs(v))), 1e-12)) for k, v in want.items())

    times = time_rounds({"edgec_int8": lambda: int8.run(feeds), "edgec_fp32": lambda: fp32.run(feeds),
                         "onnxruntime_int8": lambda: session.run(None, feeds)}, repeat)
    row = {"model": name, "threads": threads, "kind": "int8", "ort_activations": ORT_ACTIVATIONS,
           "int8_rel_error": {"edgec": error(ours), "onnxruntime": error(theirs)}}
    for label, values in times.items():
        row[label] = {"median_ms": percentile(values, 0.5), "p90_ms": percentile(values, 0.9), "runs": len(values)}
    row["int8_over_fp32"] = row["edgec_int8"]["median_ms"] / row["edgec_fp32"]["median_ms"]
    row["int8_over_ort_int8"] = row["edgec_int8"]["median_ms"] / row["onnxruntime_int8"]["median_ms"]
    return row


def summarize_int8(rows: list[dict], threads: list[int]) -> dict:
    return {f"int8_{t}t": {r["model"]: {"int8_over_fp32": r["int8_over_fp32"],
                                        "int8_over_ort_int8": r["int8_over_ort_int8"]}
                           for r in rows if r.get("kind") == "int8" and r["threads"] == t} for t in threads}


def table_int8(rows: list[dict], compile_s: dict[str, float]) -> str:
    from bench.common import markdown_table, ms

    def cell(r: dict, label: str) -> str:
        return f"{ms(r[label]['median_ms'])} ({ms(r[label]['p90_ms'])})"

    body = [[r["model"], r["threads"], cell(r, "edgec_int8"), cell(r, "edgec_fp32"), cell(r, "onnxruntime_int8"),
             f"{r['int8_over_fp32']:.2f}", f"{r['int8_over_ort_int8']:.2f}", f"{compile_s[r['model'] + '_int8']:.1f}"]
            for r in rows if r.get("kind") == "int8"]
    return markdown_table(["model", "threads", "edgec int8 ms, median (p90)", "edgec fp32 ms", "onnxruntime int8 ms",
                           "edgec int8 / fp32", "edgec int8 / onnxruntime int8", "int8 PTQ + compile s"], body)
