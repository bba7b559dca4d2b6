"""Images from a pipeline for training data (self-generated data in SELMA and the LLM adapter)."""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from bench.candidates.diffusers_pipeline import pipeline_call_options


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
