"""IR data-movement, reduction and resize ops: type inference, clear errors, and the numpy
references against independent oracles (plain numpy / Python slicing / the ONNX reference)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from compiler.ir import TensorType
from compiler.ir.ops import InferError, get, infer_types


def ref(op: str, inputs, **attrs):
    opdef = get(op)
    full = opdef.full_attrs(attrs)
    outs = infer_types(op, [TensorType.of(np.asarray(x)) for x in inputs], full)
    results = opdef.reference([np.asarray(x) for x in inputs], full)
    for out, want in zip(results, outs):
        assert TensorType.of(np.asarray(out)) == want  # the reference agrees with inference
    return results


def infer(op: str, shapes, dtype="float32", **attrs):
    return infer_types(op, [TensorType(s, dtype) for s in shapes], get(op).full_attrs(attrs))


X = np.arange(60, dtype=np.float32).reshape(3, 4, 5)


# -- inference errors ---------------------------------------------------------------------
@pytest.mark.parametrize("op,shapes,attrs,match", [
    ("reshape", [(2, 3)], {"shape": (4, 2)}, "cannot reshape"),
    ("transpose", [(2, 3)], {"perm": (0, 0)}, "not a permutation"),
    ("concat", [(2, 3), (2, 4)], {"axis": 0}, "disagree"),
    ("split", [(2, 6)], {"axis": 1, "sizes": (2, 3)}, "do not add up"),
    ("split", [(2, 6)], {"axis": 2, "sizes": (6,)}, "out of range"),
    ("slice", [(4,)], {"starts": (0,), "ends": (5,), "steps": (1,)}, "not normalized"),
    ("slice", [(4,)], {"starts": (4,), "ends": (0,), "steps": (-1,)}, "not normalized"),
    ("slice", [(4, 4)], {"starts": (0,), "ends": (4,), "steps": (1,)}, "one start/end/step per axis"),
    ("pad", [(2, 3)], {"pads": (0, -1, 0, 0)}, "non-negative"),
    ("pad", [(2, 3)], {"pads": (0, 1, 0, 0), "mode": "mirror"}, "pad mode"),
    ("pad", [(1, 3)], {"pads": (1, 0, 0, 0), "mode": "reflect"}, "at least 2"),
    ("broadcast_to", [(2, 3)], {"shape": (3, 3)}, "do not broadcast"),
    ("tile", [(2, 3)], {"repeats": (2,)}, "non-negative repeats"),
    ("resize", [(1, 1, 2, 2)], {"size": (1, 1, 4), "scales": (1, 1, 2, 2)}, "4 output sizes"),
    ("resize", [(1, 1, 2, 2)], {"size": (1, 1, 4, 4), "scales": (1, 1, 2, 2), "mode": "cubic"}, "mode 'cubic'"),
    ("resize", [(1, 1, 2, 2)], {"size": (1, 1, 4, 4), "scales": (1, 1, 2, 2),
                                "coordinate_mode": "tf_crop_and_resize"}, "coordinate_mode"),
    ("resize", [(1, 1, 2, 2)], {"size": (1, 2, 4, 4), "scales": (1, 1, 2, 2)}, "scale 1 must keep size"),
    ("resize", [(1, 1, 2, 2)], {"size": (1, 1, 0, 4), "scales": (1, 1, 0.1, 2)}, "must be positive"),
])
def test_inference_errors(op, shapes, attrs, match):
    with pytest.raises(InferError, match=match):
        infer(op, shapes, **attrs)


def test_gather_needs_integer_indices_and_linear_resize_needs_floats():
    with pytest.raises(InferError, match="int32 or int64"):
        infer_types("gather", [TensorType((3,), "float32"), TensorType((2,), "float32")], {"axis": 0})
    with pytest.raises(InferError, match="float tensor"):
        infer("resize", [(1, 1, 2, 2)], "int32", size=(1, 1, 4, 4), scales=(1, 1, 2, 2), mode="linear")


# -- references against independent oracles ----------------------------------------------
def test_split_shapes_and_values():
    a, b, c = ref("split", [X], axis=2, sizes=(1, 0, 4))
    assert a.shape == (3, 4, 1) and b.shape == (3, 4, 0)
    np.testing.assert_array_equal(np.concatenate([a, b, c], axis=2), X)
    np.testing.assert_array_equal(c, X[:, :, 1:])


@pytest.mark.parametrize("start,end,step", [(0, 5, 1), (1, 5, 2), (4, -1, -1), (4, 0, -1), (3, -1, -2), (2, 2, 1),
                                            (0, -1, -1), (-1, -1, -1)])
def test_slice_matches_python_ranges(start, end, step):
    if step > 0 and start < 0:
        pytest.skip("not normalized")
    (y,) = ref("slice", [X], starts=(0, 0, start), ends=(3, 4, end), steps=(1, 1, step))
    picked = list(range(start, end, step))
    np.testing.assert_array_equal(y, X[:, :, picked] if picked else np.zeros((3, 4, 0), np.float32))


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad_reference_modes(mode):
    x = np.array([1.0, 2.0, 3.0], np.float32)
    (y,) = ref("pad", [x], pads=(2, 4), mode=mode, value=9.0)
    want = {"constant": [9, 9, 1, 2, 3, 9, 9, 9, 9], "reflect": [3, 2, 1, 2, 3, 2, 1, 2, 3],
            "edge": [1, 1, 1, 2, 3, 3, 3, 3, 3], "wrap": [2, 3, 1, 2, 3, 1, 2, 3, 1]}[mode]
    np.testing.assert_array_equal(y, np.array(want, np.float32))


def test_gather_negative_and_scalar_indices():
    (y,) = ref("gather", [X, np.array([[-1, 0]], np.int64)], axis=1)
    assert y.shape == (3, 1, 2, 5)
    np.testing.assert_array_equal(y[:, 0, 0], X[:, 3])
    (s,) = ref("gather", [X, np.array(-2, np.int32)], axis=-1)
    np.testing.assert_array_equal(s, X[:, :, 3])
    with pytest.raises(IndexError):
        ref("gather", [X, np.array([4], np.int64)], axis=1)


def test_broadcast_to_and_tile():
    (b,) = ref("broadcast_to", [np.array([[1], [2]], np.int64)], shape=(3, 2, 4))
    assert b.shape == (3, 2, 4) and (b[:, 1] == 2).all()
    (t,) = ref("tile", [np.array([[1, 2]], np.int8)], repeats=(2, 3))
    np.testing.assert_array_equal(t, [[1, 2] * 3] * 2)


@pytest.mark.parametrize("op,fn", [("reduce_mean", np.mean), ("reduce_sum", np.sum), ("reduce_max", np.max),
                                   ("reduce_min", np.min)])
def test_reductions(op, fn):
    (y,) = ref(op, [X], axes=(-1, 0), keepdims=0)
    np.testing.assert_allclose(y, fn(X, axis=(0, 2)), rtol=1e-6)
    (z,) = ref(op, [X], keepdims=1)
    assert z.shape == (1, 1, 1)


# -- resize against the ONNX reference implementation -------------------------------------
def onnx_resize(x: np.ndarray, scales, **attrs) -> np.ndarray:
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], **attrs)
    return ReferenceEvaluator(node).run(None, {"x": x, "scales": np.array(scales, np.float32)})[0]


@pytest.mark.parametrize("mode,nearest", [("nearest", "round_prefer_floor"), ("nearest", "round_prefer_ceil"),
                                          ("nearest", "floor"), ("nearest", "ceil"), ("linear", None)])
@pytest.mark.parametrize("coord", ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                   "half_pixel_symmetric"])  # the ONNX reference lacks tf_half_pixel_for_nn
@pytest.mark.parametrize("scales", [(1, 1, 2, 3), (1, 1, 0.5, 0.25), (1, 1, 2.5, 1.5)])
def test_resize_reference_matches_onnx_reference(mode, nearest, coord, scales):
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 8)).astype(np.float32)
    attrs = {"mode": mode, "coordinate_transformation_mode": coord}
    if nearest:
        attrs["nearest_mode"] = nearest
    want = onnx_resize(x, scales, **attrs)
    size = tuple(int(np.floor(np.float32(s) * d)) for s, d in zip(scales, x.shape))
    (got,) = ref("resize", [x], size=size, scales=tuple(float(s) for s in scales), mode=mode, coordinate_mode=coord,
                 nearest_mode=nearest or "round_prefer_floor")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_resize_nearest_ties_follow_float32_coordinates():
    """asymmetric, 7 -> 4: x=2 maps to 2 / float32(4/7) = 3.4999998, not 3.5 (onnxruntime picks 3)."""
    x = np.arange(7, dtype=np.float32)
    (y,) = ref("resize", [x], size=(4,), scales=(float(np.float32(4) / np.float32(7)),),
               coordinate_mode="asymmetric", nearest_mode="round_prefer_ceil")
    np.testing.assert_array_equal(y, [0, 2, 3, 5])


@pytest.mark.parametrize("scales,want", [((2.0,), [0, 0, 1, 1, 2, 2]), ((0.6,), [0])])
def test_resize_legacy_rounding_floors_up_and_ceils_down(scales, want):
    x = np.arange(3, dtype=np.float32)
    size = (int(np.floor(np.float32(scales[0]) * 3)),)
    (y,) = ref("resize", [x], size=size, scales=scales, coordinate_mode="asymmetric", nearest_mode="legacy")
    np.testing.assert_array_equal(y, want)
