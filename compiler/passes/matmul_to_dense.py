"""MatMul by a constant matrix -> dense (the normal form of a linear layer).

TensorFlow- and Keras-exported models write a linear layer as MatMul(x, W) + b and a
Flatten + Gemm as Reshape + MatMul. As ``dense(x, W.T)`` the layer has a bias slot that affine
folding fills with the following Add, and one kernel shape for codegen and quantization:

    matmul(x, W) == dense(x, W.T)        (W a constant [K, N] matrix, x of rank >= 2)
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph
from .base import Pass, PassResult
from .rewrite import add_constant


def matmul_to_dense(graph: Graph) -> PassResult:
    graph = graph.copy()
    converted = 0
    for node in graph.nodes:
        if node.op != "matmul" or not graph.is_const(node.inputs[1]) or graph.is_const(node.inputs[0]):
            continue
        w = graph.constants[node.inputs[1]]
        if w.ndim != 2 or graph.types[node.inputs[0]].rank < 2:
            continue
        weight = add_constant(graph, np.ascontiguousarray(w.T), f"{node.outputs[0]}_weight")
        node.op, node.inputs = "dense", [node.inputs[0], weight]
        node.attrs = {k: v for k, v in node.attrs.items() if k in ("activation", "activation_attrs")}
        converted += 1
    graph.remove_unused_constants()
    return PassResult(graph, {"matmuls_to_dense": converted})


MatmulToDense = Pass("matmul-to-dense", matmul_to_dense, "write MatMul by a constant matrix as a dense layer")
