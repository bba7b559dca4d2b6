"""Edgen's options (the ``[options]`` table of a loop config) and the seeds every part shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.candidates.world import BASE_SAMPLING
from bench.device import resolve_device
from trainers.finetune import OptimizerOptions
from trainers.loop import trainer_options
from trainers.sampling import stable_seed


@dataclass
class Options:
    advanced: list[str] = field(default_factory=lambda: ["world:oracle"])
    mode: str = "director"  # director | uncurated
    director: str = "world"  # world | vlm:<model> | scripted:<answer>|<answer>|...
    writer: str = "world"  # world | lm:<model> | fake | api:<module>:<callable>
    prompts: list[str] = field(default_factory=list)
    prompts_file: str = ""
    initial_prompts: int = 60
    sample_frac: float = 0.2
    sample_all_below: int = 100
    expand_k: int = 3
    mutate_p: float = 0.1
    tie: str = "base"  # what an equal score gives (world director): base | advanced | coin
    images_per_prompt: int = 1
    base_sampling: str = BASE_SAMPLING
    retries: int = 5
    vlm_max_new_tokens: int = 16
    vlm_temperature: float = 0.7
    vlm_layout: str = "side_by_side"
    rouge_threshold: float = 0.9
    lm_temperature: float = 1.0
    lm_max_new_tokens: int = 200
    budget_from: str = ""
    budget_scale: float = 1.0  # uncurated: spend budget_scale x budget_from's images by each round (3: the claim)
    expand_p: float = 0.5
    steps: int = 100
    batch_size: int = 16
    lr: float = 1e-4
    # the reference's optimiser: AdamW, weight decay 0.03, 1,000 warm-up steps then constant,
    # EMA 0.9999, fp16 (bf16 preferred); the world's short rounds default to no warm-up or EMA
    weight_decay: float = 0.03
    warmup_steps: int = 0
    ema: float = 0.0
    mixed_precision: str = "no"
    fg_weight: float = 0.0  # world images: objects' latent positions weigh 1 + fg_weight (see finetune)
    size: int = 0  # training resolution; 0 = the base's native size
    qk_norm: bool = False
    seed: int = 0
    device: str = "auto"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Options:
        o = trainer_options(cls, raw, "edgen")
        OptimizerOptions(o.weight_decay, o.warmup_steps, ema=o.ema, mixed_precision=o.mixed_precision)  # checks
        o.advanced = [o.advanced] if isinstance(o.advanced, str) else list(o.advanced)
        checks = [(o.mode in ("director", "uncurated"), f"mode must be director or uncurated, not {o.mode!r}"),
                  (o.tie in ("base", "advanced", "coin"), f"tie must be base, advanced or coin, not {o.tie!r}"),
                  (bool(o.advanced), "advanced lists no model"),
                  (0 < o.sample_frac <= 1 and 0 <= o.mutate_p <= 1 and 0 <= o.expand_p <= 1,
                   "sample_frac must be in (0, 1], mutate_p and expand_p in [0, 1]"),
                  (o.fg_weight >= 0, "fg_weight must be >= 0"),
                  (o.budget_scale > 0, f"budget_scale must be > 0, not {o.budget_scale!r}"),
                  (o.expand_k >= 0 and o.images_per_prompt >= 1 and o.steps >= 1 and o.batch_size >= 1,
                   "expand_k >= 0, images_per_prompt, steps and batch_size >= 1")]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"edgen: {msg}")
        return o


def device_of(opts: Options) -> str:
    return resolve_device(opts.device)


def image_seeds(opts: Options, prompt: str) -> list[int]:
    """The seeds of a prompt's images, the same for the base and every advanced model."""
    return [stable_seed("edgen-image", opts.seed, prompt, j) % 2**31 for j in range(opts.images_per_prompt)]


