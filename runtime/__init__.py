"""Running edgec artifacts: ``runtime.load(path).run({"x": array})`` on the host."""

from .host import Model, load

__all__ = ["Model", "load"]
