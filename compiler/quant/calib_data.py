"""Calibration data: read samples for a graph's inputs from files or Python objects, one at a time.

A *sample* is a dict ``{input name: array}`` whose arrays have exactly the input's shape and
dtype, ready for the interpreter. Sources:

- a ``.npz`` file whose keys are the model's input names (no missing, no extra keys);
- a ``.npy`` file (single-input models only);
- a folder of such files, read in sorted file-name order (other files are ignored);
- in the Python API also an array (single-input models), a mapping ``{name: array}``, or an
  iterable of arrays / mappings (each item is read like one file).

Each array holds several samples along its first axis, in one of two layouts:

- *stacked*: ``[S, *input_shape]``, e.g. ``[S, 1, 1, 8, 8]`` for an input of shape ``[1, 1, 8, 8]``;
- *batched*: ``[S * B, *input_shape[1:]]`` where ``B`` is the input's batch dimension, e.g.
  ``[S, 1, 8, 8]`` for that batch-1 input (the data set as users usually have it).

The two never clash (their ranks differ). Dtypes: an array of the input's dtype is used as is; a
float array for a float input (e.g. float64 data for a float32 input) or an integer array for an
integer input is cast, with a notice, because that is what people mean (integers must fit the
input's dtype); any other mix (e.g. uint8 pixels for a float input, whose scaling edgec cannot
guess) is an error. NaN or Inf in a sample is an error naming the input, the sample and the file.
Files are read lazily (``.npy`` memory-mapped), so memory holds one file's arrays at most.
"""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..errors import InputError
from ..ir.types import TensorType

Sample = dict[str, np.ndarray]
CalibSource = Union[str, Path, np.ndarray, Mapping[str, Any], Iterable[Any]]
FILE_SUFFIXES = (".npz", ".npy")
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def iter_samples(source: CalibSource, inputs: Mapping[str, TensorType], limit: int | None = None,
                 notices: list[str] | None = None) -> Iterator[Sample]:
    """Yield up to ``limit`` samples from ``source``, checked against ``inputs`` (name -> type).

    Raises ``InputError`` for bad data (shape, dtype, keys, NaN/Inf, unreadable files) and for an
    empty set. Casts are reported once per input in ``notices`` when a list is given.
    """
    _check_limit(limit)
    seen = 0
    cast_noticed: set[str] = set()
    for chunk in _chunks(source, inputs):
        try:
            n = _check_chunk(chunk, inputs, notices, cast_noticed)
            for row in range(n):
                if limit is not None and seen >= limit:
                    return
                yield {name: _take(chunk, name, inputs[name], row, seen) for name in inputs}
                seen += 1
        finally:
            _close(chunk.arrays)
    if seen == 0:
        raise InputError(f"calibration set {_describe(source)} is empty: it holds no samples")


def count(source: CalibSource, inputs: Mapping[str, TensorType], limit: int | None = None) -> int | None:
    """How many samples ``iter_samples`` will yield, from array shapes only (no data is read).

    Also checks keys, shapes and dtypes early (values are checked by ``iter_samples``). Returns
    None for a one-shot iterator (counting would use it up); raises ``InputError`` like
    ``iter_samples`` for an empty set.
    """
    _check_limit(limit)
    if _is_one_shot(source):
        return None
    total = sum(_check_chunk(chunk, inputs, None, set()) for chunk in _chunks(source, inputs, shapes_only=True))
    if total == 0:
        raise InputError(f"calibration set {_describe(source)} is empty: it holds no samples")
    return total if limit is None else min(total, limit)


def progress(iterable: Iterable[Any], total: int | None, desc: str) -> Iterable[Any]:
    """``iterable`` wrapped in a tqdm progress bar on stderr, shown only when stderr is a terminal."""
    if not _stderr_is_tty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, unit="sample", dynamic_ncols=True)


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


# -- sources -> chunks ------------------------------------------------------------------------
@dataclass
class _Chunk:
    """One file's (or one item's) arrays, by input name, and how errors refer to it."""

    where: str
    arrays: Mapping[str, Any]  # np.ndarray, or a shape-only stand-in when counting


@dataclass
class _ShapeOnly:
    shape: tuple[int, ...]
    dtype: np.dtype


def _chunks(source: CalibSource, inputs: Mapping[str, TensorType], shapes_only: bool = False) -> Iterator[_Chunk]:
    if isinstance(source, (str, Path)):
        yield from _path_chunks(Path(source), inputs, shapes_only)
    elif isinstance(source, (np.ndarray, Mapping)):
        yield _item_chunk(source, inputs, "calibration data")
    elif isinstance(source, Iterable):
        for index, item in enumerate(source):
            if isinstance(item, (str, Path)):
                yield from _path_chunks(Path(item), inputs, shapes_only)
            else:
                yield _item_chunk(item, inputs, f"calibration item {index}")
    else:
        raise InputError(f"calibration data of type {type(source).__name__} is not supported: "
                         "give a .npz/.npy file, a folder of them, an array, a dict or an iterable")


