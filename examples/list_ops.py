"""Print the README's table of supported ONNX ops and the IR ops they become.

    python examples/list_ops.py             # print the markdown table
    python examples/list_ops.py --readme    # rewrite it in README.md, between the ops-table markers

The ONNX ops are the registered converters (``compiler.frontend.context.CONVERTERS``). The IR
ops are observed, not declared: every ONNX node test case for the op (from the ``onnx``
package) is imported as written, with all inputs but the first turned into constants
(shape-like inputs must be constants), and with all inputs constant; the IR ops in the
results are listed. Ops that only compute shapes fold away at import; an op none of whose
cases import shows "-".
"""

from __future__ import annotations

import re
import sys
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compiler.frontend.context import CONVERTERS  # noqa: E402
from compiler.frontend.onnx import import_onnx  # noqa: E402


def node_test_cases() -> dict[str, list]:
    """ONNX node test cases by op type (single-op models only, no '_expanded' function bodies)."""
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    by_op = defaultdict(list)
    for case in cases:
        ops = {n.op_type for n in case.model.graph.node}
        if len(ops) == 1 and "_expanded" not in case.name:
            by_op[ops.pop()].append(case)
    return by_op


def variants(case) -> list[onnx.ModelProto]:
    """The case's model as written, with inputs 2..n as constants, and with all inputs as constants."""
    models = [case.model]
    if not case.data_sets:
        return models
    for first_constant in (1, 0):
        model = onnx.ModelProto()
        model.CopyFrom(case.model)
        inputs = list(model.graph.input)
        pairs = list(zip(inputs, case.data_sets[0][0]))[first_constant:]
        if not pairs or not all(isinstance(value, (np.ndarray, np.generic)) for _, value in pairs):
            continue  # nothing to turn into constants, or sequence/optional inputs
        for info, value in pairs:
            model.graph.initializer.append(numpy_helper.from_array(np.asarray(value), info.name))
            model.graph.input.remove(info)
        models.append(model)
    return models


def computed_ops(graph) -> set[str]:
    """IR ops that compute something; an identity on a constant only names a folded output."""
    return {n.op for n in graph.nodes if not (n.op == "identity" and n.inputs[0] in graph.constants)}


def describe(cases) -> str:
    """The IR ops an ONNX op became in any of its test cases ('folded' if only constants came out)."""
    found: set[str] = set()
    imported = False
    for case in cases:
        for model in variants(case):
            try:
                graph = import_onnx(model)
            except Exception:  # a case the converter refuses (an EdgecError, e.g. a dtype) adds nothing
                continue
            imported = True
            found |= computed_ops(graph)
    if found:
        return ", ".join(f"`{op}`" for op in sorted(found))
    return "folded to a constant at import" if imported else "-"


def table() -> str:
    cases = node_test_cases()
    rows = ["| ONNX op | edgec IR op(s) |", "|---|---|"]
    rows += [f"| {op} | {describe(cases.get(op, []))} |" for op in sorted(CONVERTERS)]
    return "\n".join(rows)


def update_readme(path: Path, text: str) -> None:
    """Replace the lines between the ``<!-- ops-table:start ...-->`` and ``<!-- ops-table:end -->`` markers."""
    readme = path.read_text()
    pattern = re.compile(r"(<!-- ops-table:start[^\n]*-->\n).*?(<!-- ops-table:end -->)", re.S)
    if not pattern.search(readme):
        sys.exit(f"{path}: no ops-table markers found")
    path.write_text(pattern.sub(lambda m: m.group(1) + text + "\n" + m.group(2), readme))


if __name__ == "__main__":
    if sys.argv[1:] == ["--readme"]:
        update_readme(ROOT / "README.md", table())
    else:
        print(table())
