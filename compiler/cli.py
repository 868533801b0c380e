"""The ``edgec`` command line: compile, run, bench, inspect, targets.

``main`` turns every failure into an exit code and one line on stderr: 0 ok, 1 for an
``EdgecError`` (the message names the file, node or tensor) or an unexpected crash, 2 for
usage errors, 130 for Ctrl-C. ``--debug`` re-raises instead, to show the traceback. TVM is
imported only by the commands that compile or execute, so ``--help`` and ``inspect`` start fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

from . import __version__
from . import cli_format as fmt
from .cli_rpc import add_remote_options, add_server_commands
from .cli_run import add_board_options, cmd_bench, cmd_run
from .cli_tune import add_tune_command
from .errors import EdgecError, UsageError

if TYPE_CHECKING:
    from .ir.graph import Graph


# -- commands -------------------------------------------------------------------------------
def import_model(path: str, shape_specs: Sequence[str]) -> Graph:
    """ONNX file -> verified IR graph; import notices go to stderr, one line each."""
    from .frontend.onnx import import_onnx, parse_input_shapes

    notices: list[str] = []
    graph = import_onnx(path, input_shapes=parse_input_shapes(shape_specs), notices=notices)
    for message in notices:
        fmt.note(message)
    return graph


def compress_options(args: argparse.Namespace, merge: bool):
    from .pipeline import CompressOptions
    from .quant.ptq import QuantOptions

    passes = [p for p in args.passes.split(",") if p] if args.passes else None
    quant = None
    if args.quantize:
        keep = tuple(k for k in (args.keep_float or "").split(",") if k)
        quant = QuantOptions(dtype=args.quantize, calib=args.calib, method=args.calib_method, keep_float=keep,
                             limit=args.calib_limit, sqnr_target_db=args.sqnr_target,
                             bias_correction=args.bias_correction, equalize=args.equalize,
                             percentile=args.calib_percentile, pools_as_convs=args.pools_as_convs)
    elif args.keep_float or (args.calib and not wants_pruning(args)):
        raise UsageError("--calib and --keep-float only apply with --quantize int8|uint8 (--calib also with --prune)")
    return CompressOptions(merge=merge, passes=passes, verify_each=bool(args.debug), dump_dir=args.dump_ir,
                           quantize=quant, prune=prune_options(args))


def wants_pruning(args: argparse.Namespace) -> bool:
    return any(v is not None for v in (args.prune, args.prune_params, args.prune_ratios))


def prune_options(args: argparse.Namespace):
    """PruneOptions from --prune/--prune-params/--prune-ratios (None without them)."""
    if not wants_pruning(args):
        return None
    from .prune import PruneOptions, channel_multiple_for

    ratios = {}
    for item in (args.prune_ratios or "").split(","):
        name, sep, value = item.rpartition("=")
        if item and (not sep or not name):
            raise UsageError(f"--prune-ratios: '{item}' is not NAME=RATIO")
        if item:
            try:
                ratios[name] = float(value)
            except ValueError:
                raise UsageError(f"--prune-ratios: '{value}' is not a number (in '{item}')") from None
    uniform = ratios.pop("*", None)
    multiple = args.channel_multiple or channel_multiple_for(getattr(args, "target_spec", None))
    return PruneOptions(macs=args.prune, params=args.prune_params, ratio=uniform, layer_ratios=ratios,
                        criterion=args.prune_criterion, channel_multiple=multiple, reconstruct=not args.no_reconstruct,
                        calib=args.calib, limit=args.calib_limit)


def list_passes() -> int:
    from .passes import MERGE_PIPELINE

    print(fmt.table(["pass", "what it does"], [(p.name, p.doc) for p in MERGE_PIPELINE]))
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    if args.passes == "list":
        return list_passes()
    from .codegen.build import compile_graph
    from .pipeline import compress
    from .util.atomic import check_replaceable

    start = time.perf_counter()
    check_replaceable(args.output)
    target = resolve_target(args)  # unknown target, bad board file, missing cross compiler: fail before the work
    args.target_spec = target  # pruning rounds channel counts to this target's vector width
    compressed = compress(import_model(args.model, args.input_shape), compress_options(args, not args.no_merge))
    result = compile_graph(compressed.graph, args.output, target, passes=compressed.report(), source=args.model,
                           schedule=not args.no_schedule, tuning_db=args.tuning_db, executor=args.executor)
    m = result.manifest
    print(f"compiled {args.model} -> {result.path} (target {target.name}) in {time.perf_counter() - start:.2f} s")
    print(f"  inputs:  {', '.join(fmt.spec(t) for t in m['inputs'])}")
    print(f"  outputs: {', '.join(fmt.spec(t) for t in m['outputs'])}")
    print(f"  params:  {fmt.count(m['params'])} ({fmt.size(m['param_bytes'])})   MACs: {fmt.count(m['macs'])}")
    if m.get("tuning"):
        from .codegen.tuning import ApplyReport

        print(f"  tuning:  {ApplyReport(**m['tuning']).summary()}")
    if m.get("executor"):
        print(f"  executor: {fmt.executor(m['executor'])}")
    if m.get("memory"):
        print(fmt.memory_summary(m["memory"]))
    if args.report:
        print_pass_report(compressed)
        if m.get("memory"):
            print("\n" + fmt.memory_table(m["memory"]))
    return 0


def cmd_compress(args: argparse.Namespace) -> int:
    if args.passes == "list":
        return list_passes()
    if not (args.merge or args.passes or args.quantize or wants_pruning(args)):
        raise UsageError("nothing to do: choose a compression (--merge, --quantize int8, --prune 0.5, "
                         "or --passes P1,P2)")
    if not args.output.endswith(".onnx"):
        raise UsageError(f"-o {args.output}: the compressed model is written as ONNX; name it *.onnx")
    from .export import save_onnx
    from .pipeline import compress

    if os.path.exists(args.output) and os.path.samefile(args.output, args.model):
        raise UsageError(f"-o {args.output} is the input model; edgec never overwrites its input")
    check_replaceable_file(args.output)
    compressed = compress(import_model(args.model, args.input_shape), compress_options(args, args.merge))
    save_onnx(compressed.graph, args.output)
    before, after = compressed.original, compressed.graph
    print(f"wrote {args.output}: {len(before.nodes)} -> {len(after.nodes)} nodes, "
          f"{fmt.size(before.param_bytes())} -> {fmt.size(after.param_bytes())} of parameters")
    if args.report:
        print_pass_report(compressed)
    return 0


def check_replaceable_file(path: str) -> None:
    """An existing -o file is replaced only if it is an ONNX model (an earlier output)."""
    if os.path.isdir(path):
        raise EdgecError(f"output {path} is a directory; give a file name ending in .onnx")


def print_pass_report(compressed) -> None:
    rows = [(r.name, f"{r.nodes_before} -> {r.nodes_after}", fmt.size(r.param_bytes_after),
             ", ".join(f"{k}={v}" for k, v in r.changes.items() if v) or "-") for r in compressed.records]
    if rows:
        print("\npasses:")
        print(fmt.table(["pass", "nodes", "params after", "changes"], rows))
    if compressed.prune_report is not None:
        from .prune.report import format_report

        print("\n" + format_report(compressed.prune_report))
    q = compressed.quant_report
    if q is None:
        return
    print(f"\nquantization ({q['dtype']}, {q['method']} ranges, {q['calibration_samples']} calibration samples):")
    rows = [(layer["layer"], layer["op"], f"{layer['scale']:.4g}" if layer["scale"] else "-",
             "-" if layer["sqnr_db"] is None else f"{layer['sqnr_db']:.1f}") for layer in q["layers"]]
    rows += [(k["layer"], k["op"], "float (kept)", "-") for k in q["kept_float"]]
    print(fmt.table(["layer", "op", "scale", "SQNR dB"], rows))
    print(f"weights: {fmt.size(q['weight_bytes_before'])} -> {fmt.size(q['weight_bytes_after'])} "
          f"({q['weight_bytes_before'] / max(q['weight_bytes_after'], 1):.2f}x smaller); all parameters "
          f"{fmt.size(q['param_bytes_before'])} -> {fmt.size(q['param_bytes_after'])}")
    print("output SQNR: " + ", ".join(f"{name} {db:.1f} dB" for name, db in q["output_sqnr_db"].items()))


def cmd_inspect(args: argparse.Namespace) -> int:
    from .ir.printer import format_graph
    from .ir.stats import model_stats, tensor_specs

    graph = import_model(args.model, args.input_shape)
    stats = model_stats(graph)
    report = {"model": args.model, "name": graph.name, "inputs": tensor_specs(graph, graph.inputs),
              "outputs": tensor_specs(graph, graph.outputs), **stats}
    if args.json:
        if args.ir:
            report["ir"] = format_graph(graph)
        print(json.dumps(report))
    elif args.ir:
        print(format_graph(graph), end="")
    else:
        print_inspect(report)
    return 0


def print_inspect(report: dict[str, Any]) -> None:
    print(f"model {report['model']} (graph '{report['name']}')")
    print(f"  inputs:  {', '.join(fmt.spec(t) for t in report['inputs'])}")
    print(f"  outputs: {', '.join(fmt.spec(t) for t in report['outputs'])}\n")
    rows = [(layer["name"], layer["op"], "x".join(map(str, layer["output_shape"])) or "scalar",
             f"{layer['params']:,}", f"{layer['macs']:,}") for layer in report["layers"]]
    print(fmt.table(["layer", "op", "output", "params", "MACs"], rows, right=[3, 4]))
    print(f"\ntotal: {report['macs']:,} MACs ({fmt.count(report['macs'])}), {report['params']:,} params "
          f"({fmt.size(report['param_bytes'])})")
    print("ops:   " + ", ".join(f"{op} x{n}" for op, n in report["op_counts"].items()))


def resolve_target(args: argparse.Namespace):
    """--target NAME among the built-ins and the --target-file boards; a file's only target by default."""
    from targets import get_target, load_target_files
    from targets.toolchain import require_toolchain

    extra = load_target_files(args.target_file)
    if args.target is None and len(extra) > 1:
        raise UsageError(f"--target-file defines {len(extra)} targets ({', '.join(t.name for t in extra)}); "
                         "choose one with --target")
    spec = get_target(args.target or (extra[0].name if extra else "host"), extra)
    from .codegen.aot import is_aot_target

    if not is_aot_target(spec):  # C targets check their compiler when they build
        require_toolchain(spec)
    return spec