def _path_chunks(path: Path, inputs: Mapping[str, TensorType], shapes_only: bool) -> Iterator[_Chunk]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in FILE_SUFFIXES and p.is_file())
        for file in files:
            yield _file_chunk(file, inputs, shapes_only)
    elif path.is_file():
        yield _file_chunk(path, inputs, shapes_only)
    else:
        raise InputError(f"calibration data '{path}' does not exist")


def _file_chunk(path: Path, inputs: Mapping[str, TensorType], shapes_only: bool) -> _Chunk:
    where = f"file '{path}'"
    if path.suffix not in FILE_SUFFIXES:
        raise InputError(f"calibration {where}: unsupported file type '{path.suffix}' (use .npz or .npy)")
    try:
        _check_magic(path)
        if path.suffix == ".npy":
            arrays = {_single_input(inputs, where): _read_npy(path, shapes_only)}
        else:
            arrays = _npz_shapes(path) if shapes_only else _LazyNpz(path, where)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"cannot read calibration {where}: {_reason(exc)}") from None
    try:
        _check_keys(arrays, inputs, where)
    except InputError:
        _close(arrays)
        raise
    return _Chunk(where, arrays)


def _close(arrays: Mapping[str, Any]) -> None:
    if isinstance(arrays, _LazyNpz):
        arrays.close()


def _check_magic(path: Path) -> None:
    """Refuse a file that is not what its suffix says, before numpy guesses at it (e.g. as a pickle)."""
    with open(path, "rb") as f:
        head = f.read(6)
    if path.suffix == ".npy" and head != b"\x93NUMPY":
        raise ValueError("not a .npy file (bad header)")
    if path.suffix == ".npz" and not head.startswith(b"PK"):
        raise ValueError("not a .npz archive (not a zip file)")


def _read_npy(path: Path, shapes_only: bool) -> Any:
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    return _ShapeOnly(tuple(array.shape), array.dtype) if shapes_only else array


def _npz_shapes(path: Path) -> dict[str, _ShapeOnly]:
    """Shapes and dtypes of a .npz's arrays from their headers, without reading the data."""
    shapes = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            with archive.open(member) as f:
                read_header = _HEADER_READERS.get(np.lib.format.read_magic(f))
                if read_header is None:
                    raise ValueError(f"array '{member}' has an unknown .npy format version")
                shape, _, dtype = read_header(f)
            shapes[member.removesuffix(".npy")] = _ShapeOnly(tuple(shape), np.dtype(dtype))
    return shapes


class _LazyNpz(Mapping):
    """A .npz file's arrays, each read on first use; read errors name the file."""

    def __init__(self, path: Path, where: str) -> None:
        self._file = open(path, "rb")  # ours, so it is closed even when numpy fails to parse it
        try:
            self._npz = np.load(self._file, allow_pickle=False)
        except BaseException:
            self._file.close()
            raise
        self._where = where
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._cache:
            try:
                self._cache[key] = self._npz[key]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
                raise InputError(f"cannot read array '{key}' of calibration {self._where}: {_reason(exc)}") from None
        return self._cache[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._npz.files)

    def __len__(self) -> int:
        return len(self._npz.files)

    def close(self) -> None:
        self._npz.close()
        self._file.close()
        self._cache.clear()


def _item_chunk(item: Any, inputs: Mapping[str, TensorType], where: str) -> _Chunk:
    if isinstance(item, Mapping):
        arrays = {str(k): _as_array(v, f"{where}, input '{k}'") for k, v in item.items()}
    else:
        arrays = {_single_input(inputs, where): _as_array(item, where)}
    _check_keys(arrays, inputs, where)
    return _Chunk(where, arrays)


def _as_array(value: Any, where: str) -> np.ndarray:
    if hasattr(value, "__array__") or isinstance(value, (list, tuple, int, float)):
        return np.asarray(value)
    raise InputError(f"{where}: expected an array, got {type(value).__name__}")


# -- checks -----------------------------------------------------------------------------------
def _single_input(inputs: Mapping[str, TensorType], where: str) -> str:
    if len(inputs) != 1:
        raise InputError(f"calibration {where} holds one unnamed array but the model has {len(inputs)} inputs "
                         f"({', '.join(inputs)}): use a .npz file or a dict keyed by input name")
    return next(iter(inputs))


