"""Target descriptions: what edgec compiles for and how.

A target names a TVM target (dict form), the architecture of the code, the (cross) compiler that
links the library, the default way to run it (here, under qemu, on a GPU, through RPC) and the
CPU features it needs. ``edgec targets`` lists them; users add boards with ``--target-file``.
"""

from .files import load_target_file, load_target_files
from .registry import TARGETS, all_targets, get_target
from .spec import TargetSpec, host_arch

__all__ = ["TARGETS", "TargetSpec", "all_targets", "get_target", "host_arch", "load_target_file",
           "load_target_files"]