def cmd_targets(args: argparse.Namespace) -> int:
    from targets import all_targets, load_target_files

    known = all_targets(load_target_files(args.target_file)).values()
    if args.json:
        print(json.dumps([{"name": t.name, "description": t.description, "tvm": t.tvm, "host": t.host,
                           "arch": t.arch, "device": t.device, "runner": t.runner, "compiler": t.linker()[0],
                           "toolchain": t.linker()[1], "features": list(t.features), "runs_here": t.runs_on_host,
                           "source": t.source} for t in known]))
        return 0
    rows = [(t.name, t.device, t.runner, "yes" if t.runs_on_host else "no", t.description) for t in known]
    print(fmt.table(["target", "device", "runner", "runs here", "description"], rows))
    return 0


# -- parser ---------------------------------------------------------------------------------
def _count_arg(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for dist in ("apache-tvm", "onnx"):
        try:
            parts.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            pass
    return f"edgec {__version__}" + (f" ({', '.join(parts)})" if parts else "")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgec", description="Compile ONNX models to small, fast code with Apache TVM, then run and "
                                  "benchmark them.",
        epilog="exit codes: 0 ok, 1 error (one line on stderr), 2 usage error, 130 interrupted. "
               "Run 'edgec COMMAND --help' for each command.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    parser.add_argument("--version", action="version", version=_version())
    # Sub-commands accept --debug too; SUPPRESS keeps them from resetting the global one.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback on errors")
    shapes = argparse.ArgumentParser(add_help=False)
    shapes.add_argument("--input-shape", action="append", default=[], metavar="NAME=D1,D2,...",
                        help="fix the shape of an input with symbolic dimensions (repeatable)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    passes = argparse.ArgumentParser(add_help=False)
    passes.add_argument("--passes", metavar="P1,P2|list",
                        help="run exactly these passes, in this order ('list' or 'edgec passes' prints them)")
    passes.add_argument("--report", action="store_true", help="print what each pass changed")
    passes.add_argument("--dump-ir", metavar="DIR", help="write the IR after each pass to DIR/NNN_<pass>.ir")
    passes.add_argument("--quantize", choices=["int8", "uint8"],
                        help="post-training integer quantization (activations int8 or uint8, weights int8)")
    passes.add_argument("--calib", metavar="DATA", help="calibration data: FILE.npz (keys = input names), FILE.npy "
                                                         "(single input), or a folder of them")
    passes.add_argument("--calib-method", default="minmax", choices=["minmax", "percentile", "entropy", "mse"],
                        help="activation range method (default minmax)")
    passes.add_argument("--calib-percentile", type=float, default=99.99, metavar="P",
                        help="percentile for --calib-method percentile (default 99.99)")
    passes.add_argument("--calib-limit", type=_count_arg(1), default=512, metavar="N",
                        help="use at most N calibration samples (default 512)")
    passes.add_argument("--keep-float", metavar="auto|LAYER,...",
                        help="layers to keep in float; 'auto' keeps the most harmful ones until --sqnr-target is met")
    passes.add_argument("--sqnr-target", type=float, default=30.0, metavar="DB",
                        help="output SQNR that --keep-float auto aims for (default 30 dB)")
    passes.add_argument("--bias-correction", action="store_true", help="correct each layer's mean quantization error")
    passes.add_argument("--equalize", action="store_true",
                        help="cross-layer equalization before calibration (depthwise-separable nets)")
    passes.add_argument("--pools-as-convs", action="store_true",
                        help="average pools as depthwise int8 convs: the mean gets its own grid (more weight bytes)")

    add_prune_options(passes)

    p = sub.add_parser("compile", parents=[common, shapes, passes], help="compile an ONNX model into an artifact directory",
                       description="Import MODEL.onnx, compile it with TVM for TARGET and write the artifact "
                                   "directory OUT (model.so, manifest.json, model.ir). An existing OUT is replaced "
                                   "only if it is an earlier edgec artifact and the new build succeeds.")
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="artifact directory to write")
    p.add_argument("--target", help="target name (see 'edgec targets'; default: host, or the only target of "
                                    "--target-file)")
    p.add_argument("--target-file", action="append", default=[], metavar="BOARD.toml",
                   help="add the targets described in this TOML or JSON file (repeatable)")
    p.add_argument("--no-merge", action="store_true", help="skip the layer-merging passes")
    p.add_argument("--no-schedule", action="store_true",
                   help="build TVM's unscheduled default kernels (naive single-threaded loops; for debugging)")
    p.add_argument("--tuning-db", metavar="DIR",
                   help="use the kernels 'edgec tune' found (where they beat edgec's own schedules)")
    p.add_argument("--executor", choices=("auto", "direct", "vm"), default="auto",
                   help="CPU targets: 'direct' calls the kernels from one generated function (no VM; "
                        "straight-line models), 'vm' runs TVM's Relax VM; 'auto' (default): direct where "
                        "the model allows it")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("compress", parents=[common, shapes, passes],
                       help="compress an ONNX model and save the result as ONNX",
                       description="Import MODEL.onnx, run the chosen compression passes and write the compressed "
                                   "model to OUT.onnx (view it in Netron, run it in any ONNX runtime).")
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="ONNX file to write")
    p.add_argument("--merge", action="store_true", help="layer merging: fold batch norms, fuse, simplify")
    p.set_defaults(func=cmd_compress)

    p = sub.add_parser("run", parents=[common], help="run a compiled artifact on .npy inputs",
                       description="Run artifact OUT once and print each output's shape, dtype and first values.")
    p.add_argument("artifact", metavar="OUT", help="artifact directory from 'edgec compile'")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                   help="an input array (repeatable); NAME= may be left out when the model has one input")
    p.add_argument("--output", metavar="FILE.npz", help="also save all outputs to FILE.npz")
    add_remote_options(p)
    add_board_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("bench", parents=[common], help="measure the latency of a compiled artifact",
                       description="Run artifact OUT on random inputs and report latency statistics.")
    p.add_argument("artifact", metavar="OUT", help="artifact directory from 'edgec compile'")
    p.add_argument("--repeat", type=_count_arg(1), default=50, metavar="N", help="timed runs (default 50)")
    p.add_argument("--warmup", type=_count_arg(0), default=5, metavar="N", help="untimed runs first (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    check = p.add_argument_group("output check")
    check.add_argument("--check", action=argparse.BooleanOptionalAction, default=None,
                       help="compare the outputs with a host reference (default: on with --rpc/--tracker)")
    check.add_argument("--reference", metavar="MODEL.onnx",
                       help="the reference model (default: the source model named in the manifest)")
    check.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance (default 1e-4)")
    check.add_argument("--atol", type=float, default=1e-5, help="absolute tolerance (default 1e-5)")
    add_remote_options(p)
    add_board_options(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("inspect", parents=[common, shapes], help="show an ONNX model's layers, parameters and MACs",
                       description="Import MODEL.onnx and print its layers with parameters and MACs.")
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("--ir", action="store_true", help="print the edgec IR text instead of the layer table")
    p.add_argument("--json", action="store_true", help="print one JSON object (with 'ir' if --ir is given)")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("passes", parents=[common], help="list the compression passes",
                       description="List the graph passes, in the order the default pipeline runs them.")
    p.set_defaults(func=lambda args: list_passes())

    p = sub.add_parser("targets", parents=[common], help="list the targets edgec compiles for",
                       description="List the targets edgec knows, with the device they run on and how.")
    p.add_argument("--target-file", action="append", default=[], metavar="BOARD.toml",
                   help="also list the targets described in this TOML or JSON file (repeatable)")
    p.add_argument("--json", action="store_true", help="print a JSON list with every target's full definition")
    p.set_defaults(func=cmd_targets)

    add_tune_command(sub, [common, shapes, passes], _count_arg)
    add_server_commands(sub, common)
    return parser


def _ratio_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {value}")
    return value


def add_prune_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("structured pruning (after merging, before quantization)")
    group.add_argument("--prune", type=_ratio_arg, metavar="RATIO",
                       help="remove this fraction of the MACs (whole channels; with --calib: sensitivity-driven)")
    group.add_argument("--prune-params", type=_ratio_arg, metavar="RATIO", help="remove this fraction of parameters")
    group.add_argument("--prune-ratios", metavar="NAME=R,...",
                       help="remove fraction R of the named layers' channels ('*=R' for every layer)")
    group.add_argument("--prune-criterion", default="l1", choices=["l1", "l2", "bn", "activation"],
                       help="channel importance (default l1; 'activation' needs --calib)")
    group.add_argument("--channel-multiple", type=_count_arg(1), metavar="N",
                       help="keep channel counts multiples of N (default: the target's vector width)")
    group.add_argument("--no-reconstruct", action="store_true",
                       help="skip the least-squares re-fit of pruned layers on --calib data")


# -- entry point ----------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and argparse's usage errors (code 2)
        return int(exit_.code or 0)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("edgec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `edgec inspect big.onnx | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except EdgecError as err:
        if args.debug:
            raise
        _error(str(err))
        return 2 if isinstance(err, UsageError) else 1
    except Exception as err:
        if args.debug:
            raise
        _error(f"internal error: {type(err).__name__}: {_one_line(str(err))[:300]} "
               "(this is a bug in edgec; rerun with --debug for the traceback)")
        return 1


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _error(message: str) -> None:
    print(f"edgec: error: {_one_line(message)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
