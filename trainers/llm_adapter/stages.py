"""The LLM adapter's three training stages, each a function on a loaded pipeline.

1. :func:`align`: text only. The LLM and the CLIP text encoder are frozen; the adapter learns to
   give, for what the LLM reads, the sequence and pooled vector CLIP gives for the English text.
   Loss per target: (1 − cosine) + ``norm_weight`` × (‖pred‖ − ‖target‖)², averaged.
2. :func:`end_to_end`: the adapter and the denoiser on (caption, image) pairs, the usual
   denoising loss (``trainers.finetune``).
3. Curated fine-tuning: :func:`end_to_end` again on a small set of samples that the suites'
   judges rate best (:func:`curate`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.optimization import get_cosine_schedule_with_warmup

from bench.types import Prompt
from trainers.finetune import cycle, denoiser_of, finetune
from trainers.llm_adapter.model import AdaptedTextEncoder
from trainers.sampling import generate_images, keep_judged

NORM_WEIGHT = 2e-5  # the reference's weight on the squared difference of vector norms
SHORT = 32  # LLM tokens: texts up to this long are batched apart from longer ones


def alignment_loss(pred: torch.Tensor, target: torch.Tensor, norm_weight: float = NORM_WEIGHT) -> torch.Tensor:
    """Mean over vectors (last dim) of (1 − cos(pred, target)) + norm_weight (‖pred‖ − ‖target‖)²."""
    cos = F.cosine_similarity(pred.float(), target.float(), dim=-1)
    norms = (pred.float().norm(dim=-1) - target.float().norm(dim=-1)) ** 2
    return (1 - cos).mean() + norm_weight * norms.mean()


def clip_targets(clip, clip_tok, texts: list[str], use_mask: bool, layer: int = -1  # noqa: ANN001
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """CLIP's hidden states at ``layer`` (-1: the final, normed output that Stable Diffusion 1.x
    reads; -2: the penultimate that SDXL reads) and pooled output, for ``texts``."""
    ids = clip_tok(texts, padding="max_length", max_length=clip_tok.model_max_length, truncation=True,
                   return_tensors="pt")
    with torch.no_grad():
        out = clip(ids.input_ids.to(clip.device), attention_mask=ids.attention_mask.to(clip.device) if use_mask
                   else None, output_hidden_states=layer != -1)
    seq = out.last_hidden_state if layer == -1 else out.hidden_states[layer]
    return seq, out.pooler_output


def encode(encoder: AdaptedTextEncoder, tok, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """The adapter's sequence and pooled output for ``texts``. Padded to the batch's longest text,
    not to the tokenizer's length as pipelines do: padding is masked, so the result is the same."""
    ids = tok(texts, padding="longest", max_length=tok.model_max_length, truncation=True, return_tensors="pt")
    out = encoder(ids.input_ids.to(encoder.device), attention_mask=ids.attention_mask.to(encoder.device))
    return out.last_hidden_state, out.pooler_output


def align(encoder: AdaptedTextEncoder, tok, clip, clip_tok, pairs: Sequence[tuple[str, str]],  # noqa: ANN001
          steps: int, batch: int = 32, lr: float = 1e-4, seed: int = 0, norm_weight: float = NORM_WEIGHT,
          layer: int = -1, clip_mask: bool = False, cosine: bool = False,
          log: Callable[[str], None] | None = None) -> list[float]:
    """Stage 1: train only ``encoder.adapter`` so that ``encoder(text)`` matches ``clip(target)``
    for every (text, target) pair; return the losses. ``cosine``: the learning rate warms up over
    the first 5% of the steps, then decays to zero along a cosine (else it stays at ``lr``)."""
    if encoder.adapter.config.kind != "transformer":
        raise ValueError("stage 1 (align) needs the transformer adapter: the geglu adapter's output follows the "
                         "LLM's tokens, not CLIP's positions; train it from stage 2 (end2end)")
    if encoder.adapter.config.num_queries != clip_tok.model_max_length:
        raise ValueError(f"adapter has {encoder.adapter.config.num_queries} query tokens but the CLIP tokenizer "
                         f"gives sequences of {clip_tok.model_max_length}")
    torch.manual_seed(seed)
    params = list(encoder.adapter.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = get_cosine_schedule_with_warmup(opt, max(1, steps // 20), steps) if cosine else None
    encoder.train()
    clip.eval()
    # short and long texts go through in separate parts of each batch, so that a few long
    # prompts do not pad every short one; weighted by their share, the loss is the batch's mean
    lengths = [len(ids) for ids in tok([t for t, _ in pairs], truncation=True).input_ids]
    losses = []
    for step, take in enumerate(cycle(len(pairs), steps, batch, seed), start=1):
        loss = torch.zeros(())
        for part in ([i for i in take if lengths[i] <= SHORT], [i for i in take if lengths[i] > SHORT]):
            if not part:
                continue
            t_seq, t_pool = clip_targets(clip, clip_tok, [pairs[i][1] for i in part], clip_mask, layer)
            seq, pooled = encode(encoder, tok, [pairs[i][0] for i in part])
            part_loss = alignment_loss(seq, t_seq, norm_weight) + alignment_loss(pooled, t_pool, norm_weight)
            loss = loss + part_loss * (len(part) / len(take))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if sched is not None:
            sched.step()
        losses.append(loss.item())
        if log and (step % max(1, steps // 10) == 0 or step == steps):
            log(f"align step {step}/{steps}: loss {np.mean(losses[-max(1, steps // 10):]):.4f}")
    encoder.eval()
    return losses


def end_to_end(pipe, batches: Iterator[tuple], lr: float, seed: int, log_every: int = 0,  # noqa: ANN001
               fg_weight: float = 0.0) -> list[float]:
    """Stages 2 and 3: the adapter and the denoiser (never the LLM, nor the VAE) on (caption, image)
    batches; return the losses."""
    if not isinstance(pipe.text_encoder, AdaptedTextEncoder):
        raise ValueError("end-to-end training needs a pipeline whose text encoder is the LLM adapter "
                         f"(got {type(pipe.text_encoder).__name__}); run the align stage first")
    params = [*pipe.text_encoder.adapter.parameters(), *denoiser_of(pipe).parameters()]
    return finetune(pipe, batches, lr=lr, seed=seed, params=params, log_every=log_every, fg_weight=fg_weight)


def curate(pipe, prompts: list[Prompt], judge: Callable, per_prompt: int, seed: int, steps: int,  # noqa: ANN001
           guidance: float, keep: float = 1.0, batch: int = 16) -> tuple[list[tuple[str, torch.Tensor]], dict]:
    """Generate ``per_prompt`` images per prompt with ``pipe``, score them with ``judge`` (a suite's
    ``judge``: batch of (Prompt, seed, PIL image) → [(score, details)]) and keep the best: every
    sample scoring at least ``keep``. Returns the kept (prompt text, image) pairs and counts."""
    images = generate_images(pipe, [p.text for p in prompts], per_prompt, seed, steps, guidance, batch=batch)
    kept, scores = keep_judged(images, {p.text: p for p in prompts}, judge, keep)
    return kept, {"generated": len(images), "kept": len(kept), "mean_score": float(np.mean(scores))}
