"""Structured channel pruning, measured.

1. The nine ONNX zoo architectures (random weights): MACs and parameters before/after pruning
   30% and 50% of MACs (l1, channel multiple 16), and the TVM build's latency of the 50%
   model over the unpruned one (same process, same input; best of --repeat interleaved rounds).
2. Digits CNN (real data): top-1 on the test split at 50% MACs removed: plain L1 (no data),
   L1 + bias mean absorption, L1 + least-squares reconstruction (calibration: train split), and
   pruned + int8.
3. Peer: torch-pruning (when importable) on the same digits network, L1 magnitude, same MACs
   ratio, no fine-tuning.

    python -m bench.prune [--zoo resnet50,vgg19] [--repeat 20] [--no-speed] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time

import numpy as np
import onnx

from bench.common import emit, machine, markdown_table
from compiler.codegen.build import compile_graph
from compiler.frontend.onnx import import_onnx
from compiler.ir import interpreter
from compiler.ir.stats import model_stats
from compiler.pipeline import CompressOptions, compress
from compiler.prune import PruneOptions, prune
from compiler.quant.ptq import QuantOptions

DIGITS = "examples/digits/digits_cnn.onnx"


def latencies_ms(graphs: list, feeds, repeat: int, tmp: str) -> list[float]:
    """Latency of each graph's TVM build: the minimum over ``repeat`` interleaved rounds of 5 runs.

    The machine is shared, so rounds alternate between the builds (load hits both alike) and the
    minimum, the least disturbed round, is reported.
    """
    import runtime

    models = []
    for i, graph in enumerate(graphs):
        compile_graph(graph, f"{tmp}/m{i}")
        models.append(runtime.load(f"{tmp}/m{i}"))
    best = [float("inf")] * len(models)
    for _ in range(repeat):
        for i, model in enumerate(models):
            best[i] = min(best[i], float(np.median(model.benchmark(feeds, repeat=5, warmup=1))))
    return best


def zoo(names: list[str], repeat: int, speed: bool) -> list[dict]:
    from tests.zoo_models import LIGHT, dummy_feeds, randomize_weights

    rows = []
    for name in names:
        model = randomize_weights(onnx.load(LIGHT / f"light_{name}.onnx"))
        graph, feeds = compress(import_onnx(model)).graph, dummy_feeds(model)
        base = model_stats(graph)
        row = {"model": name, "macs": base["macs"], "params": base["params"]}
        for ratio in (0.3, 0.5):
            start = time.perf_counter()
            result = prune(graph, PruneOptions(macs=ratio, channel_multiple=16))
            row[f"prune_s_{int(ratio * 100)}"] = time.perf_counter() - start
            row[f"macs_{int(ratio * 100)}"] = result.report["totals"]["macs"][1]
            row[f"params_{int(ratio * 100)}"] = result.report["totals"]["params"][1]
        if speed:
            with tempfile.TemporaryDirectory() as tmp:
                row["ms_base"], row["ms_50"] = latencies_ms([graph, result.graph], feeds, repeat, tmp)
            row["speedup_50"] = row["ms_base"] / row["ms_50"]
        rows.append(row)
        print(f"  {name}: {row}", flush=True)
    return rows


def top1(graph, x, y) -> float:
    name = graph.inputs[0]
    logits = np.concatenate([interpreter.run(graph, {name: x[i:i + 1]})[graph.outputs[0]] for i in range(len(x))])
    return 100.0 * float(np.mean(logits.argmax(axis=1) == y))


def digits() -> dict:
    from examples.digits.data import load_split

    x_train, _, x_test, y_test = load_split()
    calib = x_train[:256]
    graph = import_onnx(DIGITS)
    runs = {"float": CompressOptions(),
            "plain L1 (no data)": CompressOptions(prune=PruneOptions(macs=0.5, channel_multiple=4)),
            "L1 + mean absorption": CompressOptions(prune=PruneOptions(macs=0.5, channel_multiple=4, calib=calib,
                                                                       reconstruct=False)),
            "L1 + reconstruction": CompressOptions(prune=PruneOptions(macs=0.5, channel_multiple=4, calib=calib)),
            "L1 + reconstruction + int8": CompressOptions(prune=PruneOptions(macs=0.5, channel_multiple=4,
                                                                             calib=calib),
                                                          quantize=QuantOptions(calib=calib))}
    out = {}
    for label, options in runs.items():
        result = compress(graph, options)
        removed = result.prune_report["macs_removed"] if result.prune_report else 0.0
        out[label] = {"top1": top1(result.graph, x_test, y_test), "macs_removed": removed}
        print(f"  digits {label}: {out[label]}", flush=True)
    peer = torch_pruning_peer(x_test, y_test, 0.5)
    if peer is not None:
        out["torch-pruning L1 (no data)"] = peer
    return out


def torch_pruning_peer(x_test, y_test, ratio: float) -> dict | None:
    """torch-pruning's MagnitudePruner (L1) on the same trained weights, at the same MACs ratio."""
    try:
        import torch
        import torch_pruning as tp
    except ImportError:
        print("  torch-pruning not importable: peer skipped")
        return None
    from onnx import numpy_helper

    from examples.digits.train import build_model

    onnx_by_name = {t.name: numpy_helper.to_array(t) for t in onnx.load(DIGITS).graph.initializer}

    def trained():
        net = build_model().eval()
        net.load_state_dict({k: torch.from_numpy(onnx_by_name[k].copy()) if k in onnx_by_name else v
                             for k, v in net.state_dict().items()})
        return net

    example = torch.zeros(1, 1, 8, 8)
    base_macs, _ = tp.utils.count_ops_and_params(trained(), example)
    for step in range(1, 19):  # the smallest uniform channel ratio that reaches the MACs ratio
        net = trained()
        last = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
        pruner = tp.pruner.MagnitudePruner(net, example, importance=tp.importance.MagnitudeImportance(p=1),
                                           pruning_ratio=0.05 * step, ignored_layers=last)
        pruner.step()
        macs, _ = tp.utils.count_ops_and_params(net, example)
        if macs <= (1 - ratio) * base_macs:
            break
    with torch.no_grad():
        logits = net(torch.from_numpy(x_test)).numpy()
    return {"top1": 100.0 * float(np.mean(logits.argmax(axis=1) == y_test)), "macs_removed": 1 - macs / base_macs}


def main(argv: list[str] | None = None) -> None:
    from tests.zoo_models import MODELS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", default=",".join(MODELS))
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--no-digits", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    results = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "machine": machine(), "zoo": zoo([m for m in args.zoo.split(",") if m], args.repeat, not args.no_speed)}
    if not args.no_digits:
        results["digits"] = digits()
    rows = [(r["model"], f"{r['macs'] / 1e6:,.0f}M", f"{r['macs_30'] / 1e6:,.0f}M", f"{r['macs_50'] / 1e6:,.0f}M",
             f"{r['params'] / 1e6:.2f}M", f"{r['params_30'] / 1e6:.2f}M", f"{r['params_50'] / 1e6:.2f}M",
             f"{r['speedup_50']:.2f}x" if "speedup_50" in r else "-") for r in results["zoo"]]
    table = markdown_table(["model", "MACs", "MACs -30%", "MACs -50%", "params", "params -30%", "params -50%",
                            "TVM speed-up at -50%"], rows)
    if "digits" in results:
        table += "\n\n" + markdown_table(["digits CNN", "top-1 %", "MACs removed"],
                                         [(k, f"{v['top1']:.2f}", f"{100 * v['macs_removed']:.1f}%")
                                          for k, v in results["digits"].items()])
    emit(results, table, args.json)


if __name__ == "__main__":
    main()
