"""World candidates: ``world:oracle`` draws what the prompt asks; ``world:noisy:...`` errs at set rates.

``world:noisy`` also takes induced bias in free choices: ``bias=red:0.8`` and ``extra=0.3``
(see :mod:`bench.world.noise`). ``world:oracle`` makes every free choice uniformly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from bench.candidates import register_candidate_kind
from bench.candidates.diffusers_pipeline import DiffusersCandidate
from bench.spec import parse_options, take
from bench.types import GenerationFailure, Prompt
from bench.world.assets import BASE_MODEL
from bench.world.languages import parse_any
from bench.world.noise import KINDS, ErrorRates, apply_errors, apply_free_choices, error_draws, free_draw
from bench.world.render import paint, stable_seed
from bench.world.scene import LayoutError, ObjectSpec, SceneSpec, layout

FREE_SCENE = SceneSpec((ObjectSpec(),))  # what a world candidate draws for text outside the grammar


class WorldCandidate:
    """Renders the scene the prompt text asks for, after applying known error rates."""

    batch_size = 64

    def __init__(self, spec: str, rates: ErrorRates | None = None, size: int = 64, object_scale: float = 1.0) -> None:
        self.spec, self.rates, self.size, self.object_scale = spec, rates or ErrorRates(), size, object_scale

    def scene_for(self, text: str, seed: int) -> SceneSpec:
        scene = parse_any(text) or FREE_SCENE  # English, French, or buried in a long prompt
        if any(getattr(self.rates, k) for k in KINDS):
            rng = np.random.default_rng(stable_seed("noise-picks", text, seed))
            scene = apply_errors(scene, self.rates, error_draws(text, seed), rng)
        if self.rates.free_choices:
            rng = np.random.default_rng(stable_seed("free-picks", text, seed))
            scene = apply_free_choices(scene, self.rates, free_draw(text, seed), rng)
        return scene

    def generate(self, requests: Sequence[tuple[Prompt, int]]) -> list[Image.Image | GenerationFailure]:
        out: list[Image.Image | GenerationFailure] = []
        for prompt, seed in requests:
            rng = np.random.default_rng(stable_seed("world", prompt.text, seed))
            try:
                scene = layout(self.scene_for(prompt.text, seed), rng, self.size, scale=self.object_scale)
                out.append(paint(scene, rng))
            except LayoutError as e:
                out.append(GenerationFailure(f"prompt {prompt.id}: {e}"))
        return out


class NoiseCandidate:
    """Pure-noise images (uniform RGB per pixel, seeded per prompt and seed): the floor that
    every alignment score must beat."""

    batch_size = 64

    def __init__(self, spec: str, size: int = 64) -> None:
        self.spec, self.size = spec, size

    def generate(self, requests: Sequence[tuple[Prompt, int]]) -> list[Image.Image | GenerationFailure]:
        out: list[Image.Image | GenerationFailure] = []
        for prompt, seed in requests:
            rng = np.random.default_rng(stable_seed("noise-image", prompt.text, seed))
            out.append(Image.fromarray(rng.integers(0, 256, (self.size, self.size, 3), dtype=np.uint8), "RGB"))
        return out


BASE_SAMPLING = "steps=20,guidance=1.5,batch=32"  # how the model card's scores were made


@register_candidate_kind("world", "world:oracle  |  world:noisy:count=0.2,color=0.1,missing=0.05,position=0.1  |  "
                         "world:oracle:object_scale=1.8  (objects drawn as large as world:base's training renders)  |  "
                         "world:noisy:extra=0.3,bias=red:0.8  (induced bias in free choices)  |  "
                         "world:base  (the world diffusion model)  |  world:noise  (pure-noise images)")
def _world(rest: str, spec: str) -> WorldCandidate | NoiseCandidate | DiffusersCandidate:
    name, _, opts = rest.partition(":")
    if name == "base":
        if not (BASE_MODEL / "model_index.json").exists():
            raise ValueError(f"world:base is not shipped in this version (no weights in {BASE_MODEL}); "
                             "train one with trainers/world_model (see its README)")
        options = parse_options(BASE_SAMPLING, spec) | parse_options(opts, spec)
        return DiffusersCandidate(spec, str(BASE_MODEL), options)
    options = parse_options(opts, spec)
    size = take(options, "size", int, 64, spec)
    if name in ("oracle", "noisy"):  # object_scale: draw objects larger, as world:base was trained to
        scale = take(options, "object_scale", float, 1.0, spec)
    if name == "oracle":
        if options:
            raise ValueError(f"world:oracle takes only size=N and object_scale=X, got {', '.join(options)} in {spec!r}")
        return WorldCandidate(spec, None, size, scale)
    if name == "noise":
        if options:
            raise ValueError(f"world:noise takes only size=N, got {', '.join(options)} in {spec!r}")
        return NoiseCandidate(spec, size)
    if name == "noisy":
        return WorldCandidate(spec, ErrorRates.parse(",".join(f"{k}={v}" for k, v in options.items())), size, scale)
    raise ValueError(f"unknown world candidate {spec!r}; "
                     "use world:oracle, world:noisy:KIND=RATE,..., world:noise or world:base")
