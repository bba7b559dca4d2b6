"""Images from a pipeline for training data (self-generated data in SELMA and the LLM adapter)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image

from bench.candidates.diffusers_pipeline import pipeline_call_options
from bench.types import Prompt


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from printable parts, the same in every process."""
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "little") >> 1


def generate_images(pipe, prompts: list[str], per_prompt: int, seed: int, steps: int = 20,  # noqa: ANN001
                    guidance: float = 7.5, size: int | None = None, batch: int = 16
                    ) -> list[tuple[str, torch.Tensor]]:
    """``per_prompt`` images per prompt, each with its own seeded CPU generator, as (prompt,
    image in [-1, 1] of shape (3, H, W)) on the CPU, in prompt order."""
    jobs = [(p, stable_seed(seed, i, j)) for i, p in enumerate(prompts) for j in range(per_prompt)]
    kw: dict[str, Any] = dict(num_inference_steps=steps, guidance_scale=guidance, output_type="pt",
                              **pipeline_call_options(pipe))
    if size:
        kw |= dict(height=size, width=size)
    out = []
    for k in range(0, len(jobs), batch):
        chunk = jobs[k:k + batch]
        gens = [torch.Generator("cpu").manual_seed(s) for _, s in chunk]
        with torch.inference_mode():
            images = pipe([p for p, _ in chunk], generator=gens, **kw).images
        out += [(p, im.float().cpu().clamp(0, 1) * 2 - 1) for (p, _), im in zip(chunk, images, strict=True)]
    return out


def to_pil(image: torch.Tensor) -> Image.Image:
    """An image in [-1, 1] of shape (3, H, W) (as :func:`generate_images` returns) as 8-bit RGB."""
    return Image.fromarray(((image.permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8))


def keep_judged(images: list[tuple[str, torch.Tensor]], prompts: dict[str, Prompt], judge: Callable,
                keep: float = 1.0) -> tuple[list[tuple[str, torch.Tensor]], list[float]]:
    """The (prompt text, image) pairs that ``judge`` (a suite's: batch of (Prompt, seed, PIL image)
    -> [(score, details)]) scores at least ``keep``, judging each image against ``prompts[text]``;
    and every image's score."""
    scores = [s for s, _ in judge([(prompts[t], 0, to_pil(im)) for t, im in images])]
    return [pair for pair, s in zip(images, scores, strict=True) if s >= keep], scores
