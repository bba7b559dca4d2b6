"""``edgen``: EvolveDirector in the round loop. One ``train_round`` call is one director round:

1. sample ``sample_frac`` of the training prompts (all of them while there are at most
   ``sample_all_below``); the start checkpoint (the current base) renders them;
2. every advanced model renders them (cached on disk; the budget counts each image once);
3. several advanced models: a knock-out tournament in ``advanced`` order (the champion meets
   each next model; a tie or no answer keeps the champion); then the champion meets the base;
   every comparison shows the two images as (A)/(B) in a seeded random order;
4. advanced wins -> keep the prompt, record the champion as its image source, and expand it into
   ``expand_k`` new prompts that only the champion renders; base wins -> delete it, and with
   probability ``mutate_p`` add one unrelated new prompt (rendered by the champion); no answer
   -> leave the prompt as it is (counted as undecided);
5. fine-tune the base (``finetune``) for ``steps`` steps on the whole set, each prompt with its
   recorded model's images, and save the checkpoint; the loop then scores and gates it.

``mode = "uncurated"`` is the baseline: no base renders and no director; random prompts of the
sample are expanded (model drawn uniformly) until the round has spent the advanced-image budget
that the director loop in ``budget_from`` had spent by the same round (times ``budget_scale``), or, without
``budget_from``, each sampled prompt with probability ``expand_p``. Nothing is deleted.

Prompts that start the set (``prompts``, ``prompts_file``, or ``initial_prompts`` written by the
writer) take their images from the advanced models in turn until the director has judged them.
Steps 1-4 live in :mod:`trainers.edgen.curation`, state and caching in :mod:`trainers.edgen.state`,
the director in :mod:`trainers.edgen.director`, the prompt writer in :mod:`trainers.edgen.writer`.
Seeds: every draw is seeded from ``seed``, the round and the prompt (``stable_seed``), so a round
that is run again decides the same way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.candidates import Candidate, resolve_candidate
from bench.candidates.diffusers_pipeline import DiffusersCandidate
from bench.spec import parse_options
from trainers import register_trainer
from trainers.edgen.curation import curate, uncurated
from trainers.edgen.options import Options, device_of, image_seeds
from trainers.edgen.state import Entry, ImageCache, State, load_image, load_state, save_state
from trainers.edgen.writer import EdgenWriter
from trainers.finetune import OptimizerOptions, denoiser_of, finetune
from trainers.loop import RoundContext
from trainers.sampling import stable_seed
from trainers.world_model.data import foreground_masks


def initial_state(opts: Options, writer: EdgenWriter) -> State:
    prompts = list(opts.prompts)
    if opts.prompts_file:
        prompts += [ln.strip() for ln in Path(opts.prompts_file).read_text().splitlines() if ln.strip()]
    if not prompts:
        prompts = writer.initial(opts.initial_prompts, stable_seed("edgen-initial", opts.seed))
    prompts = list(dict.fromkeys(prompts))
    if not prompts:
        raise ValueError("edgen: no training prompts (give prompts, prompts_file or initial_prompts)")
    adv = opts.advanced
    return State(0, [Entry(p, adv[i % len(adv)]) for i, p in enumerate(prompts)])


def training_pairs(state: State, cache: ImageCache, advanced: dict[str, Candidate], opts: Options
                   ) -> tuple[list[tuple[str, Path]], int]:
    """(prompt, image file) for every entry (rendering what is missing); entries that cannot be
    rendered leave the set. Also returns how many left."""
    pairs, keep = [], set()
    for spec in dict.fromkeys(e.model for e in state.entries):
        if spec not in advanced:
            advanced[spec] = resolve_candidate(spec)  # a model dropped from the options still trains its prompts
        group = [e for e in state.entries if e.model == spec]
        paths = cache.get(advanced[spec], [(e.prompt, s) for e in group for s in image_seeds(opts, e.prompt)])
        n = opts.images_per_prompt
        for j, e in enumerate(group):
            mine = paths[j * n:(j + 1) * n]
            if all(p is not None for p in mine):
                keep.add(e.prompt)
                pairs += [(e.prompt, p) for p in mine]
    dropped = len(state.entries) - len(keep)
    state.entries = [e for e in state.entries if e.prompt in keep]
    return pairs, dropped


def batches(pairs: list[tuple[str, Path]], opts: Options, size: int, seed: int):  # noqa: ANN201
    """``steps`` batches of (prompts, images in [-1, 1] at ``size`` px) drawn from ``pairs``, with the
    world detector's object masks when ``opts.fg_weight`` asks for them."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for _ in range(opts.steps):
        idx = rng.choice(len(pairs), opts.batch_size, replace=len(pairs) < opts.batch_size)
        images = []
        for i in idx:
            im = load_image(pairs[i][1])
            if im.size != (size, size):
                im = im.resize((size, size), Image.BICUBIC)
            images.append(np.asarray(im))
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        prompts = [pairs[i][0] for i in idx]
        yield (prompts, x, foreground_masks(x)) if opts.fg_weight else (prompts, x)


