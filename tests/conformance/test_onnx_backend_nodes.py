"""ONNX's own backend node tests, run through the whole edgec path: ONNX -> IR -> TVM -> run.

One test per selected case (see ``cases.py`` for selection and exclusions). Each case is
compiled once by ``EdgecBackend.prepare`` and run on all its data sets. Outputs are compared
the way ONNX's backend runner does it: same count, shape and dtype, then
``assert_allclose(rtol=case.rtol, atol=case.atol)`` -- 1e-3 / 1e-7 for every node case.
The session summary prints the pass count (``conftest.py``).
"""

from __future__ import annotations

import pytest

from compiler.backend import EdgecBackend
from compiler.errors import EdgecError
from tests.conformance.cases import (ORACLES_DISAGREE, RUNTIME_INPUT, assert_similar_outputs, case_op,
                                     excluded_reason, freeze_inputs, normalize, selected_cases)
from tests.oracle import run_ort

pytestmark = pytest.mark.slow

SELECTED = selected_cases()
REASONS = {c.name: excluded_reason(c) for c in SELECTED}
RUNNABLE = [c for c in SELECTED if REASONS[c.name] is None]
EXCLUDED_CASES = [c for c in SELECTED if REASONS[c.name] is not None]
FROZEN = [c for c in EXCLUDED_CASES if REASONS[c.name] == RUNTIME_INPUT]


def _ids(cases):
    return [c.name for c in cases]


def _run_and_compare(model, data_sets, rtol: float, atol: float) -> None:
    rep = EdgecBackend.prepare(model)
    try:
        for inputs, expected in data_sets:
            assert_similar_outputs(expected, rep.run(inputs), rtol, atol)
    finally:
        rep.close()


@pytest.mark.parametrize("case", RUNNABLE, ids=_ids(RUNNABLE))
def test_node(case, record_property):
    record_property("op", case_op(case))
    data = [([normalize(x) for x in inputs], outputs) for inputs, outputs in case.data_sets]
    _run_and_compare(case.model, data, case.rtol, case.atol)


@pytest.mark.parametrize("case", EXCLUDED_CASES, ids=_ids(EXCLUDED_CASES))
def test_excluded_case_fails_cleanly(case, record_property):
    """An out-of-scope case must be refused with a one-line EdgecError, not crash or pass."""
    record_property("op", case_op(case))
    record_property("reason", REASONS[case.name])
    with pytest.raises(EdgecError) as err:
        rep = EdgecBackend.prepare(case.model)
        try:
            rep.run([normalize(x) for x in case.data_sets[0][0]])
        finally:
            rep.close()
    assert "\n" not in str(err.value).strip(), f"multi-line error: {err.value}"


@pytest.mark.parametrize("case", FROZEN, ids=_ids(FROZEN))
def test_node_frozen(case, record_property):
    """The case with its shape-like inputs made initializers, as a static model would have them."""
    record_property("op", case_op(case))
    for inputs, expected in case.data_sets:
        model, feeds = freeze_inputs(case, inputs)
        if case.name in ORACLES_DISAGREE:
            record_property("oracle", "onnxruntime: " + ORACLES_DISAGREE[case.name])
            expected = run_ort(model, {vi.name: x for vi, x in zip(model.graph.input, feeds)})
        _run_and_compare(model, [(feeds, expected)], case.rtol, case.atol)
