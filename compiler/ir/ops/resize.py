"""Resize: nearest and (multi)linear interpolation to a static output shape (ONNX Resize/Upsample).

Resizing is separable: every resized axis maps output index ``x`` to a source coordinate
(``source_coords``), then picks the nearest source index (``nearest_indices``) or blends the
two neighbours (``linear_taps``). ``scales`` are the factors the coordinate transform divides
by: the model's own scales when it gave them, else ``size / input size``. Coordinates are
computed in float32 exactly as onnxruntime does, so nearest-neighbour ties round the same
way; an axis with scale 1 is left alone. The helpers are public because the TVM lowering
turns them into static index tables.
"""

from __future__ import annotations

import numpy as np

from ..types import TensorType
from .registry import REQUIRED, InferError, define

MODES = ("nearest", "linear")
COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
                    "tf_half_pixel_for_nn")
# "legacy" is ONNX opset < 11 (Resize-10, Upsample) as onnxruntime runs it: floor when an axis is
# enlarged, ceil when it is shrunk.
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "legacy")

F32 = np.float32


def source_coords(in_len: int, out_len: int, scale: float, mode: str) -> np.ndarray:
    """Source coordinate (float32) of each output index along one axis."""
    x = np.arange(out_len, dtype=F32)
    s, half = F32(scale), F32(0.5)
    if mode == "half_pixel":
        return (x + half) / s - half
    if mode == "pytorch_half_pixel":
        return (x + half) / s - half if out_len > 1 else np.zeros(out_len, F32)
    if mode == "tf_half_pixel_for_nn":
        return (x + half) / s
    if mode == "asymmetric":
        return x / s
    if mode == "align_corners":
        return x * F32(in_len - 1) / F32(out_len - 1) if out_len > 1 else np.zeros(out_len, F32)
    if mode == "half_pixel_symmetric":
        adjustment = F32(out_len) / (s * F32(in_len))
        offset = F32(in_len) / F32(2) * (F32(1) - adjustment)
        return (offset + (x.astype(np.float64) + 0.5) / s - 0.5).astype(F32)
    raise ValueError(f"unknown coordinate transformation mode {mode!r}")


def nearest_indices(coords: np.ndarray, in_len: int, scale: float, mode: str) -> np.ndarray:
    """Nearest source index (int64, clamped into the input) for each coordinate."""
    c = coords.astype(np.float64)  # exact: rounding must not add float32 error
    if mode == "legacy":
        mode = "ceil" if scale < 1 else "floor"
    if mode == "round_prefer_floor":
        idx = np.where(c - np.floor(c) == 0.5, np.floor(c), np.floor(c + 0.5))
    elif mode == "round_prefer_ceil":
        idx = np.floor(c + 0.5)
    elif mode == "floor":
        idx = np.floor(c)
    elif mode == "ceil":
        idx = np.ceil(c)
    else:
        raise ValueError(f"unknown nearest mode {mode!r}")
    return np.clip(idx, 0, in_len - 1).astype(np.int64)


def linear_taps(coords: np.ndarray, in_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left/right source indices and the right-hand weight (float32) for linear interpolation.

    Coordinates outside the input are clamped to its edge, so border pixels repeat.
    """
    c = np.clip(coords, F32(0), F32(in_len - 1))
    left = np.minimum(np.floor(c).astype(np.int64), in_len - 1)
    right = np.minimum(left + 1, in_len - 1)
    return left, right, (c - left.astype(F32)).astype(F32)


def resized_axes(in_shape, attrs) -> list[int]:
    """The axes a resize changes (scale other than 1)."""
    return [i for i, s in enumerate(attrs["scales"]) if F32(s) != F32(1) or attrs["size"][i] != in_shape[i]]


def _resize_infer(types, attrs):
    x = types[0]
    size, scales = tuple(attrs["size"]), tuple(attrs["scales"])
    if len(size) != x.rank or len(scales) != x.rank:
        raise InferError(f"resize needs {x.rank} output sizes and scales for {x}, got {list(size)} / {list(scales)}")
    if min(size, default=1) < 1 or min(scales, default=1) <= 0 or min(x.shape, default=1) < 1:
        raise InferError(f"resize of {x} to {list(size)} (scales {list(scales)}): sizes and scales must be positive")
    for key, allowed in (("mode", MODES), ("coordinate_mode", COORDINATE_MODES), ("nearest_mode", NEAREST_MODES)):
        if attrs[key] not in allowed:
            raise InferError(f"resize {key} {attrs[key]!r} is not one of {', '.join(allowed)}")
    if attrs["mode"] == "linear" and not x.dtype.startswith("float"):
        raise InferError(f"linear resize needs a float tensor, got {x.dtype}")
    for i in range(x.rank):
        if F32(scales[i]) == F32(1) and size[i] != x.shape[i]:
            raise InferError(f"resize axis {i}: scale 1 must keep size {x.shape[i]}, got {size[i]}")
    return [TensorType(size, x.dtype)]


def _resize_ref(xs, a):
    x = xs[0]
    y = x if a["mode"] == "nearest" else x.astype(np.float64)  # nearest only moves values
    for axis in resized_axes(x.shape, a):
        in_len, out_len, scale = x.shape[axis], a["size"][axis], a["scales"][axis]
        coords = source_coords(in_len, out_len, scale, a["coordinate_mode"])
        if a["mode"] == "nearest":
            y = np.take(y, nearest_indices(coords, in_len, scale, a["nearest_mode"]), axis=axis)
        else:
            left, right, w = linear_taps(coords, in_len)
            w = w.astype(np.float64).reshape((-1,) + (1,) * (x.ndim - axis - 1))
            y = np.take(y, left, axis=axis) * (1 - w) + np.take(y, right, axis=axis) * w
    return [y.astype(x.dtype)]


define("resize", infer=_resize_infer, reference=_resize_ref,
       attrs={"size": REQUIRED, "scales": REQUIRED, "mode": "nearest", "coordinate_mode": "half_pixel",
              "nearest_mode": "round_prefer_floor"},
       doc="nearest/linear resize to static output shape `size`; coordinates divide by `scales` (ONNX Resize)")
