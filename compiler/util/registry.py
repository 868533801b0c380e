"""Rule tables keyed by op name, filled by decorators (converters, lowerings, exporters)."""

from __future__ import annotations

from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


def registrar(table: dict[str, F], kind: str) -> Callable[..., Callable[[F], F]]:
    """A decorator factory: ``@register("a", "b")`` stores the function under each name in ``table``."""

    def register(*names: str) -> Callable[[F], F]:
        def wrap(fn: F) -> F:
            for name in names:
                assert name not in table, f"two {kind} for {name}"
                table[name] = fn
            return fn

        return wrap

    return register
