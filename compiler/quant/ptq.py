"""Post-training quantization from end to end: prepare, calibrate, quantize, report.

This is what ``edgec compile/compress --quantize int8 --calib DATA`` runs after layer merging.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from ..ir.graph import Graph
from .bias_correction import correct_bias
from .calibrate import calibrate
from .equalize import equalize
from .mixed_precision import choose_keep_float
from .prepare import prepare
from .quantize import QuantConfig, Quantized, quantize
from .report import sqnr_report


@dataclass
class QuantOptions:
    dtype: str = "int8"                  # activations: int8 or uint8 (weights are always int8)
    calib: Any = None                    # calibration data: .npz / .npy / folder / iterable of feeds
    method: str = "minmax"               # activation range method
    percentile: float = 99.99            # for method "percentile"
    keep_float: tuple[str, ...] = ()     # layers to keep in float, or ("auto",) for mixed precision
    sqnr_target_db: float = 30.0         # what "auto" aims for (output SQNR)
    bias_correction: bool = False        # correct each layer's mean output error
    equalize: bool = False               # cross-layer equalization before calibration
    pools_as_convs: bool = False         # unpadded average pools as depthwise convs (own output grid)
    limit: int | None = 512              # at most this many calibration samples
    report_samples: int = 64             # samples used for the SQNR report


@dataclass
class QuantResult:
    graph: Graph
    report: dict = field(default_factory=dict)


def load_samples(graph: Graph, source: Any, limit: int | None) -> list[dict]:
    from .calib_data import iter_samples

    if source is None:
        raise UsageError("quantization needs calibration data: --calib FILE.npz|FILE.npy|DIR")
    return list(iter_samples(source, {n: graph.types[n] for n in graph.inputs}, limit))


def weight_bytes(graph: Graph) -> int:
    """Bytes of the layers' weight tensors (input 1 of conv/dense layers, float or int8)."""
    names = {n.inputs[1] for n in graph.nodes if n.op in ("conv", "dense", "qconv", "qdense", "matmul")}
    return sum(int(graph.constants[n].nbytes) for n in names if n in graph.constants)


def post_training_quantize(graph: Graph, options: QuantOptions) -> QuantResult:
    samples = load_samples(graph, options.calib, options.limit)
    report_samples = samples[:options.report_samples]
    prepared = prepare(graph, options.pools_as_convs)
    if options.equalize:
        prepared = equalize(prepared).graph
    ranges = calibrate(prepared, samples, options.method, options.percentile)
    keep, history = list(options.keep_float), None
    if keep == ["auto"]:
        keep, history = choose_keep_float(prepared, ranges, report_samples, options.dtype, options.sqnr_target_db)
    result = quantize(prepared, ranges, QuantConfig(options.dtype, frozenset(keep)))
    corrected = 0
    if options.bias_correction:
        graph_q, corrected = correct_bias(prepared, result.graph, result.quantized_of, report_samples)
        result = Quantized(graph_q, result.quantized_of, result.counts)
    sqnr = sqnr_report(prepared, result.graph, result.quantized_of, report_samples)
    layers = []
    for node in result.graph.nodes:
        if node.op in ("qconv", "qdense", "qadd", "qmul", "lut", "qavg_pool", "concat", "requantize"):
            original = node.outputs[0].removesuffix("_q")
            layers.append({"layer": node.name, "op": node.op, "value": original,
                           "scale": node.attrs.get("out_scale"), "zero_point": node.attrs.get("out_zp"),
                           "sqnr_db": sqnr["layers"].get(original)})
    kept = [{"layer": n.name, "op": n.op} for n in prepared.nodes
            if n.name in keep or any(o in keep for o in n.outputs)]
    report = {"dtype": options.dtype, "method": options.method, "calibration_samples": len(samples),
              "param_bytes_before": graph.param_bytes(), "param_bytes_after": result.graph.param_bytes(),
              "weight_bytes_before": weight_bytes(graph), "weight_bytes_after": weight_bytes(result.graph),
              "output_sqnr_db": sqnr["outputs"], "layers": layers, "kept_float": kept, "op_counts": result.counts,
              "mixed_precision": history, "bias_corrected_layers": corrected, "equalized": options.equalize}
    return QuantResult(result.graph, report)
