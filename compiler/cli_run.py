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
    from .cli_rpc import close_model

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
    from .cli_rpc import agreement, close_model, is_remote

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
    result = report["agreement"]
    if result is None:
        return
    if result["ok"] is None:
        print(f"\noutputs not checked: {result['note']}")
        return
    print(f"\noutputs vs {result['reference']} on the host (rtol {result['rtol']:g}, atol {result['atol']:g}):")
    for row in result["outputs"]:
        print(f"  {row['name']}: max abs diff {row['max_abs_diff']:.3g}  {'ok' if row['ok'] else 'MISMATCH'}")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
