"""Calibration data loading: every source kind and layout, and a clear error for every bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from compiler.errors import InputError
from compiler.ir.types import TensorType
from compiler.quant import calib_data
from compiler.quant.calib_data import count, iter_samples, progress

IMAGE = {"input": TensorType((1, 1, 8, 8), "float32")}
TWO = {"a": TensorType((1, 3), "float32"), "b": TensorType((2,), "int64")}


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, 8, 8), dtype=np.float32)


def stack(samples: list[dict[str, np.ndarray]], name: str = "input") -> np.ndarray:
    return np.stack([s[name] for s in samples])


def error(source, inputs=IMAGE, **kw) -> str:
    """The one-line InputError message ``iter_samples`` raises for ``source``."""
    with pytest.raises(InputError) as info:
        list(iter_samples(source, inputs, **kw))
    message = str(info.value)
    assert "\n" not in message
    return message


# -- sources and layouts ----------------------------------------------------------------------
def test_npz_batched_layout(tmp_path: Path):
    """[S, 1, 8, 8] for a batch-1 input [1, 1, 8, 8]: one sample per row."""
    x = images(5)
    np.savez(tmp_path / "c.npz", input=x)
    samples = list(iter_samples(tmp_path / "c.npz", IMAGE))
    assert len(samples) == 5 == count(tmp_path / "c.npz", IMAGE)
    assert all(s["input"].shape == (1, 1, 8, 8) and s["input"].dtype == np.float32 for s in samples)
    np.testing.assert_array_equal(stack(samples)[:, 0], x)


def test_npz_stacked_layout(tmp_path: Path):
    """[S, 1, 1, 8, 8]: each sample already has the input's shape."""
    x = images(4)[:, None]
    np.savez(tmp_path / "c.npz", input=x)
    np.testing.assert_array_equal(stack(list(iter_samples(str(tmp_path / "c.npz"), IMAGE))), x)


def test_batch_larger_than_one_splits_rows():
    inputs = {"input": TensorType((4, 1, 8, 8), "float32")}
    x = images(12)
    samples = list(iter_samples(x, inputs))
    assert len(samples) == 3 and count(x, inputs) == 3
    np.testing.assert_array_equal(np.concatenate([s["input"] for s in samples]), x)
    assert "[S*4, 1, 8, 8]" in error(images(10), inputs)


def test_npy_and_array_for_single_input(tmp_path: Path):
    x = images(3)
    np.save(tmp_path / "c.npy", x)
    for source in (tmp_path / "c.npy", x, {"input": x}):
        np.testing.assert_array_equal(stack(list(iter_samples(source, IMAGE)))[:, 0], x)


def test_multi_input_npz(tmp_path: Path):
    a = np.arange(12, dtype=np.float32).reshape(4, 3)       # batched: [S*1, 3]
    b = np.arange(8, dtype=np.int64).reshape(4, 2)          # stacked: [S, 2]
    np.savez(tmp_path / "c.npz", a=a, b=b)
    samples = list(iter_samples(tmp_path / "c.npz", TWO))
    assert [s["a"].shape for s in samples] == [(1, 3)] * 4 and [s["b"].shape for s in samples] == [(2,)] * 4
    np.testing.assert_array_equal(samples[2]["b"], [4, 5])


def test_folder_reads_files_in_sorted_order(tmp_path: Path):
    x = images(6)
    np.savez(tmp_path / "b.npz", input=x[2:5])
    np.save(tmp_path / "a.npy", x[:2])
    np.save(tmp_path / "c.npy", x[5:])
    (tmp_path / "notes.txt").write_text("ignored")
    assert count(tmp_path, IMAGE) == 6
    np.testing.assert_array_equal(stack(list(iter_samples(tmp_path, IMAGE)))[:, 0], x)


def test_iterables_of_dicts_arrays_and_paths(tmp_path: Path):
    x = images(5)
    np.save(tmp_path / "c.npy", x[3:])
    items = [{"input": x[:1]}, x[1:3], tmp_path / "c.npy"]   # x[:1] is one sample: the input's shape
    assert count(items, IMAGE) == 5
    np.testing.assert_array_equal(stack(list(iter_samples(items, IMAGE)))[:, 0], x)
    generator = ({"input": row[None]} for row in x)       # one-shot: count cannot tell, iter_samples can
    assert count(generator, IMAGE) is None
    assert len(list(iter_samples(generator, IMAGE))) == 5


def test_limit(tmp_path: Path):
    x = images(10)
    np.savez(tmp_path / "c.npz", input=x)
    assert len(list(iter_samples(tmp_path / "c.npz", IMAGE, limit=3))) == 3
    assert count(tmp_path / "c.npz", IMAGE, limit=3) == 3 and count(x, IMAGE, limit=30) == 10
    assert "at least 1" in error(x, limit=0)


def test_float64_is_cast_with_a_notice():
    notices: list[str] = []
    samples = list(iter_samples(images(2).astype(np.float64), IMAGE, notices=notices))
    assert samples[0]["input"].dtype == np.float32
    assert notices == ["calibration input 'input': float64 data cast to float32"]


