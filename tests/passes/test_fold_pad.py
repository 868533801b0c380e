import math

import numpy as np
import pytest

from compiler.ir import GraphBuilder
from compiler.passes.fold_pad import fold_pad
from tests.passes.equivalence import assert_equivalent

rng = np.random.default_rng(0)


def padded(layer: str, attrs: dict, pads=(0, 0, 1, 2, 0, 0, 2, 1), value=0.0, mode="constant"):
    b = GraphBuilder()
    x = b.input("x", (1, 3, 7, 7))
    p = b.op("pad", [x], {"pads": pads, "value": value, "mode": mode})
    ins = [p] + ([b.const(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))] if layer == "conv" else [])
    b.output(b.op(layer, ins, attrs, name="out"))
    return b.build()


@pytest.mark.parametrize("layer,attrs,value", [
    ("conv", {"pads": (1, 0, 0, 1), "strides": (2, 2)}, 0.0),
    ("conv", {}, 0.0),
    ("avg_pool", {"kernel_shape": (3, 3), "count_include_pad": 1, "pads": (1, 1, 1, 1)}, 0.0),
    ("avg_pool", {"kernel_shape": (2, 2), "strides": (2, 2)}, 0.0),
    ("max_pool", {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1)}, -math.inf),
])
def test_folds_into_layer(layer, attrs, value):
    g = padded(layer, attrs, pads=(0, 0, 1, 0, 0, 0, 0, 1), value=value)
    result = fold_pad(g)
    assert [n.op for n in result.graph.nodes] == [layer] and result.changes == {"pads_folded": 1}
    assert_equivalent(g, result.graph)


@pytest.mark.parametrize("layer,attrs,kw", [
    ("conv", {}, {"value": 1.0}),                                   # non-zero pad value
    ("conv", {}, {"mode": "reflect"}),                              # not zeros at all
    ("avg_pool", {"kernel_shape": (3, 3)}, {"pads": (0, 1, 0, 0, 0, 1, 0, 0)}),  # pads the channel axis
    ("max_pool", {"kernel_shape": (3, 3)}, {"value": 0.0}),         # zeros could win the max
    ("avg_pool", {"kernel_shape": (3, 3), "pads": (1, 1, 1, 1)}, {}),  # would count only some padding
])
def test_leaves_alone(layer, attrs, kw):
    assert not fold_pad(padded(layer, attrs, **kw)).modified
