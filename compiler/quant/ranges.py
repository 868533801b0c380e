"""Choosing quantization ranges: activation ranges from statistics, per-channel weight scales.

An activation range ``(lo, hi)`` is what an asymmetric affine quantizer with ``2**bits`` levels
covers; every method returns one that contains 0 (so zero, e.g. padding, is exact). Methods:

- ``minmax``: the observed extremes;
- ``percentile``: the two-sided ``(100 - p, p)`` percentiles, read off the histogram (linear
  inside a bin), clamped to the observed extremes;
- ``entropy``: the TensorRT / onnxruntime KL calibration: among candidate clipping intervals,
  the one whose clipped distribution (outliers folded into the edge bins) loses the least
  information (KL divergence) when merged into ``2**bits - 1`` quantization steps. Candidates
  shrink both sides of zero in proportion, so signed, non-negative and skewed tensors all work.
  KL is not squared error: with frequent far outliers it clips harder than ``mse`` would;
- ``mse``: the interval minimizing the expected squared error of the quantize-dequantize round
  trip (rounding noise ``scale**2 / 12`` inside, squared distance to the edge outside), over a
  grid of bin edges on both sides of zero, computed from the histogram with prefix sums.

The histogram (see ``Histogram``) has fixed-width bins with 0 on a bin edge, spanning the observed
``[min(lo, 0), max(hi, 0)]``; ``observers.py`` fills it. Exact zeros are counted apart: they are
exact under every range, so ``entropy`` and ``mse`` leave them out (``percentile`` keeps them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("minmax", "percentile", "entropy", "mse")
HISTOGRAM_METHODS = ("percentile", "entropy", "mse")
DEFAULT_BINS = 2048
DEFAULT_PERCENTILE = 99.99
# Half-width of the range given to an all-zero tensor: any positive scale represents it exactly;
# not so small that requantization multipliers derived from it overflow.
ZERO_RANGE_HALF_WIDTH = 1e-6
_MSE_MAX_CANDIDATES = 512  # per side of zero: bounds the mse grid to 512 x 512 intervals

Range = tuple[float, float]


@dataclass(frozen=True)
class Histogram:
    """Counts of fixed-width bins; bin ``k`` covers ``[(k - zero) * width, (k + 1 - zero) * width)``."""

    counts: np.ndarray  # float64 [bins]
    width: float
    zero: int  # index of the edge at 0 (0 for a non-negative tensor, bins for a non-positive one)
    zeros: float = 0.0  # how many of the counts are exact zeros (they sit in bin ``zero``)

    @staticmethod
    def layout(lo: float, hi: float, bins: int = DEFAULT_BINS) -> tuple[float, int]:
        """(bin width, zero edge index) for bins that cover ``[min(lo, 0), max(hi, 0)]`` with 0 on an edge."""
        lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
        span = hi - lo
        if span <= 0:
            return 1.0, 0
        zero = int(round(bins * -lo / span))
        zero = min(max(zero, 1 if lo < 0 else 0), bins - 1 if hi > 0 else bins)
        width = max(-lo / zero if zero else 0.0, hi / (bins - zero) if zero < bins else 0.0)
        return width, zero

    @property
    def bins(self) -> int:
        return len(self.counts)

    @property
    def edges(self) -> np.ndarray:
        return (np.arange(self.bins + 1) - self.zero) * self.width

    @property
    def centers(self) -> np.ndarray:
        return (np.arange(self.bins) + 0.5 - self.zero) * self.width

    @property
    def total(self) -> float:
        return float(self.counts.sum())

    def nonzero_counts(self) -> np.ndarray:
        """The counts without the exact zeros, which every range represents exactly (no error).

        Without this, ReLU outputs' spike at 0 would dominate the entropy and mse searches.
        """
        counts = self.counts.copy()
        if self.zeros:
            counts[min(self.zero, self.bins - 1)] -= self.zeros
        return counts


def include_zero(lo: float, hi: float) -> Range:
    """``(lo, hi)`` widened to contain 0; an empty or all-zero range becomes a tiny symmetric one."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo <= 0.0:
        return -ZERO_RANGE_HALF_WIDTH, ZERO_RANGE_HALF_WIDTH
    return lo, hi


def choose_range(method: str, lo: float, hi: float, histogram: Histogram | None = None, *,
                 percentile: float = DEFAULT_PERCENTILE, bits: int = 8) -> Range:
    """The range for ``method`` from the observed extremes ``lo, hi`` and (for histogram methods) the histogram."""
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}; known: {', '.join(METHODS)}")
    if method == "minmax" or lo == hi == 0.0:  # an all-zero tensor needs no histogram
        return include_zero(lo, hi)
    if histogram is None or histogram.total == 0:
        raise ValueError(f"calibration method {method!r} needs a histogram (a second pass over the samples)")
    if method == "percentile":
        low, high = percentile_range(histogram, percentile)
    else:
        low, high = (entropy_range if method == "entropy" else mse_range)(histogram, bits)
    # Bin edges can lie beyond the data (the histogram puts 0 on an edge): never exceed the extremes.
    return include_zero(max(low, lo), min(high, hi))


