"""A small name -> factory registry, shared by candidate kinds, suites and trainers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

F = TypeVar("F", bound=Callable)


class Registry(Generic[F]):
    """Factories registered by name with a one-line description; built-ins load on first use."""

    def __init__(self, noun: str, load_builtin: Callable[[], None]) -> None:
        self.noun, self._load_builtin, self._items = noun, load_builtin, {}
        self._loaded = False

    def register(self, name: str, description: str) -> Callable[[F], F]:
        def deco(factory: F) -> F:
            self._items[name] = (factory, description)
            return factory

        return deco

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            self._load_builtin()

    def descriptions(self) -> dict[str, str]:
        self._load()
        return {k: d for k, (_, d) in sorted(self._items.items())}

    def get(self, name: str, shown: str | None = None) -> F:
        """The factory for ``name``; an error naming ``shown`` (default ``name``) and the known names."""
        self._load()
        if name not in self._items:
            raise ValueError(f"unknown {self.noun} {shown or name!r}; known: {', '.join(sorted(self._items))}")
        return self._items[name][0]
