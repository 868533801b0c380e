"""The digits data set used by the example, the tests and the quantization bench.

scikit-learn ships the UCI handwritten digits (1797 images of 8x8 pixels, values 0..16) with the
package, so nothing is downloaded. The split is fixed so every user of it sees the same images:
``train_test_split(test_size=0.25, random_state=0, stratify=y)`` -> 1347 train, 450 test.
"""

from __future__ import annotations

import numpy as np

TEST_SIZE = 0.25
SPLIT_SEED = 0


def preprocess(pixels: np.ndarray) -> np.ndarray:
    """Raw 0..16 pixels (any shape with 64 values per image) -> float32 [N, 1, 8, 8] in 0..1."""
    return (np.asarray(pixels, dtype=np.float32) / 16.0).reshape(-1, 1, 8, 8)


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): x float32 [N, 1, 8, 8] = pixel / 16, y int64 labels 0..9."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=digits.target)
    return (preprocess(x_train), y_train.astype(np.int64), preprocess(x_test), y_test.astype(np.int64))
