"""``images:<folder>``: pictures made elsewhere, in GenEval's layout or a flat one.

GenEval layout: ``<folder>/<index>/metadata.jsonl`` (the prompt row) and
``<index>/samples/<NNNNN>.png``, sample number = seed. Flat layout:
``<folder>/<prompt_id>_<seed>.png``. Missing and unreadable files become failures that name
the file; grayscale or palette images are converted to RGB.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from bench.candidates import register_candidate_kind
from bench.types import GenerationFailure, Prompt

_NUMBERED = re.compile(r"^(\d+)\.png$")
_FLAT = re.compile(r"^(.+)_(\d+)\.png$")


class ImageFolderCandidate:
    batch_size = 32

    def __init__(self, spec: str, folder: Path) -> None:
        if not folder.is_dir():
            raise ValueError(f"images candidate {spec!r}: folder {folder} does not exist")
        self.spec, self.folder = spec, folder
        self._by_text: dict[str, Path] = {}
        for meta in sorted(folder.glob("*/metadata.jsonl")):
            if meta.parent.name.isdigit():
                try:
                    row = json.loads(meta.read_text().strip().splitlines()[0])
                except (json.JSONDecodeError, IndexError) as e:
                    raise ValueError(f"unreadable GenEval metadata file {meta}: {e}") from None
                self._by_text.setdefault(row["prompt"], meta.parent / "samples")
        self._flat = {(m[1], int(m[2])): p for p in folder.glob("*.png") if (m := _FLAT.match(p.name))}

    def path_for(self, prompt: Prompt, seed: int) -> Path:
        if prompt.text in self._by_text:
            samples = self._by_text[prompt.text]
            for p in samples.glob("*.png"):
                if (m := _NUMBERED.match(p.name)) and int(m[1]) == seed:
                    return p
            return samples / f"{seed:05d}.png"
        return self._flat.get((prompt.id, seed), self.folder / f"{prompt.id}_{seed}.png")

    def generate(self, requests: Sequence[tuple[Prompt, int]]) -> list[Image.Image | GenerationFailure]:
        out: list[Image.Image | GenerationFailure] = []
        for prompt, seed in requests:
            path = self.path_for(prompt, seed)
            if not path.is_file():
                out.append(GenerationFailure(f"missing image {path} (prompt {prompt.id}, seed {seed})"))
                continue
            try:
                with Image.open(path) as im:
                    im.load()
                    out.append(ImageOps.exif_transpose(im).convert("RGB"))
            except (UnidentifiedImageError, OSError, SyntaxError) as e:
                out.append(GenerationFailure(f"unreadable image {path} (prompt {prompt.id}, seed {seed}): {e}"))
        return out


@register_candidate_kind("images", "images:<folder>  (GenEval <index>/samples/NNNNN.png, or <prompt_id>_<seed>.png)")
def _images(rest: str, spec: str) -> ImageFolderCandidate:
    if not rest:
        raise ValueError("images candidate needs a folder: images:<folder>")
    return ImageFolderCandidate(spec, Path(rest).expanduser())
