"""Streaming observers: pass structure, streaming == one-shot, histogram == numpy, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.errors import PassError
from compiler.quant.observers import Observer, calibrate_ranges
from compiler.quant.ranges import METHODS

RNG = np.random.default_rng(1)


def observe(samples: list[np.ndarray], bins: int = 2048) -> Observer:
    obs = Observer("t", bins)
    for s in samples:
        obs.update(s)
    obs.start_second_pass()
    for s in samples:
        obs.update(s)
    return obs


def test_needs_second_pass():
    assert [Observer.needs_second_pass(m) for m in METHODS] == [False, True, True, True]
    with pytest.raises(ValueError, match="unknown calibration method"):
        Observer.needs_second_pass("kl")


@pytest.mark.parametrize("data", [
    RNG.standard_normal((64, 3, 5, 5)),
    np.maximum(RNG.standard_normal((64, 8)), 0),
    np.concatenate([RNG.uniform(-0.2, 0.0, (4, 10)), RNG.exponential(2.0, (60, 10))]),
])
def test_streaming_equals_one_shot(data: np.ndarray):
    """Per-sample updates (in any order) give the same statistics and ranges as one big update."""
    one_shot = observe([data])
    streamed = observe(list(data))
    shuffled = observe(list(data[RNG.permutation(len(data))]))
    for obs in (streamed, shuffled):
        assert (obs.lo, obs.hi, obs.count) == (one_shot.lo, one_shot.hi, one_shot.count)
        np.testing.assert_array_equal(obs.histogram.counts, one_shot.histogram.counts)
        for method in METHODS:
            assert obs.range(method) == one_shot.range(method)


def test_histogram_matches_numpy_with_the_same_edges():
    data = RNG.standard_normal(10_000) * 3 + 1
    obs = observe(np.array_split(data, 7), bins=256)
    hist = obs.histogram
    want, _ = np.histogram(data, bins=hist.edges)
    np.testing.assert_array_equal(hist.counts, want)
    assert hist.edges[0] <= data.min() and data.max() <= hist.edges[-1]
    assert 0.0 in hist.edges and hist.total == data.size


def test_histogram_counts_exact_zeros_apart():
    data = np.concatenate([np.zeros(500), RNG.uniform(0.0, 1.0, 500)])
    hist = observe([data], bins=64).histogram
    assert hist.zero == 0 and hist.zeros == 500
    assert hist.nonzero_counts().sum() == 500 and hist.counts[0] >= 500


def test_non_positive_and_constant_tensors():
    neg = observe([-RNG.uniform(0.5, 2.0, 1000)])
    assert neg.histogram.zero == neg.bins
    for method in METHODS:
        lo, hi = neg.range(method)
        assert lo < 0.0 and hi == 0.0
        lo, hi = observe([np.full(100, 3.0)]).range(method)
        assert lo == 0.0 and 0.0 < hi <= 3.0


def test_memory_does_not_grow_with_samples():
    obs = observe([RNG.standard_normal(100) for _ in range(200)], bins=128)
    assert obs.histogram.counts.shape == (128,) and obs.count == 20_000


def test_errors_name_the_tensor():
    obs = Observer("conv1_out")
    with pytest.raises(PassError, match="'conv1_out' saw no values"):
        obs.range("minmax")
    with pytest.raises(PassError, match="'conv1_out' saw no values in the first pass"):
        obs.start_second_pass()
    with pytest.raises(PassError, match="'conv1_out' has NaN or Inf"):
        obs.update(np.array([1.0, np.nan]))
    obs.update(np.array([1.0, -2.0]))
    with pytest.raises(PassError, match="'conv1_out': method 'entropy' needs the second pass"):
        obs.range("entropy")


@pytest.mark.parametrize("method", METHODS)
def test_calibrate_ranges_runs_the_passes(method: str):
    """A toy 'model' with two tensors; the driver must match observers fed by hand."""
    samples = [RNG.standard_normal((1, 16)) for _ in range(20)]
    calls = []

    def run(sample):
        calls.append(1)
        return {"x": sample["x"], "relu": np.maximum(2 * sample["x"], 0)}

    ranges = calibrate_ranges(run, lambda: ({"x": s} for s in samples), method, total=len(samples))
    assert len(calls) == len(samples) * (2 if Observer.needs_second_pass(method) else 1)
    assert ranges["x"] == observe(samples).range(method)
    assert ranges["relu"] == observe([np.maximum(2 * s, 0) for s in samples]).range(method)
