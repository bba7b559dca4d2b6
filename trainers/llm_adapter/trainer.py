"""``llm-adapter``: an LLM's text features aligned to CLIP through an adapter, in three gated stages.

Round k carries out entry k of ``plan`` (default ``["align", "end2end", "curated"]``):

* ``"align"`` (stage 1): from a pipeline with a CLIP text encoder, build the LLM (``llm``: a hub
  id, a path, or ``"world"`` for the shipped world LM) and a fresh adapter, and train the adapter
  alone on text pairs to reproduce CLIP's features; the round's checkpoint is the same pipeline
  with the LLM + adapter as its text encoder and the LLM's tokenizer. The CLIP pipeline is
  recorded (``clip_from``) so a later align round can find its targets again.
* ``"end2end"`` (stage 2): the adapter and the denoiser on (caption, image) pairs.
* ``"curated"`` (stage 3): the same on the samples of the current model that the judges of
  ``curate_suite`` rate correct (in the world: GenEval's exact world judges), as
  ``curated_share`` of each batch (the rest fresh world renders; 1: the curated samples alone).

World text: random world scenes, the LLM side in any of ``languages`` and inside a long prompt
with probability ``long_p``, the CLIP side in English (``text_pairs`` = a JSONL file replaces it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.device import resolve_device
from trainers import register_trainer
from trainers.llm_adapter import data, stages
from trainers.llm_adapter.model import AdaptedTextEncoder, LLMAdapter, check_attached, load_llm, with_text_encoder
from trainers.loop import RoundContext, resolve_checkpoint, trainer_options
from trainers.sampling import stable_seed

STAGES = ("align", "end2end", "curated")


@dataclass
class Options:
    plan: list[str] = field(default_factory=lambda: list(STAGES))
    llm: str = "world"
    max_length: int = 192  # the LLM tokenizer's length: long prompts must fit
    adapter: str = "transformer"  # or "geglu" (LaVi-Bridge; no align stage)
    width: int = 128
    encoder_layers: int = 2
    decoder_layers: int = 2
    heads: int = 4
    source_positions: bool = True  # sinusoidal positions on the LLM tokens (transformer adapter)
    languages: list[str] = field(default_factory=lambda: ["en", "fr"])
    long_p: float = 0.3
    text_pairs: str = ""  # JSONL {"text", "target"}; "" = world scenes
    align_pairs: int = 20000
    align_steps: int = 1000
    align_batch: int = 64
    align_lr: float = 3e-4
    align_cosine: bool = False  # warm-up, then cosine decay of the align stage's learning rate
    norm_weight: float = stages.NORM_WEIGHT
    clip_layer: int = -1
    clip_from: str = ""  # the pipeline holding the CLIP text encoder; default: the start checkpoint
    steps: int = 300
    batch_size: int = 16
    lr: float = 5e-5
    fg_weight: float = 0.0  # extra loss weight on objects' positions in world renders
    object_scale: float = 1.0  # world renders' object sizes (as the world model was trained; world:base: see its card)
    curate_suite: str = "geneval-world"
    curate_prompts: int = 120
    curate_images: int = 2
    curate_keep: float = 1.0  # keep samples scoring at least this (GenEval: correct)
    curated_steps: int = 100
    curated_lr: float = 0.0  # the curated stage's learning rate; 0: the same as ``lr``
    curated_share: float = 1.0  # of each curated-stage batch; the rest: fresh world renders (as in end2end)
    gen_steps: int = 20
    guidance: float = 1.5
    seed: int = 0
    device: str = "auto"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Options:
        opts = trainer_options(cls, raw, "llm-adapter")
        bad = [p for p in opts.plan if p not in STAGES]
        if bad:
            raise ValueError(f"llm-adapter: plan entries {bad} are not stages ({', '.join(STAGES)})")
        if not 0 < opts.curated_share <= 1:
            raise ValueError(f"llm-adapter: curated_share must be in (0, 1], got {opts.curated_share}")
        return opts


def _load(path: str, device: str):  # noqa: ANN202
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(path, dtype=torch.float32)
    if not hasattr(pipe, "unet"):
        raise ValueError(f"llm-adapter: {path} has no UNet; the adapter feeds Stable-Diffusion-style pipelines, "
                         "whose text sequence length may differ from the tokenizer's")
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def _manifest(folder: str | Path) -> dict[str, Any]:
    p = Path(folder) / "data_manifest.json"
    return json.loads(p.read_text()) if p.exists() else {}


def build_encoder(opts: Options, clip, clip_tok) -> tuple[AdaptedTextEncoder, Any]:  # noqa: ANN001
    """The LLM (frozen) + a fresh adapter shaped like ``clip``'s output, and the LLM's tokenizer."""
    from transformers import AutoTokenizer

    from bench.world.assets import world_llm

    ref = world_llm() if opts.llm == "world" else opts.llm
    tok = AutoTokenizer.from_pretrained(ref)
    tok.model_max_length = opts.max_length
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    llm = load_llm(ref)
    adapter = LLMAdapter(llm_dim=llm.config.hidden_size, out_dim=clip.config.hidden_size,
                         pooled_dim=clip.config.hidden_size, num_queries=clip_tok.model_max_length,
                         width=opts.width, encoder_layers=opts.encoder_layers, decoder_layers=opts.decoder_layers,
                         heads=opts.heads, kind=opts.adapter, source_positions=opts.source_positions)
    return AdaptedTextEncoder.around(llm, adapter), tok


def _align_round(ctx: RoundContext, opts: Options, device: str) -> dict[str, Any]:
    start_is_clip = _manifest(ctx.start).get("trainer") != "llm-adapter"
    clip_from = resolve_checkpoint(opts.clip_from) if opts.clip_from else (
        ctx.start if start_is_clip else _manifest(ctx.start).get("clip_from", ""))
    if not clip_from:
        raise ValueError(f"llm-adapter align: cannot tell which pipeline holds the CLIP encoder for {ctx.start}; "
                         "set options.clip_from")
    clip_pipe = _load(clip_from, device)
    clip, clip_tok = clip_pipe.text_encoder, clip_pipe.tokenizer
    if start_is_clip:
        encoder, tok = build_encoder(opts, clip, clip_tok)
    else:
        start = _load(ctx.start, device)
        encoder, tok = start.text_encoder, start.tokenizer
    encoder.to(device)
    pairs = (data.file_text_pairs(opts.text_pairs) if opts.text_pairs else
             data.world_text_pairs(opts.align_pairs, stable_seed("adapter-text", opts.seed) % 2**31,
                                   opts.languages, opts.long_p))
    clip_mask = bool(getattr(clip.config, "use_attention_mask", False))
    losses = stages.align(encoder, tok, clip, clip_tok, pairs, opts.align_steps, opts.align_batch, opts.align_lr,
                          stable_seed("adapter-align", opts.seed, ctx.index) % 2**31, opts.norm_weight,
                          opts.clip_layer, clip_mask, opts.align_cosine, log=print)
    pipe = with_text_encoder(clip_pipe if start_is_clip else start, encoder, tok)
    check_attached(pipe)
    pipe.save_pretrained(ctx.out)
    return {"trainer": "llm-adapter", "stage": "align", "llm": opts.llm, "adapter": opts.adapter,
            "clip_from": clip_from, "text_pairs": opts.text_pairs or "world", "languages": opts.languages,
            "long_p": opts.long_p, "pairs": len(pairs), "data_size": opts.align_steps * opts.align_batch,
            "steps": opts.align_steps, "batch_size": opts.align_batch, "lr": opts.align_lr, "cosine": opts.align_cosine,
            "source_positions": opts.source_positions,
            "loss_first": losses[0], "loss_last": losses[-1]}


def _world_prompts(n: int, seed: int, languages: list[str], long_p: float) -> list:
    """``n`` fresh world prompts over the six GenEval tasks (not the suite's), with their GenEval rows."""
    from bench.types import Prompt
    from bench.world.grammar import geneval_row
    from suites.geneval.prompts import random_task_spec
    from suites.geneval.rules import TASKS

    rng = np.random.default_rng(seed)
    out, seen = [], set()
    while len(out) < n:
        task = TASKS[len(out) % len(TASKS)]
        spec = random_task_spec(task, rng)
        text = data.caption(spec, rng, languages, long_p)
        if text not in seen:
            seen.add(text)
            out.append(Prompt(f"curate-{len(out)}", text, task, geneval_row(task, spec)))
    return out


def _finetune_round(ctx: RoundContext, opts: Options, stage: str, device: str) -> dict[str, Any]:
    pipe = _load(ctx.start, device)
    if not isinstance(pipe.text_encoder, AdaptedTextEncoder):  # no align round before (e.g. the geglu adapter)
        encoder, tok = build_encoder(opts, pipe.text_encoder, pipe.tokenizer)
        pipe = with_text_encoder(pipe, encoder.to(device), tok)
    seed = stable_seed("adapter-train", opts.seed, ctx.index) % 2**31
    extra: dict[str, Any] = {}
    if stage == "end2end":
        steps = opts.steps
        batches = data.world_image_batches(steps, opts.batch_size, seed, opts.languages, opts.long_p,
                                             object_scale=opts.object_scale)
        size = steps * opts.batch_size
    else:
        from suites import resolve_suite

        suite = resolve_suite(opts.curate_suite)
        prompts = _world_prompts(opts.curate_prompts, seed, opts.languages, opts.long_p)
        kept, extra = stages.curate(pipe, prompts, suite.judge, opts.curate_images, seed, opts.gen_steps,
                                    opts.guidance, opts.curate_keep)
        print(f"curated: kept {extra['kept']} of {extra['generated']} samples (mean score {extra['mean_score']:.3f})")
        if not kept:
            raise ValueError(f"llm-adapter curated: none of the {extra['generated']} samples of {ctx.start} passed "
                             f"the {opts.curate_suite} judges; nothing to fine-tune on")
        steps, size = opts.curated_steps, len(kept)
        if opts.curated_share >= 1:
            batches = data.cycle_batches(kept, steps, opts.batch_size, seed)
        else:
            batches = data.mixed_batches(kept, steps, opts.batch_size, opts.curated_share, seed, opts.languages,
                                         opts.long_p, object_scale=opts.object_scale)
        extra["curated_share"] = opts.curated_share
    lr = opts.curated_lr if stage == "curated" and opts.curated_lr > 0 else opts.lr
    losses = stages.end_to_end(pipe, batches, lr, seed, log_every=max(1, steps // 10), fg_weight=opts.fg_weight)
    check_attached(pipe)
    pipe.save_pretrained(ctx.out)
    start = _manifest(ctx.start)
    return {"trainer": "llm-adapter", "stage": stage, "llm": start.get("llm", opts.llm),
            "clip_from": start.get("clip_from", ctx.start), "languages": opts.languages, "long_p": opts.long_p,
            "data_size": size, "steps": steps, "batch_size": opts.batch_size, "lr": lr,
            "loss_first": losses[0], "loss_last": losses[-1], **extra}


@register_trainer("llm-adapter", "an LLM's features aligned to CLIP through an adapter: align (text only), end2end, "
                  "curated (options: plan, llm, adapter, languages, long_p, align_steps, steps, lr, ...; see "
                  "trainers/llm_adapter/trainer.py)")
def train_round(ctx: RoundContext) -> dict[str, Any]:
    opts = Options.from_dict(ctx.options)
    if ctx.index > len(opts.plan):
        raise ValueError(f"llm-adapter: round {ctx.index} asked, but the plan has {len(opts.plan)} stages: "
                         f"{opts.plan}")
    stage = opts.plan[ctx.index - 1]
    device = resolve_device(opts.device)
    torch.manual_seed(stable_seed("adapter-init", opts.seed, ctx.index) % 2**31)
    if stage == "align":
        return _align_round(ctx, opts, device)
    return _finetune_round(ctx, opts, stage, device)
