"""Session summary for the ONNX conformance tests: pass counts, and the failures grouped by op."""

from __future__ import annotations

from collections import defaultdict

MODULE = "test_onnx_backend_nodes.py"
_results: dict[str, dict[str, tuple[str, str, str]]] = defaultdict(dict)  # test fn -> case -> (outcome, op, why)


def pytest_runtest_logreport(report):
    if MODULE not in report.nodeid or "[" not in report.nodeid:
        return
    if report.when != "call" and not (report.failed or report.skipped):
        return
    func, case = report.nodeid.split("::")[-1].rstrip("]").split("[", 1)
    op = dict(report.user_properties).get("op", "?")
    why = ""
    if report.failed and report.longrepr is not None:
        crash = getattr(report.longrepr, "reprcrash", None)
        why = (crash.message if crash is not None else str(report.longrepr)).strip().splitlines()[0][:160]
    _results[func][case] = (report.outcome, op, why)


def _count(func: str) -> tuple[int, int]:
    outcomes = [o for o, _, _ in _results[func].values()]
    return outcomes.count("passed"), len(outcomes)


def pytest_terminal_summary(terminalreporter):
    if not _results:
        return
    write = terminalreporter.write_line
    passed, total = _count("test_node")
    clean, excluded = _count("test_excluded_case_fails_cleanly")
    frozen_passed, frozen = _count("test_node_frozen")
    terminalreporter.section("ONNX backend conformance")
    write(f"ONNX backend node tests: {passed} passed of {total} run ({excluded} more selected but excluded, "
          f"{clean} of them refused cleanly; frozen variants: {frozen_passed} passed of {frozen})")
    by_op: dict[str, list[str]] = defaultdict(list)
    for func, cases in _results.items():
        for case, (outcome, op, why) in sorted(cases.items()):
            if outcome == "failed":
                tag = {"test_node_frozen": " [frozen]", "test_excluded_case_fails_cleanly": " [excluded]"}.get(func, "")
                by_op[op].append(f"{case}{tag}: {why}")
    for op in sorted(by_op):
        write(f"  {op}: {len(by_op[op])} failed")
        for line in by_op[op]:
            write(f"    {line}")