def test_integer_data_cast_to_integer_input():
    samples = list(iter_samples({"a": np.ones((2, 3), np.float32), "b": np.ones((2, 2), np.int32)}, TWO))
    assert samples[0]["b"].dtype == np.int64


# -- bad input --------------------------------------------------------------------------------
def test_wrong_shape_names_tensor_and_file(tmp_path: Path):
    np.savez(tmp_path / "c.npz", input=np.zeros((5, 8, 8), np.float32))
    message = error(tmp_path / "c.npz")
    assert "'input'" in message and "c.npz" in message and "[5, 8, 8]" in message
    assert "[S, 1, 1, 8, 8] or [S, 1, 8, 8]" in message
    with pytest.raises(InputError, match="shape"):
        count(tmp_path / "c.npz", IMAGE)


def test_wrong_dtype(tmp_path: Path):
    np.savez(tmp_path / "c.npz", input=(images(2) * 16).astype(np.uint8))
    message = error(tmp_path / "c.npz")
    assert "'input'" in message and "uint8" in message and "float32" in message and "c.npz" in message
    assert "dtype" in error({"a": np.ones((2, 3), np.float32), "b": np.ones((2, 2), np.float32)}, TWO)
    assert "range of int8" in error(np.full((1, 2), 300, np.int64), {"x": TensorType((2,), "int8")})


def test_missing_and_extra_keys(tmp_path: Path):
    np.savez(tmp_path / "c.npz", a=np.ones((2, 3), np.float32), c=np.ones(2))
    message = error(tmp_path / "c.npz", TWO)
    assert "missing input(s) b" in message and "unknown key(s) c" in message and "c.npz" in message
    assert "missing input(s) input" in error({"image": images(1)})


def test_unnamed_array_for_multi_input_model(tmp_path: Path):
    np.save(tmp_path / "c.npy", np.ones((2, 3), np.float32))
    assert "use a .npz file" in error(tmp_path / "c.npy", TWO)
    assert "2 inputs" in error(np.ones((2, 3), np.float32), TWO)


def test_different_sample_counts_per_input():
    message = error({"a": np.ones((3, 3), np.float32), "b": np.ones((2, 2), np.int64)}, TWO)
    assert "different numbers of samples" in message and "'a' 3" in message and "'b' 2" in message


@pytest.mark.parametrize("make", [
    lambda d: np.savez(d / "c.npz", input=np.zeros((0, 1, 8, 8), np.float32)) or d / "c.npz",
    lambda d: d,                                   # an empty folder
    lambda d: [],                                  # an empty list
])
def test_empty_set(tmp_path: Path, make):
    source = make(tmp_path)
    assert "is empty" in error(source)
    with pytest.raises(InputError, match="is empty"):
        count(source, IMAGE)


@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "Inf"), (-np.inf, "Inf")])
def test_non_finite_values_name_tensor_sample_and_file(tmp_path: Path, bad: float, word: str):
    x = images(4)
    x[2, 0, 3, 3] = bad
    np.save(tmp_path / "b.npy", x)
    np.save(tmp_path / "a.npy", images(3))
    message = error(tmp_path)
    assert f"'input' sample 5 (row 2 of file '{tmp_path / 'b.npy'}') contains {word}" in message


@pytest.mark.parametrize("name, content", [
    ("c.npz", b"not a zip archive"),
    ("c.npy", b"not an array"),
    ("c.npz", b"PK\x03\x04truncated"),
])
def test_unreadable_files(tmp_path: Path, name: str, content: bytes):
    (tmp_path / name).write_bytes(content)
    message = error(tmp_path / name)
    assert message.startswith("cannot read calibration file") and name in message


def test_truncated_npz(tmp_path: Path):
    np.savez(tmp_path / "c.npz", input=images(50))
    data = (tmp_path / "c.npz").read_bytes()
    (tmp_path / "c.npz").write_bytes(data[: len(data) // 2])
    assert "cannot read calibration file" in error(tmp_path / "c.npz")


def test_pickled_npz_is_refused(tmp_path: Path):
    np.savez(tmp_path / "c.npz", input=np.array([None] * 2, dtype=object))
    assert "c.npz" in error(tmp_path / "c.npz")


def test_missing_path_unsupported_file_and_type(tmp_path: Path):
    assert "does not exist" in error(tmp_path / "nope.npz")
    (tmp_path / "c.csv").write_text("1,2")
    assert "unsupported file type '.csv'" in error(tmp_path / "c.csv")
    assert "not supported" in error(42)
    assert "expected an array" in error([{"input": None}])


# -- progress bar -----------------------------------------------------------------------------
class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal(monkeypatch):
    items = [1, 2, 3]
    monkeypatch.setattr(calib_data.sys, "stderr", io.StringIO())
    assert progress(items, 3, "x") is items
    tty = FakeTty()
    monkeypatch.setattr(calib_data.sys, "stderr", tty)
    assert list(progress(items, 3, "calibrating")) == items
    assert "calibrating" in tty.getvalue() and "3/3" in tty.getvalue()
