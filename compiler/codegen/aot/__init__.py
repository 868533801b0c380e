"""Ahead-of-time C code generation for microcontrollers: kernels, memory plan, model.c.

Importing this package is cheap (no TVM): the CLI asks ``is_aot_target`` before the slow work.
"""


def is_aot_target(spec) -> bool:
    """Targets built ahead of time into C (this package) rather than for TVM's VM: the
    microcontrollers and the plain-C host target ``c``."""
    return spec.device == "mcu" or spec.tvm.get("kind") == "c"
