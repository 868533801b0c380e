"""``edgec tune``: search schedules for a model's kernels with MetaSchedule, into a database folder
that ``edgec compile --tuning-db`` applies."""

from __future__ import annotations

import argparse
import time

from . import cli_format as fmt


def cmd_tune(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .cli import compress_options, import_model, resolve_target
    from .codegen.tuning import check_model, tune_graph
    from .pipeline import compress

    start = time.perf_counter()
    target = resolve_target(args)  # unknown target: fail before the work
    args.target_spec = target
    compressed = compress(import_model(args.model, args.input_shape), compress_options(args, not args.no_merge))
    bar = None

    def progress(n: int, kernel: str) -> None:
        nonlocal bar
        if bar is None:  # the first call gives the total
            bar = tqdm(total=n, unit="trial", desc="tuning", disable=args.quiet, dynamic_ncols=True)
            return
        bar.set_postfix_str(kernel, refresh=False)
        bar.update(n)

    try:
        results = tune_graph(compressed.graph, args.db, target, args.trials, cost_model=args.cost_model,
                             all_kernels=args.all_kernels, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    model = check_model(compressed.graph, args.db, target)
    if args.keep_best:
        from .codegen.tuning.database import TuningDatabase

        dropped = TuningDatabase(args.db, create=False).keep_best()
        print(f"kept each kernel's best record in {args.db} ({dropped} others dropped)")
    print_summary(results, args, time.perf_counter() - start)
    print(model_summary(model))
    return 0


def _us(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e6:,.1f}"


def print_summary(results, args: argparse.Namespace, seconds: float) -> None:
    rows = [(r.name, r.family, str(r.calls), f"{r.trials} (+{r.new_trials})", _us(r.edgec_s), _us(r.best_s),
             f"{r.speedup:.2f}x" if r.speedup else "-", "tuned" if r.wins else "edgec") for r in results]
    print(fmt.table(["kernel", "family", "calls", "trials (new)", "edgec us", "tuned us", "speedup", "compile uses"],
                    rows, right=[2, 4, 5, 6]))
    edgec = sum((r.edgec_s or 0) * r.calls for r in results)
    best = sum(min(r.edgec_s or float("inf"), r.best_s or float("inf")) * r.calls for r in results
               if r.edgec_s or r.best_s)
    wins = sum(1 for r in results if r.wins)
    new = sum(r.new_trials for r in results)
    print(f"\n{len(results)} kernels, {new} new trials in {seconds:.0f} s; database {args.db}")
    if edgec:
        print(f"kernel time per inference: edgec {edgec * 1e3:.3f} ms -> {best * 1e3:.3f} ms with the "
              f"{wins} tuned kernels that win (compile with --tuning-db {args.db})")


def model_summary(model: dict) -> str:
    """The whole-model check (``tuning/model_check.py``) in a line."""
    labels = {"none": "edgec's schedules", "all": "all winning kernels", "variants": "edgec's variants only"}
    times = ", ".join(f"{labels[use]} {ms:.3f} ms ({model['executor'][use]})" for use, ms in model["ms"].items())
    return f"whole model, median: {times}; compile with --tuning-db uses {labels[model['use']]}"


def add_tune_command(sub, parents: list[argparse.ArgumentParser], count_arg) -> None:
    p = sub.add_parser("tune", parents=parents, help="tune a model's kernels with MetaSchedule into a database",
                       description="Import MODEL.onnx, lower it as 'edgec compile' does and search schedules for "
                                   "its fused kernels with TVM MetaSchedule, measuring on this machine. Records go "
                                   "to the database folder DIR; re-running with the same DIR continues (kernels "
                                   "with N trials are skipped). 'edgec compile --tuning-db DIR' then uses every "
                                   "tuned kernel that beat edgec's own schedule.")
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("--db", required=True, metavar="DIR", help="tuning database folder (created if missing)")
    p.add_argument("--trials", type=count_arg(1), default=64, metavar="N",
                   help="measured candidates per kernel (default 64)")
    p.add_argument("--target", help="target name (a CPU target that runs on this machine; default host)")
    p.add_argument("--target-file", action="append", default=[], metavar="BOARD.toml",
                   help="add the targets described in this TOML or JSON file (repeatable)")
    p.add_argument("--no-merge", action="store_true", help="skip the layer-merging passes (as for compile)")
    p.add_argument("--cost-model", choices=["xgb", "random"], default="xgb",
                   help="MetaSchedule's cost model: xgb (learns from measurements; needs xgboost) or random")
    p.add_argument("--all-kernels", action="store_true",
                   help="also tune layout transposes, concats and other elementwise-only kernels")
    p.add_argument("--keep-best", action="store_true",
                   help="afterwards, keep only each kernel's best record (a smaller database to ship; "
                        "a re-run does not search those kernels again)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_tune)
