"""``edgec tune`` and ``edgec compile --tuning-db``: MetaSchedule records for a model's fused kernels,
applied where they win, edgec's schedules everywhere else; outputs checked against onnxruntime.

Tuning measures real kernels, so the tests tune one small conv + relu for a few trials (about a
minute on a busy 2-core machine) once per module and share the database.
"""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import onnx
import pytest
from onnx import helper

import runtime
from compiler.cli import main
from tests.oracle import make_model, rand, run_ort

TRIALS = 8  # 2 of edgec's variants (a quarter), 6 from MetaSchedule's search


def conv_relu(channels: int, size: int, out: int) -> onnx.ModelProto:
    model = make_model([helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
                        helper.make_node("Relu", ["c"], ["y"])],
                       {"x": (1, channels, size, size)}, ["y"],
                       {"w": rand(out, channels, 3, 3, seed=1), "b": rand(out, seed=2)})
    model.graph.ClearField("output")
    model.graph.output.append(helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, out, size, size]))
    return model


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """(model path, database folder, tune's stdout) after tuning the conv + relu once."""
    root = tmp_path_factory.mktemp("tuning")
    path = root / "conv_relu.onnx"
    onnx.save(conv_relu(8, 14, 16), path)
    db = root / "db"
    out = _run(["tune", str(path), "--db", str(db), "--trials", str(TRIALS), "--cost-model", "random", "-q"])
    return path, db, out


def _run(argv: list[str], code: int = 0) -> str:
    import contextlib
    import io

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = main(argv)
    assert rc == code, f"edgec {' '.join(argv)} -> {rc}: {stderr.getvalue()}"
    return stdout.getvalue() + stderr.getvalue()


def _records(db) -> int:
    return sum(1 for line in (db / "database_tuning_record.json").read_text().splitlines() if line.strip())


def _compile_and_check(model_path, db, out_dir, *options: str) -> dict:
    """Compile with the database, compare with onnxruntime, return the manifest's tuning entry."""
    _run(["compile", str(model_path), "-o", str(out_dir), "--tuning-db", str(db), *options])
    model = onnx.load(model_path)
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    feeds = {"x": rand(*shape, seed=3)}
    got = runtime.load(out_dir).run(feeds)["y"]
    np.testing.assert_allclose(got, run_ort(model, feeds)[0], rtol=1e-4, atol=1e-4)
    return json.loads((out_dir / "manifest.json").read_text())["tuning"]


def _edited_copy(db, tmp_path, edit) -> tuple:
    """A copy of the database whose tuning log ``edit(log)`` changed: (copy, log)."""
    copy = tmp_path / "db"
    shutil.copytree(db, copy)
    log = json.loads((copy / "edgec_tuning.json").read_text())
    edit(log)
    (copy / "edgec_tuning.json").write_text(json.dumps(log))
    return copy, log


def _edgec_time(seconds: float):
    """An edit that pretends edgec's own kernels took ``seconds`` when tuned (1 s: every tuned record
    wins), without the verdicts of the interleaved timing (which would decide instead)."""
    def edit(log: dict) -> None:
        for task in log["tasks"].values():
            task["edgec_s"] = seconds
            task.pop("verified", None)
        log.pop("model", None)  # nor the whole-model check's choice
    return edit


@pytest.mark.slow
def test_tune_records_trials_and_summary(tuned):
    _, db, out = tuned
    assert _records(db) >= 1
    log = json.loads((db / "edgec_tuning.json").read_text())
    [task] = log["tasks"].values()  # only the conv: layout transposes are not tuned by default
    assert task["family"] == "conv" and task["trials"] == TRIALS and task["edgec_s"] > 0
    assert "fused_conv2d" in out and "1 kernels" in out


@pytest.mark.slow
def test_tune_measures_edgec_variants_and_verifies_the_best(tuned):
    from compiler.codegen.tuning.database import TuningDatabase
    from compiler.codegen.tuning.verify import searched

    _, db, _ = tuned
    [task] = json.loads((db / "edgec_tuning.json").read_text())["tasks"].values()
    assert task["variants"] == TRIALS // 4
    records = [r for line in (db / "database_tuning_record.json").read_text().splitlines() if line.strip()
               for r in [json.loads(line)]]
    assert len(records) >= task["variants"] + 1  # the variants and MetaSchedule's candidates
    database = TuningDatabase(db, create=False)
    workload = database.db.get_all_tuning_records()[0].workload.mod
    kinds = {searched(r) for r in database.records(workload)}
    assert kinds == {True, False}, "both edgec's variants and MetaSchedule's search are in the database"
    if "verified" in task:  # the best was within reach of edgec's schedule: timed again, interleaved
        verdict = task["verified"]
        assert verdict["edgec_s"] > 0 and verdict["tuned_s"] > 0 and len(verdict["record"]) == 16


