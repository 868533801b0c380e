"""Tensor types: a static shape and a dtype, plus optional quantization parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# The dtypes the IR knows, by numpy name. Order is the ONNX-compatible set edgec supports.
DTYPES = ("float32", "float16", "float64", "int8", "uint8", "int16", "int32", "int64", "bool")


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization: real = scale * (q - zero_point), per tensor or along ``axis``."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None


@dataclass(frozen=True)
class TensorType:
    """A fully static tensor type. Shapes are tuples of non-negative ints."""

    shape: tuple[int, ...]
    dtype: str
    quant: QuantParams | None = field(default=None, compare=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        assert self.dtype in DTYPES, f"unknown dtype {self.dtype!r}"

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    def __str__(self) -> str:
        short = {"float32": "f32", "float16": "f16", "float64": "f64", "int8": "i8", "uint8": "u8",
                 "int16": "i16", "int32": "i32", "int64": "i64", "bool": "bool"}[self.dtype]
        text = f"{short}[{','.join(str(d) for d in self.shape)}]"
        if self.quant is not None:
            q = self.quant
            if q.axis is None:
                text += f"{{scale={q.scale[0]:.6g}, zp={q.zero_point[0]}}}"
            else:
                text += f"{{per-channel axis={q.axis}}}"
        return text

    @staticmethod
    def of(array: np.ndarray) -> "TensorType":
        return TensorType(tuple(array.shape), str(array.dtype))
