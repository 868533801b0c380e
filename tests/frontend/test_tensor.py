"""Data-movement, reduction and resize ops: ONNX -> IR -> {interpreter, TVM, exported ONNX} vs onnxruntime."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.errors import FrontendError
from compiler.frontend.onnx import import_onnx
from tests.oracle import check_model, make_model, rand

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


def ints(*values) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def one_node(op, inputs, shape, opset=17, consts=None, outputs=("y",), **attrs) -> onnx.ModelProto:
    """A model of one node whose first input is the float input 'x' of ``shape``; others are initializers."""
    node = helper.make_node(op, ["x", *inputs], list(outputs), **attrs)
    return make_model([node], {"x": shape}, list(outputs), consts, opset=opset)


def check(model, shape, **kw):
    return check_model(model, {"x": rand(*shape)}, **kw)


def ops(graph) -> list[str]:
    return [n.op for n in graph.nodes]


# -- reshape family -----------------------------------------------------------------------
@pytest.mark.parametrize("spec", [(4, -1), (0, -1), (-1,), (0, 0, 0), (2, 12), (1, 2, 3, 4), (0, 3, 2, -1)])
@pytest.mark.parametrize("opset", [7, 13, 14])
def test_reshape(spec, opset):
    graph = check(one_node("Reshape", ["s"], (2, 3, 4), opset, {"s": ints(*spec)}), (2, 3, 4))
    assert ops(graph) in (["reshape"], ["identity"])


def test_reshape_allowzero_takes_zero_literally():
    check(one_node("Reshape", ["s"], (2, 3), 14, {"s": ints(3, -1)}, allowzero=1), (2, 3))
    with pytest.raises(FrontendError, match=r"cannot reshape input of shape \[2, 3\]"):
        import_onnx(one_node("Reshape", ["s"], (2, 3), 14, {"s": ints(0, 6)}, allowzero=1))


@pytest.mark.parametrize("axis", [0, 1, 2, 3, -1, -3])
@pytest.mark.parametrize("opset", [9, 13])
def test_flatten(axis, opset):
    if axis < 0 and opset < 11:
        pytest.skip("negative axes arrived in opset 11")
    check(one_node("Flatten", [], (2, 3, 4), opset, axis=axis), (2, 3, 4))


@pytest.mark.parametrize("opset,axes", [(11, (1, -1)), (11, None), (13, (1, -1)), (13, None), (7, (3,))])
def test_squeeze(opset, axes):
    if opset >= 13:
        model = one_node("Squeeze", ["a"] if axes else [], (2, 1, 3, 1), opset, {"a": ints(*axes)} if axes else {})
    else:
        model = one_node("Squeeze", [], (2, 1, 3, 1), opset, **({"axes": list(axes)} if axes else {}))
    check(model, (2, 1, 3, 1))


@pytest.mark.parametrize("opset,axes", [(11, (0, -1)), (13, (0, -1)), (13, (1, 3)), (7, (2,))])
def test_unsqueeze(opset, axes):
    if opset >= 13:
        model = one_node("Unsqueeze", ["a"], (2, 3), opset, {"a": ints(*axes)})
    else:
        model = one_node("Unsqueeze", [], (2, 3), opset, axes=list(axes))
    check(model, (2, 3))


@pytest.mark.parametrize("perm", [None, (0, 2, 1), (2, 0, 1)])
def test_transpose(perm):
    attrs = {} if perm is None else {"perm": list(perm)}
    check(one_node("Transpose", [], (2, 3, 4), **attrs), (2, 3, 4))


@pytest.mark.parametrize("axis,opset", [(1, 17), (-1, 13), (0, 7)])
def test_concat_with_constant(axis, opset):
    shape = (2, 3, 4)
    other = list(shape)
    other[axis] = 2
    model = one_node("Concat", ["c", "x"], shape, opset, {"c": rand(*other, seed=3)}, axis=axis)
    check(model, shape)


# -- split --------------------------------------------------------------------------------
@pytest.mark.parametrize("opset,split,axis,count", [
    (11, (1, 3, 2), 1, 3), (13, (1, 3, 2), 1, 3), (13, (4, 3), -1, 2), (7, None, 0, 2), (13, None, 1, 3),
    (18, None, 1, 3), (18, None, 2, 4),
])
def test_split(opset, split, axis, count):
    outputs = [f"y{i}" for i in range(count)]
    extra = {}
    if split is not None and opset >= 13:
        model = one_node("Split", ["s"], (4, 6, 7), opset, {"s": ints(*split)}, outputs, axis=axis)
    else:
        if split is not None:
            extra["split"] = list(split)
        if opset >= 18:
            extra["num_outputs"] = count
        model = one_node("Split", [], (4, 6, 7), opset, None, outputs, axis=axis, **extra)
    check(model, (4, 6, 7))


def test_split_uneven_num_outputs_last_smaller():
    model = one_node("Split", [], (7, 2), 18, None, ["a", "b", "c"], axis=0, num_outputs=3)
    graph = check(model, (7, 2))
    assert [graph.types[o].shape[0] for o in graph.outputs] == [3, 3, 1]


def test_split_uneven_before_opset18_is_an_error():
    model = one_node("Split", [], (7, 2), 13, None, ["a", "b"], axis=0)
    with pytest.raises(FrontendError, match="equal parts"):
        import_onnx(model)


# -- slice --------------------------------------------------------------------------------
SLICES = [  # starts, ends, axes, steps on a (5, 6, 7) input
    ((1, 0), (3, 6), (0, 1), (1, 2)),
    ((-3,), (INT64_MAX,), (2,), None),               # negative start, INT_MAX end
    ((0,), (100,), (1,), None),                      # end out of range
    ((-100,), (2,), (0,), None),                     # start far below range
    ((4,), (-100,), (0,), (-1,)),                    # negative step through index 0
    ((INT64_MAX,), (INT64_MIN,), (-1,), (-2,)),      # full reverse with big bounds
    ((5, 1), (0, 6), (-1, -2), (-2, 3)),
    ((2,), (2,), (1,), None),                        # empty
]


@pytest.mark.parametrize("starts,ends,axes,steps", SLICES)
def test_slice(starts, ends, axes, steps):
    consts = {"s": ints(*starts), "e": ints(*ends), "a": ints(*axes)}
    names = ["s", "e", "a"]
    if steps is not None:
        consts["t"] = ints(*steps)
        names.append("t")
    empty = starts == ends
    check(one_node("Slice", names, (5, 6, 7), 13, consts), (5, 6, 7), tvm=not empty)


@pytest.mark.parametrize("opset", [7, 9])
def test_slice_attributes(opset):
    model = one_node("Slice", [], (5, 6, 7), opset, starts=[1, -4], ends=[1000, -1], axes=[0, 2])
    check(model, (5, 6, 7))


def test_slice_without_axes_input():
    check(one_node("Slice", ["s", "e"], (5, 6), 10, {"s": ints(1, 2), "e": ints(4, -1)}), (5, 6))


# -- pad ----------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("pads", [(0, 1, 2, 2, 0, 3), (1, 0, 0, 0, 2, 1)])
def test_pad_opset11(mode, pads):
    consts = {"p": ints(*pads), "v": np.array(1.5, np.float32)}
    check(one_node("Pad", ["p", "v"], (3, 4, 5), 11, consts, mode=mode), (3, 4, 5))


def test_pad_attributes_opset7():
    check(one_node("Pad", [], (3, 4), 7, pads=[1, 2, 0, 1], value=-2.0), (3, 4))


def test_pad_negative_crops():
    check(one_node("Pad", ["p"], (3, 4, 5), 13, {"p": ints(1, -1, 0, -2, 2, 1)}), (3, 4, 5))


def test_pad_axes_input_opset18():
    consts = {"p": ints(2, 1, 0, 3), "v": np.array(0.5, np.float32), "a": ints(-1, 1)}
    check(one_node("Pad", ["p", "v", "a"], (2, 3, 4), 18, consts), (2, 3, 4))


def test_pad_wrap_opset19():
    check(one_node("Pad", ["p"], (3, 4), 19, {"p": ints(1, 2, 2, 5)}, mode="wrap"), (3, 4))


def test_pad_reflect_wider_than_input_uses_gathers():
    graph = import_onnx(one_node("Pad", ["p"], (3, 4), 13, {"p": ints(0, 5, 0, 6)}, mode="reflect"))
    from compiler.ir import interpreter
    from tests.oracle import run_tvm

    x = rand(3, 4)
    want = np.pad(x, [(0, 0), (5, 6)], mode="reflect")  # onnxruntime refuses pads this wide
    np.testing.assert_array_equal(interpreter.run(graph, {"x": x})["y"], want)
    np.testing.assert_array_equal(run_tvm(graph, {"x": x})[0], want)


# -- gather -------------------------------------------------------------------------------
@pytest.mark.parametrize("axis,indices", [(0, ints(2, 0, -1)), (1, ints(-2)), (-1, np.array([[0, 3], [-4, 1]])),
                                          (1, np.array(2, np.int64)), (2, np.array([1, -1], np.int32))])
def test_gather_constant_indices(axis, indices):
    check(one_node("Gather", ["i"], (3, 4, 4), 13, {"i": indices}, axis=axis), (3, 4, 4))


def test_gather_runtime_indices_may_be_negative():
    graph = helper.make_graph([helper.make_node("Gather", ["x", "i"], ["y"], axis=1)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 5]),
                               helper.make_tensor_value_info("i", TensorProto.INT64, [2, 2])],
                              [helper.make_empty_tensor_value_info("y")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    check_model(model, {"x": rand(3, 5), "i": ints(0, -1, 4, -5).reshape(2, 2)})


def test_gather_out_of_range_constant_index():
    with pytest.raises(FrontendError, match="out of range"):
        import_onnx(one_node("Gather", ["i"], (3, 4), 13, {"i": ints(3)}))


# -- constants and shape folding ----------------------------------------------------------
def test_shape_subgraph_folds_to_a_single_reshape():
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Unsqueeze", ["batch", "axes0"], ["batch1"]),
        helper.make_node("Concat", ["batch1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    consts = {"zero": np.array(0, np.int64), "axes0": ints(0), "minus1": ints(-1)}
    graph = check_model(make_model(nodes, {"x": (2, 3, 4)}, ["y"], consts, opset=13), {"x": rand(2, 3, 4)})
    assert ops(graph) == ["reshape"] and graph.types["y"].shape == (2, 12)
    assert not graph.constants


@pytest.mark.parametrize("start,end", [(None, None), (1, None), (-2, None), (0, -1), (-10, 10)])
def test_shape_start_end_opset15(start, end):
    attrs = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    nodes = [helper.make_node("Shape", ["x"], ["s"], **attrs), helper.make_node("Cast", ["s"], ["sf"], to=1),
             helper.make_node("ReduceSum", ["sf"], ["n"], keepdims=0), helper.make_node("Add", ["x", "n"], ["y"])]
    check_model(make_model(nodes, {"x": (2, 3, 4)}, ["y"], opset=15), {"x": rand(2, 3, 4)})


@pytest.mark.parametrize("attr,value", [
    ("value", numpy_helper.from_array(np.arange(4, dtype=np.float32).reshape(1, 4))),
    ("value_float", 2.5), ("value_floats", [1.0, 2.0, 3.0, 4.0])])
def test_constant_attributes(attr, value):
    nodes = [helper.make_node("Constant", [], ["c"], **{attr: value}), helper.make_node("Add", ["x", "c"], ["y"])]
    check_model(make_model(nodes, {"x": (3, 4)}, ["y"], opset=13), {"x": rand(3, 4)})


def test_constant_of_shape_size_range_fold():
    nodes = [
        helper.make_node("Constant", [], ["dims"], value_ints=[3, 4]),
        helper.make_node("ConstantOfShape", ["dims"], ["ones"],
                         value=numpy_helper.from_array(np.array([1.0], np.float32))),
        helper.make_node("Size", ["x"], ["n"]),
        helper.make_node("Range", ["zero", "n", "three"], ["r"]),       # 0, 3, 6, 9
        helper.make_node("Cast", ["r"], ["rf"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["rf", "shape14"], ["row"]),
        helper.make_node("Add", ["ones", "row"], ["bias"]),
        helper.make_node("Add", ["x", "bias"], ["y"]),
    ]
    consts = {"zero": np.array(0, np.int64), "three": np.array(3, np.int64), "shape14": ints(1, 4)}
    graph = check_model(make_model(nodes, {"x": (3, 4)}, ["y"], consts, opset=13), {"x": rand(3, 4)})
    assert ops(graph) == ["add"]


def test_expand_and_tile():
    nodes = [helper.make_node("Expand", ["x", "shape"], ["e"]), helper.make_node("Tile", ["e", "reps"], ["y"])]
    model = make_model(nodes, {"x": (3, 1)}, ["y"], {"shape": ints(2, 1, 4), "reps": ints(1, 2, 3)}, opset=13)
    graph = check_model(model, {"x": rand(3, 1)})
    assert ops(graph) == ["broadcast_to", "tile"]


# -- reductions ---------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin"])
@pytest.mark.parametrize("opset", [11, 13, 18])
@pytest.mark.parametrize("axes,keepdims", [((1,), 1), ((-1, 0), 0), (None, 1), (None, 0)])
def test_reduce(op, opset, axes, keepdims):
    as_input = opset >= (13 if op == "ReduceSum" else 18)
    if axes is not None and as_input:
        model = one_node(op, ["a"], (2, 3, 4), opset, {"a": ints(*axes)}, keepdims=keepdims)
    else:
        model = one_node(op, [], (2, 3, 4), opset, keepdims=keepdims, **({"axes": list(axes)} if axes else {}))
    check(model, (2, 3, 4))


def test_reduce_noop_with_empty_axes():
    graph = check(one_node("ReduceMean", [], (2, 3), 18, noop_with_empty_axes=1), (2, 3))
    assert ops(graph) == ["identity"]


# -- resize -------------------------------------------------------------------------------
NEAREST_MODES = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]
COORD_MODES = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn"]
SCALES = [(1, 1, 2, 2), (1, 1, 3, 1.5), (1, 1, 0.5, 0.6), (1, 1, 1.7, 0.75), (1, 1, 1, 2.5)]


def resize_model(shape, opset=13, scales=None, sizes=None, **attrs):
    names, consts = ["", "", ""], {}
    if scales is not None:
        names[1], consts["sc"] = "sc", np.array(scales, np.float32)
    if sizes is not None:
        names[2], consts["sz"] = "sz", ints(*sizes)
    if opset < 13 and scales is None:
        names[1], consts["sc"] = "sc", np.zeros(0, np.float32)
    if opset < 13:
        names[0], consts["roi"] = "roi", np.zeros(0, np.float32)
    while names and not names[-1]:
        names.pop()
    return one_node("Resize", names, shape, opset, consts, **attrs)


@pytest.mark.parametrize("coord", COORD_MODES)
@pytest.mark.parametrize("nearest", NEAREST_MODES)
@pytest.mark.parametrize("scales", SCALES)
def test_resize_nearest(coord, nearest, scales):
    model = resize_model((1, 2, 5, 6), scales=scales, mode="nearest", coordinate_transformation_mode=coord,
                         nearest_mode=nearest)
    check(model, (1, 2, 5, 6))


@pytest.mark.parametrize("coord", COORD_MODES)
@pytest.mark.parametrize("scales", SCALES)
def test_resize_linear(coord, scales):
    model = resize_model((1, 2, 5, 6), scales=scales, mode="linear", coordinate_transformation_mode=coord)
    check(model, (1, 2, 5, 6))


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("coord", COORD_MODES)
@pytest.mark.parametrize("sizes", [(1, 2, 10, 12), (1, 2, 3, 4), (1, 2, 7, 1), (1, 2, 1, 9)])
def test_resize_sizes(mode, coord, sizes):
    model = resize_model((1, 2, 5, 6), sizes=sizes, mode=mode, coordinate_transformation_mode=coord)
    check(model, (1, 2, 5, 6))


def test_resize_linear_uses_tvm_resize2d_when_scales_match_sizes():
    from compiler.codegen.lower import to_relax

    graph = import_onnx(resize_model((1, 2, 5, 6), sizes=(1, 2, 10, 9), mode="linear"))
    assert "image.resize2d" in to_relax(graph).script()


@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_opset11_13_defaults(opset, mode):
    check(resize_model((1, 3, 4, 4), opset, scales=(1, 1, 2, 2.5), mode=mode), (1, 3, 4, 4))
    check(resize_model((1, 3, 4, 4), opset, sizes=(1, 3, 7, 3), mode=mode), (1, 3, 4, 4))


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("scales", [(1, 1, 2, 3), (1, 1, 0.5, 0.75), (1, 1, 1.5, 2.5), (1, 1, 2, 0.5)])
def test_resize_opset10(mode, scales):
    check(one_node("Resize", ["s"], (1, 2, 4, 6), 10, {"s": np.array(scales, np.float32)}, mode=mode),
          (1, 2, 4, 6))


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_upsample_opset7_and_9(mode):
    check(one_node("Upsample", [], (1, 2, 3, 4), 7, scales=[1.0, 1.0, 2.0, 3.0], mode=mode), (1, 2, 3, 4))
    check(one_node("Upsample", ["s"], (1, 2, 3, 4), 9, {"s": np.array([1, 1, 2, 1.5], np.float32)}, mode=mode),
          (1, 2, 3, 4))


@pytest.mark.parametrize("policy", ["stretch", "not_larger", "not_smaller"])
def test_resize_opset18_axes_and_aspect_policy(policy):
    model = resize_model((1, 2, 5, 6), 18, sizes=(8, 9), axes=[2, 3], keep_aspect_ratio_policy=policy,
                         mode="linear")
    check(model, (1, 2, 5, 6))


def test_resize_opset18_scales_on_axes():
    check(resize_model((1, 2, 5, 6), 18, scales=(2.0, 0.5), axes=[-1, -2], mode="nearest"), (1, 2, 5, 6))


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_opset19_half_pixel_symmetric(mode):
    check(resize_model((1, 2, 5, 6), 19, scales=(1, 1, 1.5, 0.7), mode=mode,
                       coordinate_transformation_mode="half_pixel_symmetric"), (1, 2, 5, 6))


@pytest.mark.parametrize("shape,scales", [((4, 6), (2, 1.5)), ((2, 5, 6), (1, 2, 0.5)),
                                          ((1, 2, 3, 4, 5), (1, 1, 2, 1.5, 0.6))])
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_other_ranks(shape, scales, mode):
    check(resize_model(shape, scales=scales, mode=mode), shape)


def test_resize_nhwc_linear():
    check(resize_model((1, 5, 6, 3), scales=(1, 2, 1.5, 1), mode="linear"), (1, 5, 6, 3))


# -- clear errors -------------------------------------------------------------------------
def _graph_input_model(op, shape_input_dims, attrs=None, opset=13):
    graph = helper.make_graph([helper.make_node(op, ["x", "s"], ["y"], **(attrs or {}))], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4]),
                               helper.make_tensor_value_info("s", TensorProto.INT64, shape_input_dims)],
                              [helper.make_empty_tensor_value_info("y")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("op", ["Reshape", "Expand", "Tile", "Squeeze", "Unsqueeze"])
def test_non_constant_shape_input_is_a_clear_error(op):
    with pytest.raises(FrontendError, match=rf"{op} node .*must be a constant"):
        import_onnx(_graph_input_model(op, [3 if op in ("Reshape", "Expand", "Tile") else 1]))


@pytest.mark.parametrize("attrs,match", [
    ({"mode": "cubic"}, "cubic interpolation is not supported"),
    ({"coordinate_transformation_mode": "tf_crop_and_resize"}, "tf_crop_and_resize"),
])
def test_resize_unsupported_modes(attrs, match):
    with pytest.raises(FrontendError, match=match):
        import_onnx(resize_model((1, 1, 4, 4), scales=(1, 1, 2, 2), **attrs))


def test_resize_antialias_downscale_is_unsupported():
    with pytest.raises(FrontendError, match="antialias"):
        import_onnx(resize_model((1, 1, 4, 4), 18, scales=(1, 1, 0.5, 0.5), mode="linear", antialias=1))


def test_squeeze_of_a_wide_axis_is_an_error():
    with pytest.raises(FrontendError, match="size is not 1"):
        import_onnx(one_node("Squeeze", ["a"], (2, 3), 13, {"a": ints(0)}))


def test_integer_tensors_move_exactly():
    nodes = [
        helper.make_node("Pad", ["x", "pads", "seven"], ["p"]),
        helper.make_node("Slice", ["p", "starts", "ends", "axes", "steps"], ["s"]),
        helper.make_node("Transpose", ["s"], ["t"]),
        helper.make_node("Tile", ["t", "reps"], ["r"]),
        helper.make_node("Concat", ["r", "r"], ["c"], axis=0),
        helper.make_node("ReduceMax", ["c"], ["y"], axes=[1], keepdims=0),
        helper.make_node("Gather", ["c", "idx"], ["z"], axis=1),
    ]
    consts = {"pads": ints(1, 0, 0, 2), "seven": np.array(7, np.int32), "starts": ints(-1), "ends": ints(INT64_MIN),
              "axes": ints(1), "steps": ints(-2), "reps": ints(1, 2), "idx": ints(-1, 0)}
    model = make_model(nodes, {"x": (3, 4)}, ["y", "z"], consts, opset=13, input_dtype=TensorProto.INT32)
    check_model(model, {"x": np.arange(12, dtype=np.int32).reshape(3, 4) - 5})
