"""narrow_constants: wide integer constants are stored in the narrowest type that holds them."""

from __future__ import annotations

import numpy as np
import pytest
from tvm import relax

from compiler.codegen.narrow_constants import narrowest
from compiler.codegen.aot.program import CONST, fused_module, read_program
from compiler.codegen.lower import to_relax

from .helpers import digits_graph


@pytest.mark.parametrize("values, dtype, want", [
    ([0, 100, -128], "int64", "int8"), ([-40000, 5], "int64", "int32"), ([300, -2], "int64", "int16"),
    ([2**40], "int64", None), ([1, 1, 1], "int32", "int8"), ([70000], "int32", None), ([1.5], "float32", None),
    ([5], "int8", None)])
def test_narrowest_type(values, dtype, want):
    assert narrowest(np.array(values, dtype)) == want


def test_digits_constants_shrink_and_values_survive():
    graph = digits_graph(True)
    mod = to_relax(graph)
    wide = read_program(relax.get_pipeline("zero")(mod), graph)
    narrow = read_program(fused_module(mod), graph)

    def weights(program) -> int:
        return sum(t.nbytes for t in program.tensors.values() if t.kind == CONST)

    assert weights(narrow) < 0.95 * weights(wide)
    assert all(narrowest(t.data) is None for t in narrow.tensors.values() if t.kind == CONST)
    wide_values = sorted(tuple(t.data.astype(np.int64).ravel()) for t in wide.tensors.values()
                         if t.kind == CONST and t.data.dtype.kind == "i")
    narrow_values = sorted(tuple(t.data.astype(np.int64).ravel()) for t in narrow.tensors.values()
                           if t.kind == CONST and t.data.dtype.kind == "i")
    assert wide_values == narrow_values
