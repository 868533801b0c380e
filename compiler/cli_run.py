"""``edgec run`` and ``edgec bench``: execute a compiled artifact on this machine.

Inputs come from ``.npy`` files named on the command line; every problem with them (missing
file, not a .npy, unknown name) is an ``InputError`` that names the input and the file, so
the user never sees a numpy traceback.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import cli_format as fmt
from .errors import InputError, UsageError
from .util.atomic import atomic_write_bytes


def load_artifact(path: str):
    import runtime  # imports TVM: only the commands that execute pay for it

    return runtime.load(path)


def open_model(args: argparse.Namespace):
    """The artifact loaded here, or on the remote device that --rpc/--tracker names."""
    from .cli_rpc import is_remote, open_remote_model

    return open_remote_model(args) if is_remote(args) else load_artifact(args.artifact)


# -- inputs ---------------------------------------------------------------------------------
def parse_input_args(specs: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    """``--input NAME=FILE`` arguments -> {input name: file}; a bare FILE names the only input."""
    files: dict[str, str] = {}
    for item in specs:
        name, sep, path = item.partition("=")
        if not sep or (name not in names and len(names) == 1 and os.path.exists(item)):
            if len(names) != 1:
                raise InputError(f"--input '{item}' has no NAME=; the model takes {len(names)} inputs "
                                 f"{list(names)}, so write --input NAME=FILE.npy")
            name, path = names[0], item
        if name not in names:
            raise InputError(f"--input names unknown input '{name}'; the model takes {list(names)}")
        if name in files:
            raise InputError(f"input '{name}' is given twice (--input {name}=...)")
        files[name] = path
    return files


def read_npy(name: str, path: str) -> np.ndarray:
    """One input array from a .npy file, with a one-line error for anything else."""
    if not os.path.exists(path):
        raise InputError(f"input '{name}': no such file: {path}")
    if os.path.isdir(path):
        raise InputError(f"input '{name}': {path} is a directory, not a .npy file")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise InputError(f"input '{name}': {path} is not a .npy file ({_first_line(err)})") from None
    if not isinstance(array, np.ndarray):  # np.load gives an NpzFile for .npz archives
        array.close()
        raise InputError(f"input '{name}': {path} is an .npz archive; save the array with numpy.save as .npy")
    return array


def read_inputs(specs: Sequence[str], names: Sequence[str]) -> dict[str, np.ndarray]:
    return {name: read_npy(name, path) for name, path in parse_input_args(specs, names).items()}


# -- outputs --------------------------------------------------------------------------------
def write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """All outputs in one .npz, written atomically; only .npz paths are (over)written."""
    target = Path(path)
    if target.suffix != ".npz":
        raise UsageError(f"--output {path} must end in .npz")
    if target.is_dir():
        raise InputError(f"--output {path} is a directory; give a .npz file path")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(target, buffer.getvalue())


def print_outputs(outputs: dict[str, np.ndarray]) -> None:
    for name, array in outputs.items():
        print(f"{name}: shape {list(array.shape)} {array.dtype}  {fmt.summarize(array)}")


def cmd_run(args: argparse.Namespace) -> int:
    from runtime.mcu.model import is_mcu_artifact

    from .cli_rpc import close_model

    if is_mcu_artifact(args.artifact):
        return run_on_board(args)
    model = open_model(args)
    try:
        feeds = read_inputs(args.input, [t.name for t in model.inputs])
        outputs = model.run(feeds)
    finally:
        close_model(model)
    print_outputs(outputs)
    if args.output:
        write_npz(args.output, outputs)
        print(f"wrote {args.output}")
    return 0


# -- bench ----------------------------------------------------------------------------------
def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def device_description(model: Any = None) -> str:
    """What the benchmark ran on, e.g. 'cpu: AMD EPYC 7B13, 2 threads' or 'cuda: NVIDIA H100 ...'."""
    import tvm

    if hasattr(model, "device_description"):  # a remote device describes itself
        return model.device_description()
    device = getattr(model, "device", None)
    if device is not None and device.dlpack_device_type() == tvm.cuda(0).dlpack_device_type():
        return f"cuda: {device.device_name} (compute {device.compute_version})"
    threads = tvm.runtime.num_threads()
    return f"cpu: {cpu_name()}, {threads} thread{'s' if threads != 1 else ''}"


def bench_report(model: Any, repeat: int, warmup: int) -> dict[str, Any]:
    from runtime.host import latency_stats

    times = model.benchmark(model.random_inputs(), repeat=repeat, warmup=warmup)
    target = model.manifest["target"]["name"]
    remote = getattr(model, "remote", None)
    return {"artifact": str(model.path), "target": target, "device": device_description(model),
            "remote": remote.address if remote else None, "timer": "device" if remote else "host",
            "units": "ms", "warmup": warmup, **latency_stats(times),
            "inputs": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in model.inputs]}


def cmd_bench(args: argparse.Namespace) -> int:
    from runtime.mcu.model import is_mcu_artifact

    from .cli_rpc import agreement, close_model, is_remote

    if is_mcu_artifact(args.artifact):
        return bench_on_board(args)
    model = open_model(args)
    check = args.check if args.check is not None else is_remote(args)
    try:
        feeds = model.random_inputs()
        report = bench_report(model, args.repeat, args.warmup)
        outputs = model.run(feeds) if check else None
    finally:
        close_model(model)
    report["agreement"] = agreement(model.manifest, feeds, outputs, args.reference, args.rtol, args.atol) \
        if check else None
    if args.json:
        print(json.dumps(report))
    else:
        print_bench(report)
    if report["agreement"] and report["agreement"]["ok"] is False:
        bad = [r["name"] for r in report["agreement"]["outputs"] if not r["ok"]]
        print(f"edgec: error: output(s) {bad} differ from {report['agreement']['reference']} beyond rtol "
              f"{args.rtol:g}, atol {args.atol:g}", file=sys.stderr)
        return 1
    return 0


def print_bench(report: dict[str, Any]) -> None:
    print(f"{report['artifact']} on {report['device']} (target {report['target']})")
    print(f"inputs: {', '.join(fmt.spec(t) for t in report['inputs'])} (random)")
    print(f"{report['repeat']} runs after {report['warmup']} warm-up, timed on the {report['timer']}\n")
    keys = ["median_ms", "mean_ms", "p90_ms", "min_ms", "std_ms"]
    print(fmt.table(["latency", "ms"], [(k[:-3], f"{report[k]:.4f}") for k in keys], right=[1]))
    print_agreement(report["agreement"])


def print_agreement(result: dict[str, Any] | None) -> None:
    """The output check of ``edgec bench --check`` (nothing when it was not asked for)."""
    if result is None:
        return
    if result["ok"] is None:
        print(f"\noutputs not checked: {result['note']}")
        return
    print(f"\noutputs vs {result['reference']} on the host (rtol {result['rtol']:g}, atol {result['atol']:g}):")
    for row in result["outputs"]:
        print(f"  {row['name']}: max abs diff {row['max_abs_diff']:.3g}  {'ok' if row['ok'] else 'MISMATCH'}")


# -- Cortex-M boards -------------------------------------------------------------------------------
def add_board_options(parser: argparse.ArgumentParser) -> None:
    """Options of run/bench for Cortex-M artifacts (QEMU by default, a real board with --port)."""
    group = parser.add_argument_group("Cortex-M boards")
    group.add_argument("--port", metavar="DEVICE", help="a real board's serial port (e.g. /dev/ttyACM0) "
                       "instead of the QEMU-emulated board")
    group.add_argument("--baud", type=int, default=115200, help="serial baud rate (default 115200)")
    group.add_argument("--board-timeout", type=float, default=60.0, metavar="S",
                       help="seconds to wait for each board reply (default 60)")


def open_board(args: argparse.Namespace):
    from runtime.mcu.model import McuModel

    return McuModel(args.artifact, port=args.port, baud=args.baud, timeout=args.board_timeout)


def describe_count(figures: dict[str, Any]) -> str:
    if "instructions" in figures:
        return (f"{figures['instructions']:,} instructions (±{figures['instructions_resolution']}), "
                f"~{figures['ms_at_clock']:.3f} ms at {figures['clock_hz'] / 1e6:g} MHz if 1 instruction/cycle")
    return f"{figures['cycles']:,} cycles, {figures['ms_at_clock']:.3f} ms at {figures['clock_hz'] / 1e6:g} MHz"


def run_on_board(args: argparse.Namespace) -> int:
    with open_board(args) as model:
        feeds = read_inputs(args.input, [t.name for t in model.inputs])
        outputs, ticks = model.run_timed(feeds)
        figures, where = model.figures(ticks), model.description
    print_outputs(outputs)
    print(f"on {where}: {describe_count(figures)}")
    if args.output:
        write_npz(args.output, outputs)
        print(f"wrote {args.output}")
    return 0


def bench_on_board(args: argparse.Namespace) -> int:
    import statistics

    from .cli_rpc import agreement

    with open_board(args) as model:
        feeds = model.random_inputs()
        ticks = model.benchmark_ticks(feeds, args.repeat + args.warmup)[args.warmup:]
        median = model.figures(int(statistics.median(ticks)))
        outputs = model.run(feeds) if args.check else None
        report = {"artifact": args.artifact, "target": model.board.target, "device": model.description,
                  "timer": "device", "repeat": len(ticks), "warmup": args.warmup, "counter": median["counter"],
                  "median": median, "min_ticks": min(ticks), "max_ticks": max(ticks),
                  "inputs": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in model.inputs]}
    report["agreement"] = agreement(model.manifest, feeds, outputs, args.reference, args.rtol, args.atol) \
        if args.check else None
    if args.json:
        print(json.dumps(report))
        return 1 if report["agreement"] and report["agreement"]["ok"] is False else 0
    print(f"{report['artifact']} on {report['device']}")
    print(f"inputs: {', '.join(fmt.spec(t) for t in report['inputs'])} (random)")
    print(f"{report['repeat']} runs after {report['warmup']} warm-up, timed on the device by SysTick\n")
    print(f"median: {describe_count(median)}")
    print(f"ticks: min {report['min_ticks']:,}, max {report['max_ticks']:,} of the {median['clock_hz'] / 1e6:g} MHz clock")
    print_agreement(report["agreement"])
    return 1 if report["agreement"] and report["agreement"]["ok"] is False else 0


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
