"""The ONNX backend node test cases that edgec claims to support, and what to do with each.

ONNX ships its node tests as code (``onnx.backend.test.case.node``): each case is a small
model (one node, or the node's function body for ``*_expanded`` cases) plus input and
expected output arrays. A case is *selected* when every node of its graph is an ONNX op
with an edgec converter. A selected case either runs (and must match) or is out of scope for
a static-shape compiler (and must then fail with a clean ``EdgecError``):

- ``EXCLUDED`` lists case-name patterns with their reason (dtypes, training mode, ...);
- two rules catch whole families without naming them: cases with zero-size inputs, and cases
  that feed a shape-like input (Reshape's shape, Clip's bounds, axes, pads, ...) as a graph
  input at run time (``STATIC_INPUTS`` names those op inputs).

Cases excluded by the run-time-input rule also run a *frozen* variant, where those inputs
become initializers with the case's values: the model a static compiler would actually see.
"""

from __future__ import annotations

import copy
import fnmatch
import warnings
from functools import lru_cache
from typing import Sequence

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.case.test_case import TestCase

from compiler.frontend.context import CONVERTERS
import compiler.frontend.onnx  # noqa: F401  (registers the converters)

# Why a case is out of scope.
RUNTIME_INPUT = "a shape-like input (shape, axes, pads, bounds, ...) is a graph input fed at run time"
DTYPE = "uses a dtype edgec does not support (float8/4, bfloat16, int2/4, uint16/32/64, string)"
NON_TENSOR = "sequence or optional values, not tensors"
TRAINING = "training mode (batch statistics, random dropout masks); edgec compiles inference graphs"
EMPTY = "zero-size input tensors (a dimension of 0)"
VARIANT = "an op variant edgec refuses with a clear error (not used by edge vision/audio models)"

# Case-name patterns (fnmatch) excluded, with the reason.
EXCLUDED: dict[str, str] = {
    "test_*_uint16": DTYPE, "test_*_uint32": DTYPE, "test_*_uint64": DTYPE, "test_*bfloat16*": DTYPE,
    "test_cast*BFLOAT16*": DTYPE, "test_cast*FLOAT8*": DTYPE, "test_cast*FLOAT4*": DTYPE,
    "test_cast*INT4*": DTYPE, "test_cast*INT2*": DTYPE, "test_cast*UINT4*": DTYPE, "test_cast*UINT2*": DTYPE,
    "test_pow_types_float32_uint*": DTYPE,
    "test_identity_sequence": NON_TENSOR, "test_identity_opt": NON_TENSOR,
    "test_training_dropout*": TRAINING, "test_batchnorm_*_training_mode": TRAINING,
    "test_maxpool_with_argmax_*": VARIANT, "test_resize_*cubic*": VARIANT, "test_resize_*antialias*": VARIANT,
    "test_resize_tf_crop_and_resize*": VARIANT,
    "test_*quantizelinear_e4m3fn*": DTYPE, "test_*quantizelinear_e5m2*": DTYPE,
    "test_*quantizelinear_float4e2m1*": DTYPE, "test_*quantizelinear_*int4*": DTYPE,
    "test_*quantizelinear_*int2*": DTYPE, "test_*quantizelinear_blocked*": VARIANT,
    "test_quantizelinear_int16": VARIANT,
}

# Cases where ONNX's expected output and onnxruntime disagree; edgec follows onnxruntime, so these
# compare against onnxruntime on the same model instead of the stored expected outputs.
ORACLES_DISAGREE: dict[str, str] = {
    "test_resize_downsample_scales_linear_align_corners":
        "with scales, ONNX's reference divides by the unrounded output length (2.4), onnxruntime by the "
        "rounded size (2)",
}

# The run-time-input rule: these ONNX op inputs (by position) must be known at compile time, so a
# case whose graph input reaches one of them (other than through Shape/Size, whose results are
# static) is excluded as RUNTIME_INPUT; its frozen variant makes those graph inputs initializers.
STATIC_INPUTS: dict[str, tuple[int, ...]] = {
    "Clip": (1, 2), "Reshape": (1,), "Expand": (1,), "Tile": (1,), "Pad": (1, 2, 3),
    "Slice": (1, 2, 3, 4), "Squeeze": (1,), "Unsqueeze": (1,), "Split": (1,), "TopK": (1,),
    "ConstantOfShape": (0,), "Resize": (1, 2, 3), "Upsample": (1,), "Range": (0, 1, 2), "OneHot": (1, 2),
    "ReduceMean": (1,), "ReduceSum": (1,), "ReduceMax": (1,), "ReduceMin": (1,), "ReduceProd": (1,),
    "ReduceL1": (1,), "ReduceL2": (1,), "ReduceLogSum": (1,), "ReduceLogSumExp": (1,),
    "ReduceSumSquare": (1,), "CumSum": (1,), "Trilu": (1,), "QuantizeLinear": (1, 2), "DequantizeLinear": (1, 2),
}
SHAPE_OF = {"Shape", "Size"}  # their outputs depend on static shapes only


