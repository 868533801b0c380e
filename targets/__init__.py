"""Target descriptions: what edgec compiles for and how.

A target names a TVM target (dict form), the C/C++ compiler that links the library, and
whether the host can run the result directly. The registry grows with the cross-compilation
and microcontroller work; ``host`` is always there.
"""

from .registry import TARGETS, TargetSpec, get_target

__all__ = ["TARGETS", "TargetSpec", "get_target"]
