"""Train the digits CNN with PyTorch and export it to ONNX as ``digits_cnn.onnx``.

Optional example step: the trained model is committed, so edgec and its tests never need
PyTorch. Retrain (CPU, deterministic, well under two minutes) with::

    .venv/bin/pip install torch==2.13.0   # into the venv, for training only
    .venv/bin/python examples/digits/train.py [--epochs 60] [--out examples/digits/digits_cnn.onnx]

and measure the committed model's accuracy (needs onnxruntime and scikit-learn, not PyTorch) with::

    .venv/bin/python examples/digits/train.py --evaluate

The export keeps the BatchNormalization nodes (no constant folding), so the model exercises
edgec's batch-norm folding.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # runnable as a plain script from a checkout

from examples.digits.data import load_split  # noqa: E402

SEED = 0
HERE = Path(__file__).resolve().parent


def build_model():
    """conv-bn-relu x2 -> maxpool -> conv-bn-relu -> global average pool -> linear (10 logits)."""
    from torch import nn

    def block(cin: int, cout: int) -> list:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(*block(1, 16), *block(16, 32), nn.MaxPool2d(2),
                         *block(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def shift_augment(x, rng: np.random.Generator):
    """Shift each image by up to one pixel in each direction (zero fill): cheap, label-preserving."""
    import torch

    out = torch.zeros_like(x)
    dy, dx = rng.integers(-1, 2, size=2)
    src = x[:, :, max(0, -dy):8 - max(0, dy), max(0, -dx):8 - max(0, dx)]
    out[:, :, max(0, dy):8 - max(0, -dy), max(0, dx):8 - max(0, -dx)] = src
    return out


def train(epochs: int, batch: int = 64, lr: float = 3e-3):
    import torch

    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(SEED)
    x_train, y_train, _, _ = load_split()
    x, y = torch.from_numpy(x_train), torch.from_numpy(y_train)
    model = build_model()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * -(-len(x) // batch))
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(x)))
        total = 0.0
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            loss = loss_fn(model(shift_augment(x[idx], rng)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1:3d}  train loss {total / len(x):.4f}")
    return model.eval()


def export(model, path: Path) -> None:
    """ONNX opset 17, input ``input`` [N,1,8,8], output ``logits`` [N,10], BatchNorm kept."""
    import warnings

    import torch

    with warnings.catch_warnings():  # the legacy exporter is chosen on purpose (no onnxscript needed)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                          do_constant_folding=False, training=torch.onnx.TrainingMode.EVAL)


def evaluate(path: Path) -> float:
    """Top-1 accuracy (percent) of the ONNX file on the test split, run by onnxruntime."""
    import onnxruntime as ort

    _, _, x_test, y_test = load_split()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = sess.run(["logits"], {"input": x_test})[0]
    return 100.0 * float(np.mean(logits.argmax(axis=1) == y_test))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--out", type=Path, default=HERE / "digits_cnn.onnx")
    parser.add_argument("--evaluate", action="store_true", help="only measure the accuracy of --out")
    args = parser.parse_args(argv)
    if args.evaluate:
        print(f"{args.out}: test-split top-1 accuracy (onnxruntime): {evaluate(args.out):.2f}%")
        return
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("train.py needs PyTorch (training only): .venv/bin/pip install torch==2.13.0")
    start = time.perf_counter()
    model = train(args.epochs)
    export(model, args.out)
    print(f"trained in {time.perf_counter() - start:.1f} s; wrote {args.out}")
    print(f"test-split top-1 accuracy (onnxruntime): {evaluate(args.out):.2f}%")


if __name__ == "__main__":
    main()
