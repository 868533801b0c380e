"""Range selection against brute-force numpy on known distributions, and per-channel weight scales.

Oracles: np.min/np.max and np.percentile on the raw data; the actual quantize-dequantize error
of candidate ranges evaluated on the raw data (mse); an explicit-loop KL search over the same
histogram, written from TensorRT's description (entropy).
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.quant.observers import Observer
from compiler.quant.ranges import ZERO_RANGE_HALF_WIDTH, Histogram, choose_range, weight_scales

RNG = np.random.default_rng(0)
N = 200_000


def gaussian_with_outliers(n: int = N, outliers: int = 2) -> np.ndarray:
    """The bulk N(0, 1) plus a few far values: the case where clipping pays."""
    far = np.array([-9.0, 10.0, -12.0, 14.0])[:outliers]
    return np.concatenate([RNG.standard_normal(n), far])


DISTRIBUTIONS = {
    "uniform": RNG.uniform(-1.0, 3.0, N),
    "gaussian_outliers": gaussian_with_outliers(),
    "relu": np.maximum(RNG.standard_normal(N), 0.0),
    "relu_outliers": np.concatenate([np.maximum(RNG.standard_normal(N), 0.0), [15.0, 12.0]]),
    "positive_shifted": RNG.uniform(2.0, 5.0, N),
}


def observe(x: np.ndarray, bins: int = 2048, chunks: int = 1) -> Observer:
    """Both passes over ``x`` split into ``chunks`` samples."""
    obs = Observer("t", bins)
    for part in np.array_split(x, chunks):
        obs.update(part)
    obs.start_second_pass()
    for part in np.array_split(x, chunks):
        obs.update(part)
    return obs


def fake_quant(x: np.ndarray, lo: float, hi: float, bits: int = 8) -> np.ndarray:
    """Asymmetric affine quantize-dequantize with an integer zero point."""
    scale = (hi - lo) / (2 ** bits - 1)
    zero_point = np.round(-lo / scale)
    q = np.clip(np.round(x / scale) + zero_point, 0, 2 ** bits - 1)
    return (q - zero_point) * scale


def round_trip_mse(x: np.ndarray, rng: tuple[float, float]) -> float:
    return float(np.mean((fake_quant(x, *rng) - x) ** 2))


@pytest.mark.parametrize("name", DISTRIBUTIONS)
@pytest.mark.parametrize("method", ["minmax", "percentile", "entropy", "mse"])
def test_every_range_contains_zero_and_stays_within_data(name: str, method: str):
    x = DISTRIBUTIONS[name]
    lo, hi = observe(x).range(method)
    assert lo <= 0.0 <= hi and hi > lo
    assert lo >= min(x.min(), 0.0) - 1e-9 and hi <= max(x.max(), 0.0) + 1e-9
    if x.min() >= 0:
        assert lo == 0.0


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_minmax_is_the_extremes_with_zero(name: str):
    x = DISTRIBUTIONS[name]
    assert observe(x).range("minmax") == (min(x.min(), 0.0), max(x.max(), 0.0))


@pytest.mark.parametrize("name", DISTRIBUTIONS)
@pytest.mark.parametrize("p", [99.0, 99.9, 99.99])
def test_percentile_matches_numpy(name: str, p: float):
    x = DISTRIBUTIONS[name]
    obs = observe(x)
    width = obs.histogram.width
    lo, hi = obs.range("percentile", percentile=p)
    want_lo, want_hi = np.percentile(x, [100.0 - p, p])
    assert hi == pytest.approx(max(want_hi, 0.0), abs=width)
    assert lo == pytest.approx(min(want_lo, 0.0), abs=width)


def test_percentile_100_is_minmax():
    x = DISTRIBUTIONS["gaussian_outliers"]
    assert observe(x).range("percentile", percentile=100.0) == pytest.approx(observe(x).range("minmax"))


@pytest.mark.parametrize("method", ["minmax", "percentile", "entropy", "mse"])
def test_all_zero_tensor_gets_a_tiny_symmetric_range(method: str):
    obs = Observer("z")
    obs.update(np.zeros((4, 4)))
    if Observer.needs_second_pass(method):
        obs.start_second_pass()
        obs.update(np.zeros((4, 4)))
    assert obs.range(method) == (-ZERO_RANGE_HALF_WIDTH, ZERO_RANGE_HALF_WIDTH)


def brute_force_mse_range(x: np.ndarray, grid: int = 64) -> tuple[tuple[float, float], float]:
    """Best range over a grid of (lo, hi) candidates, by the actual round-trip error on ``x``."""
    los = np.linspace(min(x.min(), 0.0), 0.0, grid) if x.min() < 0 else [0.0]
    his = np.linspace(0.0, max(x.max(), 0.0), grid + 1)[1:]
    errors = {(lo, hi): round_trip_mse(x, (lo, hi)) for lo in los for hi in his}
    best = min(errors, key=errors.get)
    return best, errors[best]


@pytest.mark.parametrize("name", ["uniform", "gaussian_outliers", "relu", "relu_outliers"])
def test_mse_is_as_good_as_a_brute_force_search(name: str):
    x = DISTRIBUTIONS[name][-50_000:]  # the tail keeps the outliers (appended last) and the search fast
    chosen = observe(x).range("mse")
    _, best = brute_force_mse_range(x)
    assert round_trip_mse(x, chosen) <= best * 1.03


def kl_reference(hist: Histogram, bits: int) -> tuple[float, float]:
    """TensorRT's KL calibration written with explicit loops, over the histogram without exact zeros."""
    counts = list(hist.nonzero_counts())
    bins, zero, steps = hist.bins, hist.zero, 2 ** bits - 1
    best, best_kl = (0, bins), float("inf")
    for k in range(steps, bins + 1):
        start = zero - int(round(k * zero / bins))
        end = start + k
        p = counts[start:end]
        p[0] += sum(counts[:start])
        p[-1] += sum(counts[end:])
        q = [0.0] * k
        for g in range(steps):                       # merge bins into `steps` groups, spread back evenly
            members = [j for j in range(k) if j * steps // k == g]
            mass = sum(counts[start + j] for j in members)
            filled = [j for j in members if counts[start + j] > 0]
            for j in filled:
                q[j] = mass / len(filled)
        p_total, q_total = sum(p), sum(q)
        kl = sum(pi / p_total * np.log((pi / p_total) / max(qi / q_total, 1e-12))
                 for pi, qi in zip(p, q) if pi > 0) if q_total else float("inf")
        if kl < best_kl - 1e-12:
            best, best_kl = (start, end), kl
    return (best[0] - hist.zero) * hist.width, (best[1] - hist.zero) * hist.width


@pytest.mark.parametrize("name", ["uniform", "gaussian_outliers", "relu", "relu_outliers"])
def test_entropy_matches_explicit_kl_search(name: str):
    """Small histogram and 4 bits keep the explicit loops fast; the algorithm is the same at 2048/8."""
    x = DISTRIBUTIONS[name]
    obs = observe(x, bins=128)
    lo, hi = kl_reference(obs.histogram, bits=4)
    want = (min(max(lo, x.min()), 0.0), max(min(hi, x.max()), 0.0))  # clamped to the data, with 0
    assert obs.range("entropy", bits=4) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("method", ["entropy", "mse"])
def test_outliers_get_clipped_and_round_trip_error_drops(method: str):
    x = DISTRIBUTIONS["gaussian_outliers"]
    minmax, chosen = observe(x).range("minmax"), observe(x).range(method)
    assert chosen[1] - chosen[0] < 0.75 * (minmax[1] - minmax[0])
    assert round_trip_mse(x, chosen) < (0.9 if method == "entropy" else 0.75) * round_trip_mse(x, minmax)


def test_entropy_clips_relu_outliers_for_the_bulk():
    """KL is not squared error: on ReLU outputs (exact zeros cost nothing, so 8-bit rounding noise is
    tiny) clipping two far outliers raises the total error, but the bulk of the values gains."""
    x = DISTRIBUTIONS["relu_outliers"]
    minmax, chosen = observe(x).range("minmax"), observe(x).range("entropy")
    assert chosen[1] < 0.5 * minmax[1]
    bulk = x[x <= chosen[1]]
    assert round_trip_mse(bulk, chosen) < 0.2 * round_trip_mse(bulk, minmax)


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_mse_never_loses_to_minmax(name: str):
    x = DISTRIBUTIONS[name]
    assert round_trip_mse(x, observe(x).range("mse")) <= round_trip_mse(x, observe(x).range("minmax")) * 1.01


def test_choose_range_rejects_unknown_method_and_missing_histogram():
    with pytest.raises(ValueError, match="unknown calibration method 'kl'"):
        choose_range("kl", -1.0, 1.0)
    with pytest.raises(ValueError, match="needs a histogram"):
        choose_range("mse", -1.0, 1.0)
    with pytest.raises(ValueError, match="percentile"):
        choose_range("percentile", -1.0, 1.0, observe(DISTRIBUTIONS["uniform"]).histogram, percentile=40)


# -- weights ----------------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_weight_scales_per_channel(axis: int):
    w = RNG.standard_normal((8, 4, 3, 3)).astype(np.float32)
    w[:, 2] *= 10.0
    scales = weight_scales(w, axis=axis)
    moved = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    np.testing.assert_allclose(scales, np.abs(moved).max(axis=1) / 127, rtol=1e-6)
    assert scales.dtype == np.float32 and scales.shape == (w.shape[axis],)
    q = np.round(moved / scales[:, None])
    assert np.abs(q).max() <= 127 and np.isclose(np.abs(q).max(axis=1), 127).all()
    assert np.all(np.abs(q * scales[:, None] - moved) <= scales[:, None] / 2 + 1e-6)


def test_weight_scales_zero_channel_and_bits():
    w = np.ones((3, 5), np.float32)
    w[1] = 0.0
    np.testing.assert_array_equal(weight_scales(w), np.array([1 / 127, 1.0, 1 / 127], np.float32))
    np.testing.assert_allclose(weight_scales(w * 7, bits=4), [1.0, 1.0, 1.0])
