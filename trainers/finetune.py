"""Denoising fine-tuning of a loaded diffusers pipeline (UNet or PixArt denoiser).

One step: encode images with the frozen VAE, add noise at a random timestep, predict the
noise from the noisy latents and the prompt's text features, regress it (MSE). Captions
are dropped to "" with probability ``cfg_drop`` so classifier-free guidance keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def denoiser_of(pipe) -> torch.nn.Module:  # noqa: ANN001  (any DiffusionPipeline)
    return pipe.unet if hasattr(pipe, "unet") else pipe.transformer


def encode_text(pipe, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """Text features (B, L, D) and attention mask, padded to the tokenizer's length as pipelines do."""
    tok = pipe.tokenizer
    ids = tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt")
    # as the pipelines do: PixArt always passes the mask, Stable Diffusion when the encoder asks for it
    use_mask = not hasattr(pipe, "unet") or getattr(pipe.text_encoder.config, "use_attention_mask", False)
    mask = ids.attention_mask.to(pipe.device)
    emb = pipe.text_encoder(ids.input_ids.to(pipe.device), attention_mask=mask if use_mask else None)[0]
    return emb, mask


def denoising_loss(pipe, prompts: list[str], images: torch.Tensor, generator: torch.Generator,  # noqa: ANN001
                   cfg_drop: float = 0.1, object_masks: torch.Tensor | None = None,
                   fg_weight: float = 0.0) -> torch.Tensor:
    """MSE between the denoiser's output and its target (the noise, or the velocity for a
    v-prediction scheduler) for ``images`` (B, 3, H, W) in [-1, 1].

    With ``object_masks`` (B, 1, H, W) and ``fg_weight``, the latent positions of objects weigh
    ``1 + fg_weight`` (a weighted mean, as ``world:base`` was trained: objects cover a few percent
    of a world image, and without the weight fine-tuning unlearns what the caption asks)."""
    with torch.no_grad():
        latents = pipe.vae.encode(images.to(pipe.device)).latent_dist.sample(generator=generator)
        latents = latents * pipe.vae.config.scaling_factor
    b = latents.shape[0]
    drop = (torch.rand(b, generator=generator) < cfg_drop).tolist()
    emb, mask = encode_text(pipe, ["" if d else p for p, d in zip(prompts, drop, strict=True)])
    noise = torch.randn(latents.shape, generator=generator).to(latents)
    t = torch.randint(0, pipe.scheduler.config.num_train_timesteps, (b,), generator=generator).to(pipe.device)
    noisy = pipe.scheduler.add_noise(latents, noise, t)
    denoiser = denoiser_of(pipe)
    if hasattr(pipe, "unet"):
        pred = denoiser(noisy, t, encoder_hidden_states=emb).sample
    else:
        pred = denoiser(noisy, encoder_hidden_states=emb, encoder_attention_mask=mask, timestep=t,
                        added_cond_kwargs={"resolution": None, "aspect_ratio": None}).sample
        pred = pred[:, : latents.shape[1]]  # PixArt may also predict a variance
    if pipe.scheduler.config.prediction_type == "v_prediction":
        target = pipe.scheduler.get_velocity(latents, noise, t)
    elif pipe.scheduler.config.prediction_type == "epsilon":
        target = noise
    else:
        raise ValueError(f"fine-tuning supports epsilon and v_prediction, not {pipe.scheduler.config.prediction_type}")
    if fg_weight and object_masks is not None:
        sq = F.mse_loss(pred.float(), target.float(), reduction="none")
        w = 1 + fg_weight * F.adaptive_max_pool2d(object_masks.float().to(sq.device), sq.shape[-2:])
        return ((sq * w).sum(dim=(1, 2, 3)) / (w.sum(dim=(1, 2, 3)) * sq.shape[1])).mean()
    return F.mse_loss(pred.float(), target.float())


def cycle(n: int, steps: int, batch_size: int, seed: int) -> Iterator[list[int]]:
    """``steps`` batches of indices into ``n`` items: shuffled passes, one after another."""
    rng = np.random.default_rng(seed)
    order: list[int] = []
    for _ in range(steps):
        while len(order) < batch_size:
            order += rng.permutation(n).tolist()
        take, order = order[:batch_size], order[batch_size:]
        yield take


@dataclass(frozen=True)
class OptimizerOptions:
    """How :func:`finetune` steps: AdamW with decoupled weight decay, a linear warm-up to ``lr``
    then constant, gradient clipping, an optional EMA of the trained weights (written back into
    the model at the end; 0 = off) and optional bf16/fp16 autocast for the forward pass."""

    weight_decay: float = 0.01
    warmup_steps: int = 0
    grad_clip: float = 1.0
    ema: float = 0.0
    mixed_precision: str = "no"  # "no" | "bf16" | "fp16"

    def __post_init__(self) -> None:
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise ValueError(f"mixed_precision must be no, bf16 or fp16, not {self.mixed_precision!r}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1), not {self.ema}")


def finetune(pipe, batches: Iterable[tuple], lr: float = 1e-4,  # noqa: ANN001
             seed: int = 0, train_text_encoder: bool = False, log_every: int = 0,
             params: Iterable[torch.nn.Parameter] | None = None,
             optim: OptimizerOptions = OptimizerOptions(), fg_weight: float = 0.0) -> list[float]:
    """Train the denoiser (and optionally the text encoder) on ``batches`` of (prompts, images) or
    (prompts, images, object masks); return the losses.

    ``params`` replaces that choice with an explicit list (e.g. LoRA factors, or an adapter
    inside the text encoder plus the denoiser); only ``params`` step. ``fg_weight`` weighs the
    objects' positions where a batch brings masks (see :func:`denoising_loss`).
    """
    gen = torch.Generator().manual_seed(seed)
    if params is None:
        params = list(denoiser_of(pipe).parameters())
        if train_text_encoder:
            params += list(pipe.text_encoder.parameters())
    params = list(params)
    trained = {id(p) for p in params}
    for m in (denoiser_of(pipe), pipe.text_encoder):
        m.train(any(id(p) in trained for p in m.parameters()))
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=optim.weight_decay)
    warm = max(1, optim.warmup_steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm))
    ema = [p.detach().clone() for p in params] if optim.ema else None
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(optim.mixed_precision)
    scaler = torch.amp.GradScaler(pipe.device.type, enabled=amp is torch.float16)
    losses = []
    for step, (prompts, images, *masks) in enumerate(batches, start=1):
        with torch.autocast(pipe.device.type, dtype=amp or torch.float32, enabled=amp is not None):
            loss = denoising_loss(pipe, prompts, images, gen, object_masks=masks[0] if masks else None,
                                  fg_weight=fg_weight)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(params, optim.grad_clip)
        scaler.step(opt)
        scaler.update()
        sched.step()
        if ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_(ema, [p.detach() for p in params], 1 - optim.ema)
        losses.append(loss.item())
        if log_every and step % log_every == 0:
            print(f"step {step}: loss {sum(losses[-log_every:]) / log_every:.4f}", flush=True)
    if ema is not None:
        with torch.no_grad():
            for p, e in zip(params, ema, strict=True):
                p.copy_(e)
    denoiser_of(pipe).eval()
    pipe.text_encoder.eval()
    return losses
