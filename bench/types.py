"""The nouns every part of gauntlet shares: prompts, generation failures, judgments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Prompt:
    """One prompt of a suite: a stable id, the text a candidate sees, its category."""

    id: str
    text: str
    category: str
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class GenerationFailure:
    """A candidate could not produce this image; ``reason`` names the file or cause."""

    reason: str


@dataclass
class Judgment:
    """A suite's verdict on one image: a score in the suite's scale and its evidence."""

    prompt_id: str
    seed: int
    image_hash: str
    category: str
    score: float
    record: dict[str, Any] = field(default_factory=dict)
