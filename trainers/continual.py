"""``continue``: the simplest trainer. Plain fine-tuning on fresh world renders of prompts from
the weakest GenEval category of the checkpoint it starts from."""

from __future__ import annotations

from typing import Any

import numpy as np

from suites.geneval.prompts import random_task_spec
from trainers import register_trainer
from trainers.finetune import finetune
from trainers.loop import RoundContext
from trainers.world_model.data import render_batch


def world_batches(task: str, steps: int, batch_size: int, seed: int, size: int = 64,  # noqa: ANN201
                  object_scale: float = 1.0):
    """``steps`` batches of (prompts, images in [-1, 1], object masks (B, 1, H, W)) for one GenEval
    task, objects drawn ``object_scale`` times larger (as the model being tuned was trained)."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        yield render_batch(rng, batch_size, lambda r: random_task_spec(task, r), size=size, object_scale=object_scale)


def weakest_category(ctx: RoundContext, suite: str) -> str:
    if ctx.last_scores is None or suite not in ctx.last_scores:
        raise ValueError(f"the continue trainer needs scores of suite {suite!r} for its start checkpoint")
    cats = ctx.last_scores[suite].categories
    return min(cats, key=lambda c: cats[c].score)


@register_trainer("continue", "fine-tune on world renders of the weakest geneval-world category "
                  "(options: steps, batch_size, lr, fg_weight, object_scale, seed, suite, task)")
def train_round(ctx: RoundContext) -> dict[str, Any]:
    from diffusers import DiffusionPipeline

    o = ctx.options
    steps, batch = int(o.get("steps", 200)), int(o.get("batch_size", 16))
    seed = int(o.get("seed", 0)) * 1000 + ctx.index
    task = o.get("task") or weakest_category(ctx, o.get("suite", "geneval-world"))
    object_scale = float(o.get("object_scale", 1.0))
    pipe = DiffusionPipeline.from_pretrained(ctx.start)
    pipe.set_progress_bar_config(disable=True)
    batches = world_batches(task, steps, batch, seed, object_scale=object_scale)
    losses = finetune(pipe, batches, lr=float(o.get("lr", 1e-4)), seed=seed,
                      fg_weight=float(o.get("fg_weight", 0.0)))
    pipe.save_pretrained(ctx.out)
    return {"trainer": "continue", "task": task, "steps": steps, "batch_size": batch, "seed": seed,
            "object_scale": object_scale,
            "data_size": steps * batch, "loss_first": losses[0], "loss_last": losses[-1]}
