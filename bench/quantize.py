"""Integer quantization, measured: accuracy, size, SQNR against onnxruntime's quantizer, latency.

1. Digits CNN (examples/digits, real handwritten digits): float vs int8 top-1 on the test split,
   weight bytes, and how often the two agree.
2. Against a peer in the same run: onnxruntime's ``quantize_static`` (QDQ, per-channel int8
   weights, int8 activations, MinMax calibration) and edgec (minmax) on the same calibration
   data, output SQNR of each against its own float model, for the digits CNN and zoo
   architectures with random weights (their probabilities, and their logits: random weights
   saturate the softmax).
3. The four MLPerf Tiny models: the official int8 models and edgec's int8 build of the float
   models, each against the float model (top-1 agreement, output SQNR), on the same inputs
   (``bench/mlperf_inputs.py``: photos for the vision models), disjoint from edgec's
   calibration inputs, for two independent draws (splits) of calibration and evaluation data.
4. Latency of the TVM builds, int8 over float (same process, same input).

    python -m bench.quantize [--parts digits,peers,latency,mlperf] [--zoo squeezenet,shufflenet]
                             [--mlperf ic_resnet8,...] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime
import os
import tempfile

import numpy as np
import onnx
from onnx import version_converter

from bench.common import emit, machine, markdown_table
from compiler.frontend.onnx import import_onnx
from compiler.ir import interpreter
from compiler.pipeline import compress
from compiler.quant.ptq import QuantOptions, post_training_quantize, weight_bytes
from compiler.quant.report import sqnr_db
from tests.oracle import run_ort

DIGITS = "examples/digits/digits_cnn.onnx"


def sqnr(reference: list[np.ndarray], test: list[np.ndarray]) -> float:
    ref = np.concatenate([r.reshape(-1) for r in reference]).astype(np.float64)
    got = np.concatenate([t.reshape(-1) for t in test]).astype(np.float64)
    return sqnr_db(float(np.sum(ref ** 2)), float(np.sum((ref - got) ** 2)))


def ort_quantized(model: onnx.ModelProto, samples: list[dict], tmp: str) -> onnx.ModelProto:
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(samples)

        def get_next(self):
            return next(self.items, None)

        def rewind(self):
            self.items = iter(samples)

    src, dst = os.path.join(tmp, "float.onnx"), os.path.join(tmp, "int8.onnx")
    onnx.save(model, src)
    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    return onnx.load(dst)


def edgec_int8(model: onnx.ModelProto, samples: list[dict], **options):
    graph = compress(import_onnx(model)).graph
    return graph, post_training_quantize(graph, QuantOptions(calib=samples, **options))


def digits_rows(calib_count: int) -> tuple[dict, dict]:
    from examples.digits.data import load_split

    xtr, _, xte, yte = load_split()
    calib = [{"input": xtr[i:i + 1]} for i in range(calib_count)]
    float_graph, q = edgec_int8(onnx.load(DIGITS), calib)
    preds = {}
    for label, graph in (("float", float_graph), ("int8", q.graph)):
        preds[label] = np.array([int(np.argmax(interpreter.run(graph, {"input": xte[i:i + 1]})["logits"]))
                                 for i in range(len(xte))])
    accuracy = {label: float(np.mean(p == yte)) for label, p in preds.items()}
    row = {"model": "digits_cnn", "test_images": len(xte), "float_top1": accuracy["float"],
           "int8_top1": accuracy["int8"], "drop_points": 100 * (accuracy["float"] - accuracy["int8"]),
           "agreement": float(np.mean(preds["float"] == preds["int8"])),
           "weight_bytes_float": weight_bytes(float_graph), "weight_bytes_int8": weight_bytes(q.graph),
           "weights_smaller": weight_bytes(float_graph) / weight_bytes(q.graph),
           "output_sqnr_db": q.report["output_sqnr_db"]}
    return row, {"graph_float": float_graph, "graph_int8": q.graph, "feed": {"input": xte[:1]}}


def peer_row(name: str, model: onnx.ModelProto, calib: list[dict], evaluate: list[dict], tmp: str) -> dict:
    float_out = [run_ort(model, s)[0] for s in evaluate]
    ort_model = ort_quantized(model, calib, tmp)
    ort_out = [run_ort(ort_model, s)[0] for s in evaluate]
    _, q = edgec_int8(model, calib)
    ours = [interpreter.run(q.graph, s)[q.graph.outputs[0]] for s in evaluate]
    return {"model": name, "calibration_samples": len(calib), "eval_samples": len(evaluate),
            "onnxruntime_sqnr_db": sqnr(float_out, ort_out), "edgec_sqnr_db": sqnr(float_out, ours)}


def latency_row(name: str, float_graph, int8_graph, feed, repeat: int) -> dict:
    import runtime
    from compiler.codegen.build import compile_graph

    from bench.latency import time_rounds

    with tempfile.TemporaryDirectory() as tmp:
        models = {}
        for label, graph in (("float", float_graph), ("int8", int8_graph)):
            compile_graph(graph, f"{tmp}/{label}")
            models[label] = runtime.load(f"{tmp}/{label}")
        # the two builds alternate in rounds, so load from other jobs hits both alike
        runs = time_rounds({label: (lambda m=m: m.run(feed)) for label, m in models.items()}, repeat)
    times = {label: float(np.median(values)) for label, values in runs.items()}
    return {"model": name, "float_ms": times["float"], "int8_ms": times["int8"],
            "int8_over_float": times["int8"] / times["float"]}


# edgec's options per MLPerf Tiny model (chosen on calibration data; the evaluation splits are disjoint)
MLPERF_OPTIONS = {
    "ic_resnet8": {"method": "minmax", "bias_correction": True, "pools_as_convs": True},
    "kws_dscnn": {"method": "minmax"},
    "vww_mobilenetv1": {"method": "percentile", "bias_correction": True, "pools_as_convs": True},
    "ad_autoencoder": {"method": "minmax"},
}


def options_label(options: dict) -> str:
    return " + ".join([options["method"]] + [k.replace("_", " ") for k, v in options.items() if v is True])


def mlperf_row(name: str, calib_count: int, eval_count: int, split: int) -> dict:
    """The official int8 model and edgec's int8 build of the float model, each against the float model.

    Split ``k`` draws its own inputs (seed ``k``): the first ``calib_count`` calibrate edgec, the
    next ``eval_count`` (disjoint) evaluate both int8 models.
    """
    from bench import mlperf_inputs as mi

    fmodel, qmodel = onnx.load(mi.SHARED / f"{name}_fp32.onnx"), onnx.load(mi.SHARED / f"{name}_int8_qdq.onnx")
    (in_s, in_zp), (out_s, out_zp) = mi.io_qparams(qmodel)
    data, source = mi.inputs(name, calib_count + eval_count, seed=split)
    fin, qin = fmodel.graph.input[0].name, qmodel.graph.input[0].name
    calib = [{fin: x} for x in data[:calib_count]]
    evaluate = data[calib_count:]
    reference = [run_ort(fmodel, {fin: x})[0] for x in evaluate]
    official = []
    for x in evaluate:
        q = np.clip(np.rint(x / in_s) + in_zp, -128, 127).astype(np.int8)
        official.append((run_ort(qmodel, {qin: q})[0].astype(np.float32) - out_zp) * out_s)
    graph = compress(import_onnx(fmodel, input_shapes={fin: evaluate.shape[1:]})).graph
    options = MLPERF_OPTIONS.get(name, {"method": "minmax"})
    ours_q = post_training_quantize(graph, QuantOptions(calib=calib, **options))
    ours = [interpreter.run(ours_q.graph, {fin: x})[graph.outputs[0]] for x in evaluate]
    kept = ours_q.report["kept_float"]
    row = {"model": name, "split": split, "inputs": source, "calibration_samples": calib_count,
           "eval_samples": eval_count, "edgec_options": options_label(options), "edgec_kept_float": kept,
           "edgec_float_ops": {k: v for k, v in ours_q.report["op_counts"].items() if k.startswith("float ")},
           "official_sqnr_db": sqnr(reference, official), "edgec_sqnr_db": sqnr(reference, ours)}
    if name != "ad_autoencoder":  # classifiers: does the int8 model pick the float model's class?
        top = [int(np.argmax(r)) for r in reference]
        row["official_top1_agreement"] = float(np.mean([int(np.argmax(o)) == t for o, t in zip(official, top)]))
        row["edgec_top1_agreement"] = float(np.mean([int(np.argmax(o)) == t for o, t in zip(ours, top)]))
    return row


def without_softmax(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model up to its final Softmax: its output becomes the logits."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    last = model.graph.node[-1]
    if last.op_type == "Softmax" and last.output[0] == model.graph.output[0].name:
        model.graph.node.remove(last)
        output = model.graph.output[0]
        output.name = last.input[0]
        output.type.tensor_type.ClearField("shape")
    return model


def zoo_inputs(model: onnx.ModelProto, count: int, seed: int) -> list[dict]:
    from tests.zoo_models import dummy_feeds

    base = dummy_feeds(model)
    rng = np.random.default_rng(seed)
    return [{k: rng.standard_normal(v.shape).astype(np.float32) for k, v in base.items()} for _ in range(count)]


def zoo_model(name: str, logits: bool = False) -> onnx.ModelProto:
    """Zoo model ``name`` with random weights (the same for both outputs), its probabilities or logits."""
    from tests.zoo_models import LIGHT, randomize_weights

    model = randomize_weights(onnx.load(LIGHT / f"light_{name}.onnx"))
    del model.graph.output[1:]  # the probabilities only
    if logits:
        model = without_softmax(model)
    # onnxruntime's quantizer needs opset >= 11 and its result fails to load from these opset-9
    # models; both quantizers get the same opset-13 model (converted after cutting the softmax,
    # which the converter wraps in reshapes)
    return version_converter.convert_version(model, 13)


def peer_rows(args) -> tuple[list[dict], dict]:
    from examples.digits.data import load_split

    xtr, _, xte, _ = load_split()
    peers, zoo = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        peers.append(peer_row("digits_cnn", onnx.load(DIGITS), [{"input": xtr[i:i + 1]} for i in range(args.calib)],
                              [{"input": xte[i:i + 1]} for i in range(100)], tmp))
        for name in [z for z in args.zoo.split(",") if z]:
            model = zoo_model(name)
            calib, evaluate = zoo_inputs(model, args.zoo_calib, 1), zoo_inputs(model, args.zoo_eval, 2)
            peers.append(peer_row(f"{name} (probabilities)", model, calib, evaluate, tmp))
            # with random weights the softmax saturates (near one-hot), which hides the logits' error
            peers.append(peer_row(f"{name} (logits)", zoo_model(name, logits=True), calib, evaluate, tmp))
            zoo[name] = (model, calib, evaluate[0])
    return peers, zoo


def agreement(row: dict, who: str) -> str:
    value = row.get(f"{who}_top1_agreement")
    return "—" if value is None else f"{value:.3f}"  # the autoencoder has no classes


def tables(digits, peers, latency, mlperf) -> str:
    parts = []
    if digits:
        parts.append(markdown_table(
            ["digits CNN (test split)", "float top-1", "int8 top-1", "drop (points)", "agreement",
             "weights float → int8"],
            [["edgec", f"{digits['float_top1']:.4f}", f"{digits['int8_top1']:.4f}", f"{digits['drop_points']:.2f}",
              f"{digits['agreement']:.4f}", f"{digits['weight_bytes_float']:,} → {digits['weight_bytes_int8']:,} B "
              f"({digits['weights_smaller']:.2f}x)"]]))
    if peers:
        parts.append(markdown_table(["model", "onnxruntime quantize_static SQNR (dB)", "edgec SQNR (dB)"],
                                    [[p["model"], f"{p['onnxruntime_sqnr_db']:.1f}", f"{p['edgec_sqnr_db']:.1f}"]
                                     for p in peers]))
    if latency:
        parts.append(markdown_table(["model", "TVM float (ms)", "TVM int8 (ms)", "int8 / float"],
                                    [[r["model"], f"{r['float_ms']:.3f}", f"{r['int8_ms']:.3f}",
                                      f"{r['int8_over_float']:.2f}"] for r in latency]))
    if mlperf:
        parts.append(markdown_table(
            ["MLPerf Tiny model", "split", "inputs", "official int8: top-1 agreement", "official int8: SQNR (dB)",
             "edgec int8: top-1 agreement", "edgec int8: SQNR (dB)", "edgec options"],
            [[r["model"], r["split"], r["inputs"], agreement(r, "official"),
              f"{r['official_sqnr_db']:.1f}", agreement(r, "edgec"),
              f"{r['edgec_sqnr_db']:.1f}", r["edgec_options"] + (f"; float: {r['edgec_kept_float']}"
                                                                  if r["edgec_kept_float"] else "")]
             for r in mlperf]))
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="digits,peers,latency,mlperf", help="which measurements to run")
    parser.add_argument("--zoo", default="squeezenet,shufflenet", help="zoo architectures for the peer comparison")
    parser.add_argument("--calib", type=int, default=256, help="digits calibration images (train split)")
    parser.add_argument("--zoo-calib", type=int, default=8, help="zoo calibration samples")
    parser.add_argument("--zoo-eval", type=int, default=8, help="zoo evaluation samples (other random draws)")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--mlperf", default="ic_resnet8,kws_dscnn,vww_mobilenetv1,ad_autoencoder",
                        help="MLPerf Tiny models for the official-int8 comparison ('' to skip)")
    parser.add_argument("--mlperf-calib", type=int, default=256, help="calibration inputs per split")
    parser.add_argument("--mlperf-eval", type=int, default=512, help="evaluation inputs per split (disjoint)")
    parser.add_argument("--mlperf-splits", type=int, default=2, help="independent calibration/evaluation draws")
    parser.add_argument("--json")
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    digits, built = digits_rows(args.calib) if parts & {"digits", "latency"} else (None, None)
    peers, zoo = peer_rows(args) if "peers" in parts else ([], {})
    latency = []
    if "latency" in parts:
        latency.append(latency_row("digits_cnn", built["graph_float"], built["graph_int8"], built["feed"],
                                   args.repeat))
        for name in [z for z in args.zoo.split(",") if z][:1]:
            if name not in zoo:
                model = zoo_model(name)
                zoo[name] = (model, zoo_inputs(model, args.zoo_calib, 1), zoo_inputs(model, 1, 2)[0])
            model, calib, feed = zoo[name]
            float_graph, q = edgec_int8(model, calib)
            latency.append(latency_row(name, float_graph, q.graph, feed, max(3, args.repeat // 10)))
    mlperf = [mlperf_row(m, args.mlperf_calib, args.mlperf_eval, split) for m in args.mlperf.split(",") if m
              for split in range(args.mlperf_splits)] if "mlperf" in parts else []
    results = {"date": datetime.date.today().isoformat(), "machine": machine(),
               "digits": digits if "digits" in parts else None, "peer_sqnr": peers, "mlperf": mlperf,
               "latency": latency}
    emit(results, tables(results["digits"], peers, latency, mlperf), args.json)


if __name__ == "__main__":
    main()
