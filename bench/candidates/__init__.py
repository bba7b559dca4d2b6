"""Candidates turn (prompt, seed) pairs into images; a small registry resolves spec strings.

Kinds: ``world:oracle``, ``world:noisy:count=0.2,...``, ``images:<folder>``,
``diffusers:<hub id or path>[:steps=..,guidance=..,batch=..]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from PIL import Image

from bench.types import GenerationFailure, Prompt


class Candidate(Protocol):
    spec: str
    batch_size: int

    def generate(self, requests: Sequence[tuple[Prompt, int]]) -> list[Image.Image | GenerationFailure]:
        """One RGB image (or a failure naming its cause) per ``(prompt, seed)``."""
        ...


_KINDS: dict[str, tuple[Callable[[str, str], Candidate], str]] = {}


def register_candidate_kind(kind: str, example: str) -> Callable:
    """Register ``factory(rest, spec) -> Candidate`` for specs ``kind:rest``."""

    def deco(factory: Callable[[str, str], Candidate]) -> Callable[[str, str], Candidate]:
        _KINDS[kind] = (factory, example)
        return factory

    return deco


def candidate_kinds() -> dict[str, str]:
    """Kind -> example spec, for ``gauntlet candidates``."""
    _load_builtin()
    return {k: ex for k, (_, ex) in sorted(_KINDS.items())}


def resolve_candidate(spec: str) -> Candidate:
    """The candidate a spec string names; a clear error for unknown kinds or options."""
    _load_builtin()
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in _KINDS:
        raise ValueError(f"unknown candidate {spec!r}; kinds: {', '.join(sorted(_KINDS))} (see `gauntlet candidates`)")
    return _KINDS[kind][0](rest, spec)


def _load_builtin() -> None:
    from bench.candidates import diffusers_pipeline, images, world  # noqa: F401  (registers)
