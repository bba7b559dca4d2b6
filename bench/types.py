"""The nouns every part of gauntlet shares: prompts, generation failures, judgments."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
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


def write_image_rows(path: Path, judgments: Iterable[Judgment], image_paths: dict[str, Path],
                     row: Callable[[Judgment], dict[str, Any]], id_key: str = "prompt_id") -> Path:
    """One JSON line per judged image, as reference tools write their per-image outputs: the
    prompt id (under ``id_key``), ``seed``, ``image`` (its file, else its hash), then ``row(j)``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for j in judgments:
            image = image_paths.get(j.image_hash)
            f.write(json.dumps({id_key: j.prompt_id, "seed": j.seed, "image": str(image) if image else j.image_hash,
                                **row(j)}) + "\n")
    return path