def percentile_range(hist: Histogram, percentile: float) -> Range:
    """Two-sided percentiles ``(100 - p, p)``, linear inside a bin (``choose_range`` clamps to the data)."""
    if not 50.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (50, 100], got {percentile}")
    if percentile == 100.0:
        return -np.inf, np.inf  # the extremes themselves, after clamping
    cumulative = np.concatenate([[0.0], np.cumsum(hist.counts)])
    n = cumulative[-1]

    def value_at(q: float) -> float:
        # np.percentile's linear rule puts quantile q at rank q * (n - 1) among n sorted values;
        # a value's rank is the count before it plus half its own bin's spread.
        target = q * (n - 1) + 0.5
        return float(np.interp(target, cumulative, hist.edges))

    return value_at(1.0 - percentile / 100.0), value_at(percentile / 100.0)


def entropy_range(hist: Histogram, bits: int = 8) -> Range:
    """KL calibration (TensorRT's algorithm): the candidate interval losing the least information."""
    steps = 2 ** bits - 1
    counts, bins, zero = hist.nonzero_counts(), hist.bins, hist.zero
    if bins <= steps:
        return include_zero(*_edges_of(hist, 0, bins))
    best, best_kl = (0, bins), np.inf
    for k in range(steps, bins + 1):
        start = zero - int(round(k * zero / bins))
        end = start + k
        kl = _kl_divergence(counts, start, end, steps)
        if kl < best_kl:
            best, best_kl = (start, end), kl
    return include_zero(*_edges_of(hist, *best))


def _kl_divergence(counts: np.ndarray, start: int, end: int, steps: int) -> float:
    """KL(P || Q): P = bins [start, end) with the outside mass folded into the two edge bins;
    Q = the same bins merged into ``steps`` groups, each group's mass spread over its non-empty bins."""
    sliced = counts[start:end]
    p = sliced.astype(np.float64)
    p[0] += counts[:start].sum()
    p[-1] += counts[end:].sum()
    k = len(sliced)
    groups = (np.arange(k) * steps) // k
    nonzero = sliced > 0
    group_mass = np.bincount(groups, weights=sliced, minlength=steps)
    group_bins = np.bincount(groups, weights=nonzero, minlength=steps)
    q = np.where(nonzero, group_mass[groups] / np.maximum(group_bins[groups], 1), 0.0)
    p_sum, q_sum = p.sum(), q.sum()
    if q_sum == 0:
        return np.inf
    p, q = p / p_sum, q / q_sum
    used = p > 0
    return float(np.sum(p[used] * np.log(p[used] / np.maximum(q[used], 1e-12))))


def mse_range(hist: Histogram, bits: int = 8) -> Range:
    """The interval of bin edges (one each side of 0) with the lowest expected round-trip error."""
    edges, centers, counts = hist.edges, hist.centers, hist.nonzero_counts()
    lo_idx = _candidates(0, hist.zero)               # edges <= 0
    hi_idx = _candidates(hist.zero, hist.bins)       # edges >= 0
    # Prefix sums over bins: count, first and second moments of the bin centres.
    s0, s1, s2 = (np.concatenate([[0.0], np.cumsum(counts * centers ** p)]) for p in range(3))
    lo_e, hi_e = edges[lo_idx][:, None], edges[hi_idx][None, :]
    i, j = lo_idx[:, None], hi_idx[None, :]
    inside = s0[j] - s0[i]
    below = (s2[i] - 2 * lo_e * s1[i] + lo_e ** 2 * s0[i]) + s0[i] * hist.width ** 2 / 12
    above_n = s0[-1] - s0[j]
    above = ((s2[-1] - s2[j]) - 2 * hi_e * (s1[-1] - s1[j]) + hi_e ** 2 * above_n) + above_n * hist.width ** 2 / 12
    scale = (hi_e - lo_e) / (2 ** bits - 1)
    error = inside * scale ** 2 / 12 + below + above
    error = np.where(hi_e - lo_e > 0, error, np.inf)
    a, b = np.unravel_index(np.argmin(error), error.shape)
    return include_zero(float(edges[lo_idx[a]]), float(edges[hi_idx[b]]))


def _candidates(first: int, last: int) -> np.ndarray:
    """Edge indices first..last, thinned evenly to at most ``_MSE_MAX_CANDIDATES`` (ends kept)."""
    count = last - first + 1
    if count <= _MSE_MAX_CANDIDATES:
        return np.arange(first, last + 1)
    return np.unique(np.round(np.linspace(first, last, _MSE_MAX_CANDIDATES)).astype(np.int64))


def _edges_of(hist: Histogram, start: int, end: int) -> Range:
    return float((start - hist.zero) * hist.width), float((end - hist.zero) * hist.width)


def weight_scales(w: np.ndarray, axis: int = 0, bits: int = 8) -> np.ndarray:
    """Symmetric per-channel scales ``max|w| / (2**(bits-1) - 1)`` along ``axis``, as float32.

    A channel of zeros gets scale 1.0: its weights quantize to 0 whatever the scale, and 1.0
    keeps ``input_scale * weight_scale`` (the bias scale) from underflowing.
    """
    w = np.asarray(w)
    axis = axis % w.ndim
    reduce = tuple(d for d in range(w.ndim) if d != axis)
    peak = np.max(np.abs(w.astype(np.float64)), axis=reduce) if reduce else np.abs(w.astype(np.float64))
    scales = (peak / (2 ** (bits - 1) - 1)).astype(np.float32)
    return np.where(scales > 0, scales, np.float32(1.0)).astype(np.float32)