def _check_keys(arrays: Mapping[str, Any], inputs: Mapping[str, TensorType], where: str) -> None:
    missing = [n for n in inputs if n not in arrays]
    extra = [k for k in arrays if k not in inputs]
    if missing or extra:
        parts = ([f"missing input(s) {', '.join(missing)}"] if missing else []) + \
                ([f"unknown key(s) {', '.join(extra)}"] if extra else [])
        raise InputError(f"calibration {where}: {'; '.join(parts)} (model inputs: {', '.join(inputs)})")


def _layout(name: str, data_shape: tuple[int, ...], want: TensorType, where: str) -> tuple[int, int | None]:
    """(number of samples, rows per sample or None when stacked) for one array; see the module doc."""
    shape = tuple(want.shape)
    if len(data_shape) == len(shape) + 1 and data_shape[1:] == shape:
        return data_shape[0], None
    batch = shape[0] if shape else 0
    if shape and len(data_shape) == len(shape) and data_shape[1:] == shape[1:] and batch > 0 \
            and data_shape[0] % batch == 0:
        return data_shape[0] // batch, batch
    hint = f"[S, {', '.join(map(str, shape))}]"
    if batch > 0:
        hint += f" or [S*{batch}, {', '.join(map(str, shape[1:]))}]" if batch > 1 else \
            f" or [S, {', '.join(map(str, shape[1:]))}]"
    raise InputError(f"calibration input '{name}' in {where}: shape {list(data_shape)} does not fit the model's "
                     f"input shape {list(shape)}; expected {hint} for S samples")


def _check_chunk(chunk: _Chunk, inputs: Mapping[str, TensorType], notices: list[str] | None,
                 noticed: set[str]) -> int:
    """Check a chunk's shapes and dtypes; return its number of samples."""
    n = _chunk_size(chunk, inputs)
    for name, want in inputs.items():
        _check_dtype(name, chunk.arrays[name].dtype, want.dtype, chunk.where, notices, noticed)
    return n


def _chunk_size(chunk: _Chunk, inputs: Mapping[str, TensorType]) -> int:
    sizes = {name: _layout(name, tuple(chunk.arrays[name].shape), t, chunk.where)[0] for name, t in inputs.items()}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"'{n}' {s}" for n, s in sizes.items())
        raise InputError(f"calibration {chunk.where}: inputs hold different numbers of samples ({listed})")
    return next(iter(sizes.values()), 0)


def _check_dtype(name: str, have: np.dtype, want: str, where: str, notices: list[str] | None,
                 noticed: set[str]) -> None:
    have, target = np.dtype(have), np.dtype(want)
    if have == target:
        return
    same_kind = (have.kind == "f" and target.kind == "f") or (have.kind in "iu" and target.kind in "iu")
    if not same_kind:
        raise InputError(f"calibration input '{name}' in {where}: dtype {have} does not match the model's {target}"
                         f"{' (scale integer data to the model input range first)' if target.kind == 'f' else ''}")
    if notices is not None and name not in noticed:
        noticed.add(name)
        notices.append(f"calibration input '{name}': {have} data cast to {target}")


def _take(chunk: _Chunk, name: str, want: TensorType, row: int, index: int) -> np.ndarray:
    array = chunk.arrays[name]
    _, rows = _layout(name, tuple(array.shape), want, chunk.where)
    part = array[row] if rows is None else array[row * rows:(row + 1) * rows]
    sample = _cast(np.asarray(part), want.dtype, name, index, chunk.where)
    if sample.dtype.kind == "f" and not np.isfinite(sample).all():
        bad = "NaN" if np.isnan(sample).any() else "Inf"
        raise InputError(f"calibration input '{name}' sample {index} (row {row} of {chunk.where}) contains {bad}")
    return sample


def _cast(part: np.ndarray, dtype: str, name: str, index: int, where: str) -> np.ndarray:
    target = np.dtype(dtype)
    if part.dtype.kind in "iu" and target.kind in "iu" and part.dtype != target and part.size:
        info = np.iinfo(target)
        if part.min() < info.min or part.max() > info.max:
            raise InputError(f"calibration input '{name}' sample {index} ({where}): values outside the range "
                             f"of {target}")
    return np.ascontiguousarray(part, dtype=target)


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise InputError(f"calibration sample limit must be at least 1, got {limit}")


def _is_one_shot(source: CalibSource) -> bool:
    return isinstance(source, Iterator)


def _describe(source: CalibSource) -> str:
    return f"'{source}'" if isinstance(source, (str, Path)) else "(in-memory data)"


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