@register_trainer("edgen", "EvolveDirector: a director (world judges or a VLM) curates advanced-model images "
                  "for the base; options: advanced, mode, director, writer, sample_frac, expand_k, mutate_p, "
                  "steps, lr, batch_size, seed, budget_from, budget_scale (see trainers/edgen/trainer.py)")
def train_round(ctx: RoundContext) -> dict[str, Any]:
    opts = Options.from_dict(ctx.options)
    root = ctx.out.parent / "edgen"
    writer = EdgenWriter(opts.writer, opts.rouge_threshold if opts.rouge_threshold >= 0 else None,
                         temperature=opts.lm_temperature, max_new_tokens=opts.lm_max_new_tokens, device=device_of(opts))
    state = load_state(root, ctx.index) or initial_state(opts, writer)
    size_before, paid_before, state.round = len(state.entries), len(state.paid), ctx.index
    cache = ImageCache(root / "cache", state)
    advanced = {s: resolve_candidate(s) for s in opts.advanced}
    base = DiffusersCandidate(f"diffusers:{ctx.start}", ctx.start,
                              parse_options(opts.base_sampling, "edgen base_sampling")
                              | {"dtype": "fp32", "device": device_of(opts)})  # renders in the training precision
    if opts.mode == "director":
        record = curate(ctx, opts, state, cache, advanced, base, writer)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # the director (a VLM) is gone: its memory goes to training
    else:
        record = uncurated(ctx, opts, state, writer)
    pairs, dropped = training_pairs(state, cache, advanced, opts)
    if not pairs:
        raise ValueError(f"edgen round {ctx.index}: the training set is empty")
    pipe = base.pipe
    if opts.qk_norm:
        from trainers.edgen.qk_norm import with_qk_norm

        with_qk_norm(pipe)
    size = opts.size or denoiser_of(pipe).config.sample_size * pipe.vae_scale_factor
    seed = stable_seed("edgen-train", opts.seed, ctx.index) % 2**31
    optim = OptimizerOptions(opts.weight_decay, opts.warmup_steps, ema=opts.ema, mixed_precision=opts.mixed_precision)
    losses = finetune(pipe, batches(pairs, opts, size, seed), lr=opts.lr, seed=seed, optim=optim,
                      fg_weight=opts.fg_weight)
    ctx.out.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(ctx.out)
    added = record["expanded"] + record["mutated"]
    summary = {"round": ctx.index, "set_size": len(state.entries), "added": added, "deleted": record["deleted"],
               "advanced_images": len(state.paid), "advanced_better_ratio": record.get("advanced_better_ratio")}
    state.history.append(summary)
    state_file = save_state(root, state)
    return {"trainer": "edgen", "mode": opts.mode, "round": ctx.index, "advanced": opts.advanced,
            "director": opts.director if opts.mode == "director" else None, "writer": opts.writer,
            "set_size_before": size_before, "set_size": len(state.entries), "data_size": len(pairs),
            "added": added, **record, "dropped_unrenderable": dropped,
            "advanced_images_round": len(state.paid) - paid_before, "advanced_images": len(state.paid),
            "advanced_images_by_model": dict(state.paid_by_model), "advanced_images_rendered": cache.generated,
            "render_failures": cache.failures[:5], "writer_stats": writer.stats,
            "origins": dict(Counter(e.origin for e in state.entries)), "steps": opts.steps,
            "batch_size": opts.batch_size, "lr": opts.lr, "size": size, "seed": opts.seed, "qk_norm": opts.qk_norm,
            "loss_first": losses[0], "loss_last": losses[-1], "state_file": str(state_file),
            "options": asdict(opts)}
