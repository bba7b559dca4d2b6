"""Trainers: each registers a function that trains one round; the gated round loop does the rest.

``gauntlet train NAME --config FILE`` resolves NAME here and runs :class:`trainers.loop.RoundLoop`.
"""

from __future__ import annotations

from collections.abc import Callable

_TRAINERS: dict[str, tuple[Callable, str]] = {}


def register_trainer(name: str, description: str) -> Callable:
    """Register ``train_round(ctx: RoundContext) -> data manifest`` under ``name``."""

    def deco(fn: Callable) -> Callable:
        _TRAINERS[name] = (fn, description)
        return fn

    return deco


def trainer_names() -> dict[str, str]:
    _load_builtin()
    return {k: d for k, (_, d) in sorted(_TRAINERS.items())}


def resolve_trainer(name: str) -> Callable:
    _load_builtin()
    if name not in _TRAINERS:
        raise ValueError(f"unknown trainer {name!r}; known: {', '.join(sorted(_TRAINERS))}")
    return _TRAINERS[name][0]


def _load_builtin() -> None:
    import trainers.continual  # noqa: F401  (registers "continue")