def _verdict(tuned_over_edgec: float):
    """An edit that records an interleaved timing of the best record: tuned = ratio x edgec's."""
    def edit(log: dict, db) -> None:
        from compiler.codegen.tuning.database import TuningDatabase
        from compiler.codegen.tuning.verify import record_key

        database = TuningDatabase(db, create=False)
        workload = database.db.get_all_tuning_records()[0].workload.mod
        [task] = log["tasks"].values()
        log.pop("model", None)
        task["edgec_s"] = 1e-12  # as tuned, edgec's schedule was faster: the verdict must decide
        task["verified"] = {"record": record_key(database.best(workload)), "edgec_s": 1e-3,
                            "tuned_s": tuned_over_edgec * 1e-3}
    return edit


@pytest.mark.slow
@pytest.mark.parametrize("ratio, used", [(0.9, 1), (0.99, 0), (1.2, 0)])
def test_verdict_decides_whether_a_record_is_used(tuned, tmp_path, ratio, used):
    """Within MARGIN (2%) of edgec's schedule, or slower, a record is not worth it."""
    path, db, _ = tuned
    copy = tmp_path / "db"
    shutil.copytree(db, copy)
    log = json.loads((copy / "edgec_tuning.json").read_text())
    _verdict(ratio)(log, copy)
    (copy / "edgec_tuning.json").write_text(json.dumps(log))
    tuning = _compile_and_check(path, copy, tmp_path / "art")
    assert tuning["tuned"] == used and tuning["slower"] == 1 - used


@pytest.mark.slow
def test_compile_with_tuned_kernels_matches_onnxruntime(tuned, tmp_path):
    path, db, _ = tuned
    copy, _ = _edited_copy(db, tmp_path, _edgec_time(1.0))
    tuning = _compile_and_check(path, copy, tmp_path / "art")
    assert tuning["matched"] == 1 and tuning["tuned"] == 1 and tuning["kernels"] >= 1
    executor = json.loads((tmp_path / "art" / "manifest.json").read_text())["executor"]
    if tuning["searched"]:  # MetaSchedule's kernel: the VM build, which has LLVM's alias analysis
        assert executor == {"kind": "vm", "why": "kernels from MetaSchedule's search run faster in the VM build"}
    else:  # one of edgec's variants
        assert executor["kind"] == "direct"
    tuning = _compile_and_check(path, copy, tmp_path / "direct", "--executor", "direct")  # slower, still right
    assert tuning["tuned"] == 1


@pytest.mark.slow
def test_compile_keeps_edgec_schedule_where_it_is_faster(tuned, tmp_path):
    path, db, _ = tuned
    copy, _ = _edited_copy(db, tmp_path, _edgec_time(1e-12))
    tuning = _compile_and_check(path, copy, tmp_path / "art")
    assert tuning["matched"] == 1 and tuning["tuned"] == 0 and tuning["slower"] == 1


@pytest.mark.slow
def test_resume_skips_finished_kernels(tuned):
    path, db, _ = tuned
    before = _records(db)
    out = _run(["tune", str(path), "--db", str(db), "--trials", str(TRIALS), "--cost-model", "random", "-q"])
    assert _records(db) == before
    assert "0 new trials" in out


@pytest.mark.slow
def test_tune_times_the_whole_model_with_and_without_its_winners(tuned):
    _, db, out = tuned
    model = json.loads((db / "edgec_tuning.json").read_text())["model"]
    assert model["use"] in ("none", "all", "variants") and model["ms"]["none"] > 0
    assert model["executor"]["none"] == "direct" and set(model["ms"]) == set(model["executor"])
    if model["use"] != "none":  # a choice is only made over edgec's schedules if it was faster
        assert model["ms"][model["use"]] < model["ms"]["none"]
    assert "whole model, median: edgec's schedules" in out


@pytest.mark.slow
@pytest.mark.parametrize("use", ["none", "variants"])
def test_compile_follows_the_whole_model_check(tuned, tmp_path, use):
    from compiler.codegen.tuning.database import TuningDatabase
    from compiler.codegen.tuning.verify import searched

    path, db, _ = tuned

    def edit(log: dict) -> None:
        _edgec_time(1.0)(log)  # every record wins its kernel ...
        log["model"] = {"use": use}  # ... but the model check allowed none, or only variants

    copy, _ = _edited_copy(db, tmp_path, edit)
    database = TuningDatabase(copy, create=False)
    best = database.best(database.db.get_all_tuning_records()[0].workload.mod)
    tuning = _compile_and_check(path, copy, tmp_path / "art")
    assert tuning["use"] == use and tuning["matched"] == 1
    assert tuning["tuned"] == (1 if use == "variants" and not searched(best) else 0)


