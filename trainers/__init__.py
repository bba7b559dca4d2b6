"""Trainers: each registers a function that trains one round; the gated round loop does the rest.

``gauntlet train NAME --config FILE`` resolves NAME here and runs :class:`trainers.loop.RoundLoop`.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.registry import Registry


def _load_builtin() -> None:
    import trainers.continual  # noqa: F401  (registers "continue")
    import trainers.edgen.trainer  # noqa: F401  (registers "edgen")
    import trainers.llm_adapter.trainer  # noqa: F401  (registers "llm-adapter")
    import trainers.selma.trainer  # noqa: F401  (registers "selma")


TRAINERS: Registry[Callable] = Registry("trainer", _load_builtin)
register_trainer = TRAINERS.register  # register ``train_round(ctx: RoundContext) -> data manifest``


def trainer_names() -> dict[str, str]:
    return TRAINERS.descriptions()


def resolve_trainer(name: str) -> Callable:
    return TRAINERS.get(name)
