"""Candidates turn (prompt, seed) pairs into images; a small registry resolves spec strings.

Kinds: ``world:oracle``, ``world:noisy:count=0.2,...``, ``images:<folder>``,
``diffusers:<hub id or path>[:steps=..,guidance=..,batch=..]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from PIL import Image

from bench.registry import Registry
from bench.types import GenerationFailure, Prompt


class Candidate(Protocol):
    spec: str
    batch_size: int

    def generate(self, requests: Sequence[tuple[Prompt, int]]) -> list[Image.Image | GenerationFailure]:
        """One RGB image (or a failure naming its cause) per ``(prompt, seed)``."""
        ...


def _load_builtin() -> None:
    from bench.candidates import diffusers_pipeline, images, world  # noqa: F401  (registers)


KINDS: Registry[Callable[[str, str], Candidate]] = Registry("candidate kind", _load_builtin)


def register_candidate_kind(kind: str, example: str) -> Callable:
    """Register ``factory(rest, spec) -> Candidate`` for specs ``kind:rest``."""
    return KINDS.register(kind, example)


def candidate_kinds() -> dict[str, str]:
    """Kind -> example spec, for ``gauntlet candidates``."""
    return KINDS.descriptions()


def resolve_candidate(spec: str) -> Candidate:
    """The candidate a spec string names; a clear error for unknown kinds or options."""
    kind, sep, rest = spec.partition(":")
    try:
        factory = KINDS.get(kind)
    except ValueError:
        raise ValueError(f"unknown candidate {spec!r}; kinds: {', '.join(candidate_kinds())} "
                         "(see `gauntlet candidates`)") from None
    if not sep:
        raise ValueError(f"candidate {spec!r} needs the form {kind}:...; see `gauntlet candidates`")
    return factory(rest, spec)
