"""Streaming activation statistics: one ``Observer`` per tensor, fed one sample at a time.

Memory does not grow with the number of samples. The first pass over the calibration samples
keeps the extremes; methods that need a histogram (``Observer.needs_second_pass(method)``) get a
second pass whose bin edges are fixed from the first pass's extremes (``start_second_pass``), so
the histogram is exact for those edges and independent of sample order or batching::

    observers = {name: Observer(name) for name in tensors}
    for sample in samples():                 # pass 1
        for name, value in run(sample).items():
            observers[name].update(value)
    if Observer.needs_second_pass(method):
        for obs in observers.values():
            obs.start_second_pass()
        for sample in samples():             # pass 2, same samples
            ...
    ranges = {name: obs.range(method) for name, obs in observers.items()}

``calibrate_ranges`` does exactly that, with a progress bar.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from ..errors import PassError
from .calib_data import Sample, progress
from .ranges import DEFAULT_BINS, DEFAULT_PERCENTILE, HISTOGRAM_METHODS, METHODS, Histogram, Range, choose_range


class Observer:
    """Extremes (pass 1) and a fixed-edge histogram (pass 2) of one tensor's values."""

    def __init__(self, name: str = "", bins: int = DEFAULT_BINS) -> None:
        self.name = name
        self.bins = bins
        self.lo = np.inf
        self.hi = -np.inf
        self.count = 0
        self._counts: np.ndarray | None = None  # set by start_second_pass
        self._width = 1.0
        self._zero = 0
        self._zeros = 0

    @staticmethod
    def needs_second_pass(method: str) -> bool:
        if method not in METHODS:
            raise ValueError(f"unknown calibration method {method!r}; known: {', '.join(METHODS)}")
        return method in HISTOGRAM_METHODS

    @property
    def in_second_pass(self) -> bool:
        return self._counts is not None

    def update(self, value: np.ndarray) -> None:
        """Add one sample's values: extremes in pass 1, histogram counts in pass 2."""
        data = np.asarray(value, dtype=np.float64).ravel()
        if data.size == 0:
            return
        if not np.isfinite(data).all():
            raise PassError(f"calibration: tensor '{self.name}' has NaN or Inf values")
        if self._counts is None:
            self.lo = min(self.lo, float(data.min()))
            self.hi = max(self.hi, float(data.max()))
            self.count += data.size
        else:
            index = np.floor(data / self._width).astype(np.int64) + self._zero
            np.clip(index, 0, self.bins - 1, out=index)  # the top edge (and rounding) falls in the last bin
            self._counts += np.bincount(index, minlength=self.bins)
            self._zeros += int(np.count_nonzero(data == 0))

    def start_second_pass(self) -> None:
        """Fix the histogram's bins from the extremes seen so far; later updates fill it."""
        if self.count == 0:
            raise PassError(f"calibration: tensor '{self.name}' saw no values in the first pass")
        self._width, self._zero = Histogram.layout(self.lo, self.hi, self.bins)
        self._counts = np.zeros(self.bins, dtype=np.float64)

    @property
    def histogram(self) -> Histogram | None:
        if self._counts is None:
            return None
        return Histogram(self._counts.copy(), self._width, self._zero, float(self._zeros))

    def range(self, method: str = "minmax", *, percentile: float = DEFAULT_PERCENTILE, bits: int = 8) -> Range:
        """The quantization range ``(lo, hi)`` (contains 0) chosen by ``method``; see ``ranges.py``."""
        if self.count == 0:
            raise PassError(f"calibration: tensor '{self.name}' saw no values")
        if self.needs_second_pass(method) and self._counts is None:
            raise PassError(f"calibration: tensor '{self.name}': method '{method}' needs the second pass")
        return choose_range(method, self.lo, self.hi, self.histogram, percentile=percentile, bits=bits)


def calibrate_ranges(run: Callable[[Sample], Mapping[str, np.ndarray]], samples: Callable[[], Iterable[Sample]],
                     method: str = "minmax", *, total: int | None = None, bins: int = DEFAULT_BINS,
                     percentile: float = DEFAULT_PERCENTILE, bits: int = 8) -> dict[str, Range]:
    """Ranges of every tensor ``run(sample)`` returns, over ``samples()`` (called once per pass).

    ``run`` maps a sample to ``{tensor name: value}`` (e.g. the interpreter keeping intermediates);
    ``total`` sizes the progress bar.
    """
    observers: dict[str, Observer] = {}
    passes = 2 if Observer.needs_second_pass(method) else 1
    for index in range(passes):
        if index == 1:
            for obs in observers.values():
                obs.start_second_pass()
        desc = f"calibrating ({method}, pass {index + 1}/{passes})"
        for sample in progress(samples(), total, desc):
            for name, value in run(sample).items():
                if index == 0:
                    observers.setdefault(name, Observer(name, bins)).update(value)
                elif name in observers:
                    observers[name].update(value)
    return {name: obs.range(method, percentile=percentile, bits=bits) for name, obs in observers.items()}