@lru_cache(maxsize=1)
def all_cases() -> tuple[TestCase, ...]:
    """Every ONNX node test case (built by running ONNX's case generators, ~4 s)."""
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generators overflow casts on purpose
        return tuple(collect_testcases())


def model_ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}" for n in model.graph.node]


def is_selected(case: TestCase) -> bool:
    return all(op in CONVERTERS for op in model_ops(case.model))


def selected_cases() -> list[TestCase]:
    return [c for c in all_cases() if is_selected(c)]


def static_graph_inputs(model: onnx.ModelProto) -> set[str]:
    """Graph inputs whose values flow into a STATIC_INPUTS slot (not only through Shape/Size)."""
    producer = {out: node for node in model.graph.node for out in node.output}
    inputs = {i.name for i in model.graph.input} - {i.name for i in model.graph.initializer}
    todo = [name for node in model.graph.node for i, name in enumerate(node.input)
            if name and i in STATIC_INPUTS.get(node.op_type, ())]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        node = producer.get(name)
        if node is not None and node.op_type not in SHAPE_OF:
            todo.extend(i for i in node.input if i)
    return seen & inputs


def has_empty_tensor(case: TestCase) -> bool:
    return any(normalize(a).size == 0 for inputs, _ in case.data_sets for a in inputs)


def excluded_reason(case: TestCase) -> str | None:
    """Why ``case`` is out of scope: a pattern of EXCLUDED, else the EMPTY and RUNTIME_INPUT rules."""
    for pattern, reason in EXCLUDED.items():
        if fnmatch.fnmatchcase(case.name, pattern):
            return reason
    if has_empty_tensor(case):
        return EMPTY
    return RUNTIME_INPUT if static_graph_inputs(case.model) else None


def case_op(case: TestCase) -> str:
    """The op a case tests: its node's type, or 'Op (expanded)' for a function body (whose
    internal values ONNX names '<Op>_<case>_expanded_function_<value>')."""
    ops = model_ops(case.model)
    if "_expanded" not in case.name:
        return ops[0] if len(set(ops)) == 1 else "+".join(sorted(set(ops)))
    for node in case.model.graph.node:
        for name in [*node.input, *node.output]:
            if "_expanded_function_" in name:
                return f"{name.split('_test_', 1)[0]} (expanded)"
    return f"{case.name.removeprefix('test_').split('_')[0]} (expanded)"


def normalize(value) -> np.ndarray:
    """Case data may hold TensorProtos (exotic dtypes); the backend API takes numpy arrays."""
    return numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else np.asarray(value)


def freeze_inputs(case: TestCase, inputs: Sequence) -> tuple[onnx.ModelProto, list[np.ndarray]]:
    """The case's model with its static graph inputs turned into initializers, and the remaining feeds."""
    model = copy.deepcopy(case.model)
    graph = model.graph
    static = static_graph_inputs(model)
    feeds, keep = [], []
    for value_info, value in zip(list(graph.input), inputs):
        if value_info.name in static:
            graph.initializer.append(numpy_helper.from_array(normalize(value), value_info.name))
        else:
            keep.append(value_info)
            feeds.append(normalize(value))
    del graph.input[:]
    graph.input.extend(keep)
    return model, feeds


def assert_similar_outputs(expected: Sequence, got: Sequence, rtol: float, atol: float) -> None:
    """ONNX's runner check (``Runner.assert_similar_outputs``): count, shape, dtype, then allclose."""
    assert len(got) == len(expected), f"{len(got)} outputs, expected {len(expected)}"
    for i, (have, want) in enumerate(zip(got, expected)):
        want = normalize(want)
        assert have.shape == want.shape, f"output {i}: shape {have.shape}, expected {want.shape}"
        assert have.dtype == want.dtype, f"output {i}: dtype {have.dtype}, expected {want.dtype}"
        np.testing.assert_allclose(have, want, rtol=rtol, atol=atol, err_msg=f"output {i}")
