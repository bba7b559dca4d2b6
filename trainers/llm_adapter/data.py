"""Training data for the LLM adapter's stages, in the Shapes world or from files.

Stage 1 wants text pairs (what the LLM reads, what CLIP reads): an English world prompt and
itself, the same scene in another language and its English words, the scene inside a long
prompt and its English words. Stages 2 and 3 want (caption, image) pairs, the caption in any
of those forms.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from bench.world.grammar import write_prompt
from bench.world.languages import write_prompt as write_in
from bench.world.long_prompts import long_prompt
from bench.world.scene import SceneSpec
from trainers.finetune import cycle
from trainers.world_model.data import render_batch, sample_spec


def caption(spec: SceneSpec, rng: np.random.Generator, languages: list[str], long_p: float) -> str:
    """The scene in a random one of ``languages``, inside a long prompt with probability ``long_p``."""
    text = write_in(spec, languages[int(rng.integers(len(languages)))])
    if rng.random() < long_p:
        text = long_prompt(text, int(rng.integers(2**31)))
    return text


def world_text_pairs(n: int, seed: int, languages: list[str], long_p: float) -> list[tuple[str, str]]:
    """``n`` (LLM text, English CLIP text) pairs of random world scenes."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        spec = sample_spec(rng)
        out.append((caption(spec, rng, languages, long_p), write_prompt(spec)))
    return out


def file_text_pairs(path: str | Path) -> list[tuple[str, str]]:
    """Text pairs from JSONL rows ``{"text": ..., "target": ...}`` (target: the English text for
    CLIP; defaults to ``text``). A bad row is named by file and line."""
    pairs = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            pairs.append((str(row["text"]), str(row.get("target", row["text"]))))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"{path}:{i}: expected a JSON object with a 'text' field ({e})") from None
    if not pairs:
        raise ValueError(f"{path}: no text pairs")
    return pairs


def world_image_batches(steps: int, batch_size: int, seed: int, languages: list[str], long_p: float,
                        size: int = 64, object_scale: float = 1.0
                        ) -> Iterator[tuple[list[str], torch.Tensor, torch.Tensor]]:
    """``steps`` batches of (captions, renders in [-1, 1], object masks) of random world scenes,
    objects drawn ``object_scale`` times larger (as the world model was trained)."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        yield render_batch(rng, batch_size, sample_spec, lambda spec, r: caption(spec, r, languages, long_p), size,
                           object_scale)


def cycle_batches(pairs: list[tuple[str, torch.Tensor]], steps: int, batch_size: int, seed: int
                  ) -> Iterator[tuple[list[str], torch.Tensor]]:
    """``steps`` shuffled batches drawn from a fixed set of (caption, image) pairs."""
    for take in cycle(len(pairs), steps, batch_size, seed):
        yield [pairs[i][0] for i in take], torch.stack([pairs[i][1] for i in take])


def mixed_batches(pairs: list[tuple[str, torch.Tensor]], steps: int, batch_size: int, share: float, seed: int,
                  languages: list[str], long_p: float, object_scale: float = 1.0
                  ) -> Iterator[tuple[list[str], torch.Tensor, torch.Tensor]]:
    """``steps`` batches whose first ``round(share × batch_size)`` items cycle through ``pairs`` and
    whose rest are fresh world renders (as in :func:`world_image_batches`): a small curated set
    seen often, without the model forgetting what fresh data taught it. ``pairs`` get empty object
    masks (no extra loss weight)."""
    n_kept = max(1, min(batch_size, round(share * batch_size)))
    kept = cycle_batches(pairs, steps, n_kept, seed)
    fresh = world_image_batches(steps, batch_size - n_kept, seed + 1, languages, long_p,
                                size=pairs[0][1].shape[-1], object_scale=object_scale)
    for (texts, images), (f_texts, f_images, f_masks) in zip(kept, fresh, strict=True):
        masks = torch.cat([torch.zeros(len(texts), 1, *images.shape[-2:]), f_masks])
        yield [*texts, *f_texts], torch.cat([images, f_images]), masks