@pytest.mark.slow
def test_keep_best_leaves_one_record_per_kernel(tuned, tmp_path):
    from compiler.codegen.tuning.database import TuningDatabase, mean_seconds

    path, db, _ = tuned
    copy = tmp_path / "db"
    shutil.copytree(db, copy)
    before = TuningDatabase(copy, create=False)
    workload = before.db.get_all_tuning_records()[0].workload.mod
    best = mean_seconds(before.best(workload))
    out = _run(["tune", str(path), "--db", str(copy), "--trials", str(TRIALS), "--cost-model", "random", "-q",
                "--keep-best"])
    assert "0 new trials" in out and f"({_records(db) - 1} others dropped)" in out
    after = TuningDatabase(copy, create=False)
    assert _records(copy) == 1 and mean_seconds(after.best(workload)) == best
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in db.iterdir())  # no leftovers
    copy2, _ = _edited_copy(copy, tmp_path / "edited", _edgec_time(1.0))
    assert _compile_and_check(path, copy2, tmp_path / "art")["tuned"] == 1


@pytest.mark.slow
def test_database_of_another_model_falls_back_to_edgec_schedules(tuned, tmp_path):
    _, db, _ = tuned
    other = tmp_path / "other.onnx"
    onnx.save(conv_relu(4, 10, 8), other)
    tuning = _compile_and_check(other, db, tmp_path / "art")
    assert tuning["kernels"] >= 1 and tuning["matched"] == 0 and tuning["tuned"] == 0


@pytest.mark.slow
def test_database_of_another_target_is_not_applied(tuned, tmp_path):
    path, db, _ = tuned

    def other_target(log: dict) -> None:
        _edgec_time(1.0)(log)
        log["target"] = "llvm aarch64-linux-gnu cortex-a72"

    copy, log = _edited_copy(db, tmp_path, other_target)
    tuning = _compile_and_check(path, copy, tmp_path / "art")
    assert tuning["matched"] == 1 and tuning["tuned"] == 0 and tuning["other_target"] == log["target"]
    out = _run(["tune", str(path), "--db", str(copy), "--trials", "1", "--cost-model", "random", "-q"], code=1)
    assert "holds records for 'llvm aarch64-linux-gnu cortex-a72'" in out


# -- bad input (no tuning runs) ---------------------------------------------------------------
@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(conv_relu(4, 8, 4), path)
    return path


@pytest.mark.parametrize("trials", ["0", "-3"])
def test_trials_must_be_positive(model_file, tmp_path, trials):
    out = _run(["tune", str(model_file), "--db", str(tmp_path / "db"), "--trials", trials], code=2)
    assert "--trials: must be >= 1" in out


def test_db_that_is_a_file(model_file, tmp_path):
    db = tmp_path / "db.json"
    db.write_text("{}")
    out = _run(["tune", str(model_file), "--db", str(db), "--trials", "1", "--cost-model", "random"], code=1)
    assert f"tuning database {db} is a file" in out
    out = _run(["compile", str(model_file), "-o", str(tmp_path / "art"), "--tuning-db", str(db)], code=1)
    assert f"tuning database {db} is a file" in out


def test_compile_with_missing_db(model_file, tmp_path):
    out = _run(["compile", str(model_file), "-o", str(tmp_path / "art"), "--tuning-db", str(tmp_path / "nope")],
               code=1)
    assert "does not exist" in out and "edgec tune" in out
    assert not (tmp_path / "art").exists()


def test_unknown_target(model_file, tmp_path):
    out = _run(["tune", str(model_file), "--db", str(tmp_path / "db"), "--target", "no-such-board"], code=1)
    assert "no-such-board" in out
    assert not (tmp_path / "db").exists()


def test_target_that_does_not_run_here(model_file, tmp_path):
    out = _run(["tune", str(model_file), "--db", str(tmp_path / "db"), "--target", "cuda"], code=1)
    assert "cannot tune for target 'cuda'" in out


def test_xgb_cost_model_without_xgboost(monkeypatch):
    from compiler.codegen.tuning.search import cost_model
    from compiler.errors import EdgecError

    monkeypatch.setitem(sys.modules, "xgboost", None)  # import xgboost raises ImportError
    with pytest.raises(EdgecError, match="pip install xgboost"):
        cost_model("xgb")
