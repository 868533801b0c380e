"""Inputs for the MLPerf Tiny models: real photos for the vision models, random data otherwise.

The official int8 models say what their float input range is (the scale and zero point of
their input's DequantizeLinear); inputs are mapped into that range. Vision inputs are crops of
scikit-image's bundled photos (astronaut, coffee, chelsea, ...), resized to the model's input.
No real audio or machine-sound data ships with the packages this project may install, so the
keyword-spotting and anomaly-detection models get random inputs spread over their input range.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models" / "mlperf-tiny"
MODELS = ("ic_resnet8", "kws_dscnn", "vww_mobilenetv1", "ad_autoencoder")
VISION = ("ic_resnet8", "vww_mobilenetv1")
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "cat", "immunohistochemistry", "retina", "colorwheel",
          "hubble_deep_field", "coins", "camera", "clock", "grass", "gravel", "brick")  # shipped in the wheel


def io_qparams(qdq: onnx.ModelProto) -> tuple[tuple[float, int], tuple[float, int]]:
    """(input scale, zp), (output scale, zp) of an official int8 QDQ model."""
    inits = {i.name: numpy_helper.to_array(i) for i in qdq.graph.initializer}
    users = {}
    for node in qdq.graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    node = users[qdq.graph.input[0].name][0]
    while node.op_type != "DequantizeLinear":  # through Transpose / Reshape
        node = users[node.output[0]][0]
    last = next(n for n in qdq.graph.node if qdq.graph.output[0].name in n.output)
    def params(n):
        return float(inits[n.input[1]]), int(inits[n.input[2]])
    return params(node), params(last)


def float_input_shape(model: onnx.ModelProto) -> tuple[int, ...]:
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return tuple(d.dim_value if d.HasField("dim_value") else 1 for d in dims)


def photo_crops(shape: tuple[int, ...], count: int, seed: int) -> np.ndarray:
    """``count`` random crops of the bundled photos, resized to NHWC ``shape`` [1, H, W, 3], in [0, 1]."""
    import skimage.data
    from skimage.color import gray2rgb
    from skimage.transform import resize

    rng = np.random.default_rng(seed)
    photos = []
    for name in PHOTOS:
        image = np.asarray(getattr(skimage.data, name)())
        image = gray2rgb(image) if image.ndim == 2 else image[..., :3]  # drop alpha
        photos.append(image.astype(np.float64) / (255.0 if image.dtype == np.uint8 else max(image.max(), 1)))
    _, h, w, _ = shape
    out = []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.integers(min(photo.shape[:2]) // 4, min(photo.shape[:2]) + 1))
        y, x = rng.integers(0, photo.shape[0] - side + 1), rng.integers(0, photo.shape[1] - side + 1)
        out.append(resize(photo[y:y + side, x:x + side], (h, w), anti_aliasing=True))
    return np.stack(out)[:, None].astype(np.float32)  # [count, 1, H, W, 3]


def inputs(name: str, count: int, seed: int) -> tuple[np.ndarray, str]:
    """``count`` float inputs for model ``name`` (stacked: [count, *input_shape]) and their source."""
    qdq = onnx.load(SHARED / f"{name}_int8_qdq.onnx")
    (scale, zp), _ = io_qparams(qdq)
    lo, hi = (-128 - zp) * scale, (127 - zp) * scale
    shape = float_input_shape(onnx.load(SHARED / f"{name}_fp32.onnx"))
    if name in VISION:
        return (lo + photo_crops(shape, count, seed) * (hi - lo)).astype(np.float32), "scikit-image photos"
    rng = np.random.default_rng(seed)
    centre, spread = (lo + hi) / 2, (hi - lo) / 6
    data = np.clip(rng.normal(centre, spread, (count, *shape)), lo, hi)
    return data.astype(np.float32), "random (no real audio data available offline)"
