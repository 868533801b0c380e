"""edgec end to end: compile an ONNX model, run it, compare with onnxruntime.

    python examples/demo.py [MODEL.onnx] [--input-shape NAME=D1,D2,...] [--repeat N]

Compiles with the same code path as ``edgec compile`` (into out/demo/<model name>), runs the
artifact and onnxruntime on one fixed random input, prints the largest absolute difference
per output and the median latency of both. Exits 1 if the outputs disagree.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runnable from a plain checkout, without `pip install -e .`

from compiler import cli  # noqa: E402
from runtime.host import latency_stats, timed_runs  # noqa: E402

RTOL, ATOL = 1e-3, 1e-4  # float32 kernels reorder sums; anything beyond this is a bug


def short(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (for readable commands)."""
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel


def ort_latency(session, feeds: dict[str, np.ndarray], repeat: int, warmup: int) -> dict[str, float]:
    return latency_stats(timed_runs(lambda: session.run(None, feeds), repeat, warmup))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", default=short(ROOT / "examples" / "tiny_cnn.onnx"))
    parser.add_argument("--input-shape", action="append", default=[], metavar="NAME=D1,D2,...")
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args(argv)

    out = short(ROOT / "out" / "demo" / Path(args.model).stem)
    shape_args = [f"--input-shape={s}" for s in args.input_shape]
    print(f"$ edgec compile {args.model} -o {out} {' '.join(shape_args)}".rstrip())
    code = cli.main(["compile", args.model, "-o", out, *shape_args])
    if code:
        return code

    import onnxruntime as ort
    import tvm

    import runtime

    model = runtime.load(out)
    feeds = model.random_inputs(seed=0)
    ours = model.run(feeds)
    options = ort.SessionOptions()
    options.intra_op_num_threads = tvm.runtime.num_threads()  # same thread count for a fair comparison
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    theirs = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))

    print("\noutput          max |edgec - onnxruntime|")
    mismatched = []
    for name, value in ours.items():
        diff = float(np.max(np.abs(value.astype(np.float64) - theirs[name]))) if value.size else 0.0
        print(f"{name:<15} {diff:.3g}")
        if not np.allclose(value, theirs[name], rtol=RTOL, atol=ATOL):
            mismatched.append(name)

    warmup = max(1, args.repeat // 10)
    edgec_ms = latency_stats(model.benchmark(feeds, repeat=args.repeat, warmup=warmup))["median_ms"]
    ort_ms = ort_latency(session, feeds, args.repeat, warmup)["median_ms"]
    print(f"\nmedian latency over {args.repeat} runs ({tvm.runtime.num_threads()} threads):")
    print(f"  edgec        {edgec_ms:8.3f} ms")
    print(f"  onnxruntime  {ort_ms:8.3f} ms")
    if mismatched:
        print(f"\nFAIL: {', '.join(mismatched)} differ from onnxruntime beyond rtol={RTOL}, atol={ATOL}",
              file=sys.stderr)
        return 1
    print(f"\nOK: all outputs match onnxruntime (rtol={RTOL}, atol={ATOL})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
