"""Denoising fine-tuning of a loaded diffusers pipeline (UNet or PixArt denoiser).

One step: encode images with the frozen VAE, add noise at a random timestep, predict the
noise from the noisy latents and the prompt's text features, regress it (MSE). Captions
are dropped to "" with probability ``cfg_drop`` so classifier-free guidance keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable

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
                          cfg_drop: float = 0.1) -> torch.Tensor:
    """MSE between the denoiser's output and its target (the noise, or the velocity for a
    v-prediction scheduler) for ``images`` (B, 3, H, W) in [-1, 1]."""
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
    return F.mse_loss(pred.float(), target.float())


def finetune(pipe, batches: Iterable[tuple[list[str], torch.Tensor]], lr: float = 1e-4,  # noqa: ANN001
             seed: int = 0, train_text_encoder: bool = False, log_every: int = 0,
             params: Iterable[torch.nn.Parameter] | None = None) -> list[float]:
    """Train the denoiser (and optionally the text encoder) on ``batches``; return the losses.

    ``params`` replaces that choice with an explicit list (e.g. an adapter inside the text
    encoder plus the denoiser); everything else stays frozen in effect, as only ``params`` step.
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
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    losses = []
    for step, (prompts, images) in enumerate(batches, start=1):
        loss = denoising_loss(pipe, prompts, images, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
        if log_every and step % log_every == 0:
            print(f"step {step}: loss {sum(losses[-log_every:]) / log_every:.4f}", flush=True)
    denoiser_of(pipe).eval()
    pipe.text_encoder.eval()
    return losses
