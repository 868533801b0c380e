"""edgec: ONNX in, small fast code for edge devices out.

The package reads as the pipeline: ``frontend`` (ONNX -> IR), ``ir`` (the graph, its op
table and reference interpreter), ``passes`` (IR -> IR rewrites), ``codegen`` (IR -> TVM ->
artifact), and ``cli`` on top.
"""

__version__ = "0.1.0"
