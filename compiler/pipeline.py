"""The whole compiler, top to bottom: import -> compression passes -> TVM build.

The CLI and the Python API both go through here, so ``edgec compile`` and
``compile_model(...)`` do exactly the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from .ir.graph import Graph
from .passes import PipelineResult, run_passes, select_passes
from .prune.api import PruneOptions
from .quant.ptq import QuantOptions


@dataclass
class CompressOptions:
    merge: bool = True                    # run the layer-merging pipeline
    passes: Sequence[str] | None = None   # an explicit pass list instead of the default pipeline
    verify_each: bool = False             # verify the IR after every pass (tests, --debug)
    dump_dir: str | Path | None = None    # write NNN_<pass>.ir files here
    prune: PruneOptions | None = None     # structured channel pruning after merging, before quantization
    quantize: QuantOptions | None = None  # post-training integer quantization after merging


@dataclass
class Compressed:
    graph: Graph
    original: Graph
    records: list = field(default_factory=list)
    quant_report: dict | None = None
    prune_report: dict | None = None

    def report(self) -> list[dict]:
        passes = [r.as_dict() for r in self.records]
        if self.prune_report is not None:
            p = self.prune_report
            passes.append({"pass": f"prune-{p['criterion']}", "macs": p["totals"]["macs"],
                           "params": p["totals"]["params"], "groups_pruned": p["groups_pruned"]})
        if self.quant_report is not None:
            q = self.quant_report
            passes.append({"pass": f"quantize-{q['dtype']}", "changes": q["op_counts"],
                           "param_bytes": [q["param_bytes_before"], q["param_bytes_after"]],
                           "output_sqnr_db": q["output_sqnr_db"]})
        return passes


def load(model: str | Path, input_shapes: Mapping[str, Sequence[int]] | None = None,
         notices: list[str] | None = None) -> Graph:
    from .frontend.onnx import import_onnx

    return import_onnx(model, input_shapes=input_shapes, notices=notices)


def compress(graph: Graph, options: CompressOptions | None = None) -> Compressed:
    """Run the selected graph passes; the input graph is left as it was."""
    options = options or CompressOptions()
    passes = select_passes(options.passes) if (options.merge or options.passes) else []
    prune_options = _with_bn_scales(graph, options.prune)
    result = PipelineResult(graph)
    if passes:
        result = run_passes(graph, passes, verify_each=options.verify_each, dump_dir=options.dump_dir)
    compressed = Compressed(result.graph, graph, result.records)
    if prune_options is not None:
        from .prune import prune

        pruned = prune(compressed.graph, prune_options)
        compressed.graph, compressed.prune_report = pruned.graph, pruned.report
    if options.quantize is None:
        return compressed
    from .quant.ptq import post_training_quantize

    quantized = post_training_quantize(compressed.graph, options.quantize)
    if options.verify_each:
        from .ir.verify import verify

        verify(quantized.graph)
    compressed.graph, compressed.quant_report = quantized.graph, quantized.report
    return compressed


def _with_bn_scales(graph: Graph, options: PruneOptions | None) -> PruneOptions | None:
    """The ``bn`` criterion reads batch-norm scales here, before merging folds them away."""
    if options is None or options.criterion != "bn" or options.bn_scales is not None:
        return options
    from dataclasses import replace

    from .prune.criteria import bn_gammas

    return replace(options, bn_scales=bn_gammas(graph))


def compile_model(model: str | Path, out_dir: str | Path, target: str = "host",
                  options: CompressOptions | None = None,
                  input_shapes: Mapping[str, Sequence[int]] | None = None, notices: list[str] | None = None):
    """ONNX file -> artifact directory; returns the codegen's ``BuildResult``."""
    from .codegen.build import compile_graph
    from .util.atomic import check_replaceable

    check_replaceable(out_dir)  # refuse a bad -o before any work
    compressed = compress(load(model, input_shapes, notices), options)
    return compile_graph(compressed.graph, out_dir, target, passes=compressed.report(), source=str(model))
