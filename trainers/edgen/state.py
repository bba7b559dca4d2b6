"""Edgen's persistent state: the training set after each round, and the advanced-image cache.

``<work_dir>/edgen/state-NNN.json`` holds the training set after round NNN (each entry: the
prompt, the advanced model whose images train it, whether the director has judged it, where it
came from) and the budget: the keys of every advanced-model image this loop has used. Round k
starts from the newest state of an earlier round, whatever the gate decided (the curation judged
a promoted checkpoint), and writes its own with an atomic rename, so a round that is run again
after a crash recomputes the same state from the same start.

Advanced images are cached as PNGs under ``<work_dir>/edgen/cache``, keyed by model spec, prompt
and seed. The budget counts an image when it is first *used* by the loop (cache hit or not), so
a re-run round neither pays twice nor forgets what it paid.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from bench.candidates import Candidate
from bench.types import GenerationFailure, Prompt

_STATE = re.compile(r"^state-(\d{3,})\.json$")


@dataclass
class Entry:
    prompt: str
    model: str  # the advanced model whose images train this prompt
    origin: str = "initial"  # initial | expand | mutate
    born: int = 0  # the round that added it
    parent: str | None = None
    judged: bool = False  # has the director compared it with the base yet


@dataclass
class State:
    round: int = 0
    entries: list[Entry] = field(default_factory=list)
    paid: list[str] = field(default_factory=list)  # keys of advanced images used so far
    paid_by_model: dict[str, int] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)  # one summary per round

    @property
    def prompts(self) -> set[str]:
        return {e.prompt for e in self.entries}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> State:
        return cls(raw["round"], [Entry(**e) for e in raw["entries"]], list(raw["paid"]),
                   dict(raw["paid_by_model"]), list(raw["history"]))


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def state_path(root: Path, index: int) -> Path:
    return root / f"state-{index:03d}.json"


def load_state(root: Path, before: int) -> State | None:
    """The newest saved state of a round before ``before``, or None (the loop's first round)."""
    found = sorted((int(m[1]), p) for p in root.glob("state-*.json") if (m := _STATE.match(p.name)))
    found = [(i, p) for i, p in found if i < before]
    return State.from_json(json.loads(found[-1][1].read_text())) if found else None


def save_state(root: Path, state: State) -> Path:
    path = state_path(root, state.round)
    write_atomic(path, json.dumps(state.to_json(), indent=1) + "\n")
    return path


def image_key(spec: str, prompt: str, seed: int) -> str:
    return hashlib.sha256(f"{spec}\x1f{prompt}\x1f{seed}".encode()).hexdigest()[:24]


def prompt_id(text: str) -> str:
    """The id a candidate sees for a training prompt (an ``images:`` folder's flat layout uses it)."""
    return hashlib.sha1(text.encode()).hexdigest()[:12]


class ImageCache:
    """Advanced-model images on disk, rendered on a miss; every use is recorded in ``state``'s budget."""

    def __init__(self, root: Path, state: State) -> None:
        self.root, self.state = root, state
        self._paid = set(state.paid)
        self.generated = 0  # images rendered by this process (cache misses)
        self.failures: list[str] = []

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.png"

    def _pay(self, spec: str, key: str) -> None:
        if key not in self._paid:
            self._paid.add(key)
            self.state.paid.append(key)
            self.state.paid_by_model[spec] = self.state.paid_by_model.get(spec, 0) + 1

    def get(self, candidate: Candidate, requests: Sequence[tuple[str, int]]) -> list[Path | None]:
        """The cached image file per (prompt, seed) of ``candidate``; None where it failed to render."""
        keys = [image_key(candidate.spec, p, s) for p, s in requests]
        missing = [i for i, k in enumerate(keys) if not self.path(k).exists()]
        out: list[Path | None] = [self.path(k) for k in keys]
        for start in range(0, len(missing), max(1, candidate.batch_size)):
            chunk = missing[start:start + max(1, candidate.batch_size)]
            reqs = [(Prompt(prompt_id(requests[i][0]), requests[i][0], "edgen"), requests[i][1]) for i in chunk]
            for i, image in zip(chunk, candidate.generate(reqs), strict=True):
                if isinstance(image, GenerationFailure):
                    out[i] = None
                    self.failures.append(f"{candidate.spec}: {image.reason}")
                    continue
                path = self.path(keys[i])
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
                image.convert("RGB").save(tmp)
                os.replace(tmp, path)
                self.generated += 1
        for key, path in zip(keys, out, strict=True):
            if path is not None:
                self._pay(candidate.spec, key)
        return out


def load_image(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")
