"""Train the small Shapes-world text-to-image model (denoiser + text encoder) on CPU.

    python -m trainers.world_model.train --config unet32 --vae runs/vae32 --out runs/unet32 \
        --steps 6000 --batch 32 --threads 1

Each step draws a fresh batch of world prompts and renders (``data.py``), encodes the images
with the frozen VAE (trained first with ``train_vae.py``), adds noise at a random timestep and
regresses the noise (MSE, optionally min-SNR weighted). Captions are dropped to "" with
probability ``--cfg-drop`` so the model also learns the unconditional score that
classifier-free guidance needs. An EMA of the weights is what gets saved: every ``--save-every``
steps the whole pipeline is written with ``save_pretrained`` to ``OUT`` (loadable with
``DiffusionPipeline.from_pretrained(OUT)``), and ``OUT/train_state.pt`` lets ``--resume`` go on.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from trainers.world_model import build  # noqa: E402
from trainers.world_model.data import KINDS, SceneBatches, batch_loader, parse_kinds, sample_batch  # noqa: E402


def encode_prompts(tokenizer: Any, text_encoder: Any, prompts: list[str], with_mask: bool = False) -> tuple:
    """Text embeddings (B, L, D) exactly as the pipelines compute them (padded to max length)."""
    ids = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").to(text_encoder.device)
    mask = ids.attention_mask if with_mask else None
    emb = text_encoder(ids.input_ids, attention_mask=mask)[0]
    return emb, ids.attention_mask


class Trainer:
    """Holds the model parts and does one optimisation step on a batch."""

    def __init__(self, cfg: dict, vae: Any = None, lr: float = 5e-4, cfg_drop: float = 0.1, snr_gamma: float = 0.0,
                 ema_decay: float = 0.999, seed: int = 0, text_lr_mult: float = 1.0, fg_weight: float = 0.0,
                 text_encoder: Any = None, high_noise: float = 0.0, device: str = "cpu", init: str | None = None):
        self.cfg = cfg
        self.device = torch.device(device)
        parts = build.build_components(cfg, seed)
        self.tokenizer = parts["tokenizer"]
        self.text_encoder = text_encoder if text_encoder is not None else parts["text_encoder"]
        # text_lr_mult 0 freezes the text encoder (as Stable Diffusion keeps its CLIP frozen)
        self.text_frozen = text_lr_mult == 0
        if self.text_frozen:
            self.text_encoder.requires_grad_(False).eval()
        self.denoiser, self.scheduler = parts["denoiser"], parts["scheduler"]
        self.vae = vae if vae is not None else parts["vae"]
        self.vae.requires_grad_(False).eval()
        if init:
            self.init_from(Path(init))
        for module in (self.denoiser, self.text_encoder, self.vae):
            module.to(self.device)
        self.pixart = cfg["denoiser"] == "pixart"
        self.cfg_drop, self.snr_gamma, self.ema_decay, self.fg_weight = cfg_drop, snr_gamma, ema_decay, fg_weight
        self.high_noise = high_noise  # share of timesteps drawn from the noisier half instead of all
        groups = [{"params": list(self.denoiser.parameters()), "lr_mult": 1.0}]
        if not self.text_frozen:
            groups.append({"params": list(self.text_encoder.parameters()), "lr_mult": text_lr_mult})
        self.params = [p for g in groups for p in g["params"]]
        self.opt = torch.optim.AdamW(groups, lr=lr, weight_decay=0.01, betas=(0.9, 0.999))
        self.v_pred = self.scheduler.config.prediction_type == "v_prediction"
        self.ema = [p.detach().clone() for p in self.params]
        self.alphas_cumprod = self.scheduler.alphas_cumprod.float().to(self.device)
        self.rng = np.random.default_rng(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.object_scale = float(cfg.get("object_scale", 1.0))  # training renders' object sizes (data.render_pair)
        self.kinds = cfg.get("kinds") or KINDS  # the mix of scene kinds it trains on (data.sample_spec)
        self.step = 0

    def init_from(self, folder: Path) -> None:
        """Start the denoiser and text encoder from a saved pipeline of the same config (e.g. the
        shipped ``bench/world/base_model``): a warm start with a fresh optimiser and schedule."""
        from safetensors.torch import load_file

        sub = "transformer" if self.cfg["denoiser"] == "pixart" else "unet"
        for module, part in ((self.denoiser, sub), (self.text_encoder, "text_encoder")):
            files = sorted((folder / part).glob("*.safetensors"))
            if not files:
                raise SystemExit(f"--init {folder}: no {part}/*.safetensors there")
            state = {k: v.float() for f in files for k, v in load_file(f).items()}
            try:
                module.load_state_dict(state)
            except RuntimeError as e:
                raise SystemExit(f"--init {folder}/{part}: weights do not fit this config ({e})") from None

    # -- data -> latents ----------------------------------------------------------------------
    @torch.no_grad()
    def to_latents(self, x: torch.Tensor) -> torch.Tensor:
        sf = self.vae.config.scaling_factor
        return self.vae.encode(x).latent_dist.sample(generator=self.gen) * sf

    def predict(self, noisy: torch.Tensor, t: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        emb, mask = encode_prompts(self.tokenizer, self.text_encoder, prompts, with_mask=self.pixart)
        if self.pixart:
            return self.denoiser(noisy, encoder_hidden_states=emb, encoder_attention_mask=mask, timestep=t,
                                 added_cond_kwargs={"resolution": None, "aspect_ratio": None}).sample
        return self.denoiser(noisy, t, encoder_hidden_states=emb).sample

    def loss(self, prompts: list[str], x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Diffusion loss on a batch; ``mask`` (B, 1, H, W) marks object pixels, whose latent
        positions weigh ``1 + fg_weight`` (objects cover 2-10% of a world image, so without it
        the caption-dependent pixels are a sliver of the loss)."""
        latents = self.to_latents(x.to(self.device, non_blocking=True))
        b = latents.shape[0]
        drop = torch.rand(b, generator=self.gen) < self.cfg_drop
        prompts = ["" if d else p for p, d in zip(prompts, drop.tolist(), strict=True)]
        # random draws come from the CPU generator on any device: the same stream everywhere
        noise = torch.randn(latents.shape, generator=self.gen).to(self.device)
        n_t = self.scheduler.config.num_train_timesteps
        t = torch.randint(0, n_t, (b,), generator=self.gen)
        if self.high_noise:  # the noisy half decides what the image holds and where
            high = torch.rand(b, generator=self.gen) < self.high_noise
            t = torch.where(high, torch.randint(n_t // 2, n_t, (b,), generator=self.gen), t)
        t = t.to(self.device)
        if mask is not None:
            mask = mask.to(self.device)
        noisy = self.scheduler.add_noise(latents, noise, t)
        pred = self.predict(noisy, t, prompts)
        sq = F.mse_loss(pred, self.target(latents, noise, t), reduction="none")
        if self.fg_weight and mask is not None:
            w = 1 + self.fg_weight * F.adaptive_max_pool2d(mask, latents.shape[-2:])
            mse = (sq * w).sum(dim=(1, 2, 3)) / (w.sum(dim=(1, 2, 3)) * sq.shape[1])
        else:
            mse = sq.mean(dim=(1, 2, 3))
        if self.snr_gamma:  # min-SNR-gamma weighting (Hang et al. 2023), for either target
            a = self.alphas_cumprod[t]
            snr = a / (1 - a)
            mse = mse * torch.clamp(snr, max=self.snr_gamma) / (snr + 1 if self.v_pred else snr)
        return mse.mean()

    def target(self, latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the denoiser regresses: the noise, or the velocity (v-prediction). In x0 terms the
        plain epsilon loss weights timestep t by SNR(t), nearly nothing at high noise where the
        caption decides colour and layout; the v loss weights it by SNR(t) + 1."""
        return self.scheduler.get_velocity(latents, noise, t) if self.v_pred else noise

    def x0(self, noisy: torch.Tensor, pred: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.alphas_cumprod[t].view(-1, 1, 1, 1)
        if self.v_pred:
            return a.sqrt() * noisy - (1 - a).sqrt() * pred
        return (noisy - (1 - a).sqrt() * pred) / a.sqrt()

    def train_step(self, batch_size: int, lr: float | None = None, batch: tuple | None = None) -> float:
        """One optimisation step on ``batch`` (prompts, images, masks), or on a fresh batch drawn
        from this trainer's own random stream."""
        prompts, x, mask = batch or sample_batch(self.rng, batch_size, with_masks=True,
                                                 object_scale=self.object_scale, kinds=self.kinds)
        if lr is not None:
            for g in self.opt.param_groups:
                g["lr"] = lr * g["lr_mult"]
        loss = self.loss(prompts, x, mask)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.step += 1
        d = min(self.ema_decay, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            torch._foreach_lerp_(self.ema, [p.detach() for p in self.params], 1 - d)
        return loss.item()

    @torch.no_grad()
    def text_gap(self, n: int = 64, seed: int = 1234) -> dict:
        """Does the model use the caption? The predicted clean latents' MSE on a fixed batch at
        mid-to-high noise (t in 300..800, where the caption decides what the image holds) with
        the true captions, with "" and with captions shuffled across the batch. ``gap`` =
        MSE("")/MSE(true) - 1 rises from ~0 once the text is used; ``fg_gap`` is the same on
        the objects' latent positions only, where the caption matters."""
        rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
        prompts, x, mask = sample_batch(rng, n, with_masks=True, object_scale=self.object_scale)
        sf = self.vae.config.scaling_factor
        latents = self.vae.encode(x.to(self.device)).latent_dist.mode() * sf
        fg = F.adaptive_max_pool2d(mask.to(self.device), latents.shape[-2:]).expand_as(latents).bool()
        noise = torch.randn(latents.shape, generator=gen).to(self.device)
        t = torch.linspace(300, 800, n).long().to(self.device)
        noisy = self.scheduler.add_noise(latents, noise, t)
        self.denoiser.eval()
        self.text_encoder.eval()
        res = {}
        for name, ps in (("true", prompts), ("empty", [""] * n), ("shuffled", prompts[1:] + prompts[:1])):
            sq = (self.x0(noisy, self.predict(noisy, t, ps), t) - latents) ** 2
            res[name], res[f"fg_{name}"] = float(sq.mean()), float(sq[fg].mean())
        self.denoiser.train()
        self.text_encoder.train(not self.text_frozen)
        res["gap"] = res["empty"] / res["true"] - 1
        res["shuffled_gap"] = res["shuffled"] / res["true"] - 1
        res["fg_gap"] = res["fg_empty"] / res["fg_true"] - 1
        return {f"val_{k}": round(v, 6) for k, v in res.items()}

    # -- saving ---------------------------------------------------------------------------------
    def pipeline(self, use_ema: bool = True) -> Any:
        den, te = self.denoiser, self.text_encoder
        if use_ema:
            den, te = copy.deepcopy(den), copy.deepcopy(te)
            trained = list(den.parameters()) + ([] if self.text_frozen else list(te.parameters()))
            with torch.no_grad():
                for p, e in zip(trained, self.ema, strict=True):
                    p.copy_(e)
        return build.build_pipeline(self.cfg, self.tokenizer, te.eval(), self.vae, den.eval(), self.scheduler)

    def save(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.pipeline().save_pretrained(out)
        torch.save({"step": self.step, "opt": self.opt.state_dict(), "ema": self.ema,
                    "params": [p.detach() for p in self.params], "rng": self.rng.bit_generator.state,
                    "gen": self.gen.get_state(), "cfg": self.cfg}, out / "train_state.pt")
        (out / "world_model_config.json").write_text(json.dumps(self.cfg, indent=1) + "\n")

    def resume(self, out: Path) -> None:
        st = torch.load(out / "train_state.pt", weights_only=False, map_location=self.device)
        with torch.no_grad():
            for p, v in zip(self.params, st["params"], strict=True):
                p.copy_(v)
        self.ema = st["ema"]
        self.opt.load_state_dict(st["opt"])
        self.step = st["step"]
        self.rng.bit_generator.state = st["rng"]
        self.gen.set_state(st["gen"])


def load_vae(path: str | None, cfg: dict) -> Any:
    if not path:
        return None
    from diffusers import AutoencoderKL

    p = Path(path)
    return AutoencoderKL.from_pretrained(p / "vae" if (p / "vae").is_dir() else p)


def load_text_encoder(path: str | None) -> Any:
    """The text tower of a CLIP checkpoint (e.g. the world CLIP, ``bench/world/clip_model``),
    or of a pipeline folder; it must use the world tokenizer (``build.build_tokenizer``)."""
    if not path:
        return None
    from transformers import CLIPTextModel

    p = Path(path)
    return CLIPTextModel.from_pretrained(p / "text_encoder" if (p / "text_encoder").is_dir() else p)


def lr_at(step: int, base: float, warmup: int, total: int, final_frac: float = 0.1) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    prog = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * prog)))


def parse_fade(text: str) -> tuple[int, int] | None:
    """``"START:END"`` -> (START, END); ``""`` -> None (no fade)."""
    if not text:
        return None
    try:
        start, end = (int(x) for x in text.split(":"))
    except ValueError:
        raise SystemExit(f"--fg-fade {text!r}: use START:END, two step numbers") from None
    if not 0 <= start < end:
        raise SystemExit(f"--fg-fade {text!r}: START must be below END")
    return start, end


def fg_weight_at(step: int, weight: float, fade: tuple[int, int] | None) -> float:
    """The object weight at ``step``: ``weight`` until the fade starts, 0 after it ends."""
    if fade is None or step < fade[0]:
        return weight
    return weight * max(0.0, (fade[1] - step) / (fade[1] - fade[0]))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="unet32", help=f"one of {', '.join(build.CONFIGS)}")
    ap.add_argument("--override", default="{}",
                    help='JSON merged into the config, e.g. \'{"scheduler": {"beta_schedule": "scaled_linear"}}\'')
    ap.add_argument("--vae", help="folder of a trained VAE (train_vae.py output or a pipeline)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--cfg-drop", type=float, default=0.1)
    ap.add_argument("--snr-gamma", type=float, default=0.0, help="min-SNR weighting; 0 = plain MSE")
    ap.add_argument("--fg-weight", type=float, default=0.0, help="extra loss weight on object pixels")
    ap.add_argument("--fg-fade", default="",
                    help="START:END: keep --fg-weight until step START, then fade it linearly to 0 at END. The "
                         "weight depends on the image, so it moves the optimum: a model trained with it to the "
                         "end draws object-coloured clutter everywhere; fading it keeps the caption use it "
                         "teaches early and ends on the unbiased loss")
    ap.add_argument("--text-lr-mult", type=float, default=1.0, help="text-encoder learning rate / --lr; 0 freezes it")
    ap.add_argument("--high-noise", type=float, default=0.0,
                    help="share of timesteps drawn from the noisier half (t >= T/2) instead of all of [0, T)")
    ap.add_argument("--object-scale", type=float, default=None,
                    help="draw the training renders' objects this much larger (box width at most half the "
                         "canvas): they weigh more in the loss and span more latent pixels (default 1, or "
                         "the --init model's)")
    ap.add_argument("--kinds", default="",
                    help="mix of training scenes, e.g. single=0.55,count=0.1,pair=0.2,relation=0.15 (default "
                         + ",".join(f"{k}={v}" for k, v in KINDS.items()) + "); saved in the config")
    ap.add_argument("--text-encoder", help="start the text encoder from this CLIP (e.g. bench/world/clip_model)")
    ap.add_argument("--init", help="start from this saved pipeline (e.g. bench/world/base_model) with its own "
                                   "config (--config is then ignored), a fresh optimiser and schedule")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda for a GPU")
    ap.add_argument("--workers", type=int, default=0,
                    help="render batches in this many worker processes (0 = in the training process, "
                         "the stream the CPU runs on the model card used)")
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save-every", type=int, default=500)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--val-every", type=int, default=100, help="log the caption-use diagnostic (0 = never)")
    ap.add_argument("--max-minutes", type=float, default=0, help="stop (and save) after this wall time")
    ap.add_argument("--stop-after", type=int, default=0,
                    help="stop (and save) at this step, keeping the --steps schedule: reproduces that checkpoint")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args(argv)
    fade = parse_fade(args.fg_fade)  # a bad value fails before any model is built
    try:
        kinds = parse_kinds(args.kinds) if args.kinds else None
    except ValueError as e:
        raise SystemExit(f"--kinds: {e}") from None

    torch.set_num_threads(args.threads)
    from accelerate import Accelerator

    acc = Accelerator(cpu=args.device == "cpu")
    if args.device != "cpu":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest kernels once
    if args.init:
        saved_cfg = Path(args.init) / "world_model_config.json"
        if not saved_cfg.exists():
            raise SystemExit(f"--init {args.init}: no world_model_config.json (a folder train.py saved)")
        cfg = json.loads(saved_cfg.read_text())
    else:
        cfg = build.get_config(args.config, **json.loads(args.override))
    if args.object_scale is not None or "object_scale" not in cfg:
        # saved with the model, so its fine-tuning can draw alike
        cfg["object_scale"] = args.object_scale if args.object_scale is not None else 1.0
    if kinds:
        cfg["kinds"] = kinds
    vae = load_vae(args.vae, cfg)
    if vae is None:
        print("WARNING: no --vae; using an untrained VAE (only useful for timing)")
    tr = Trainer(cfg, vae, args.lr, args.cfg_drop, args.snr_gamma, args.ema, args.seed, args.text_lr_mult,
                 args.fg_weight, load_text_encoder(args.text_encoder), args.high_noise, args.device, args.init)
    out = Path(args.out)
    if args.resume and (out / "train_state.pt").exists():
        tr.resume(out)
        print(f"resumed at step {tr.step}")
    tr.denoiser, tr.text_encoder, tr.opt = acc.prepare(tr.denoiser, tr.text_encoder, tr.opt)
    n_den, n_te = build.count_params(tr.denoiser), build.count_params(tr.text_encoder)
    print(f"config {args.init or args.config}: denoiser {n_den/1e6:.2f}M, text encoder {n_te/1e6:.2f}M, "
          f"vae {build.count_params(tr.vae)/1e6:.2f}M params; latent {build.latent_size(cfg)}px")
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "train_log.jsonl", "a")
    batches = None
    if args.workers:
        data = SceneBatches(args.batch, args.seed, tr.step, tr.object_scale, tr.kinds)
        batches = iter(batch_loader(data, args.workers, pin_memory=args.device != "cpu"))
    t0 = time.time()
    losses: list[float] = []
    busy = 0.0  # seconds spent in training steps since the last log line
    while tr.step < args.steps:
        t_step = time.time()
        tr.fg_weight = fg_weight_at(tr.step, args.fg_weight, fade)
        loss = tr.train_step(args.batch, lr_at(tr.step, args.lr, args.warmup, args.steps),
                             next(batches) if batches is not None else None)
        busy += time.time() - t_step
        losses.append(loss)
        if tr.step % args.log_every == 0:
            rec = {"step": tr.step, "batch": args.batch, "device": args.device, "loss": float(np.mean(losses)),
                   "lr": tr.opt.param_groups[0]["lr"],
                   "fg_weight": tr.fg_weight, "steps_per_s": len(losses) / busy, "elapsed_min": (time.time() - t0) / 60}
            if args.val_every and tr.step % args.val_every == 0:
                rec |= tr.text_gap()
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
            losses, busy = [], 0.0
        stop = (args.max_minutes and time.time() - t0 > 60 * args.max_minutes) or tr.step == args.stop_after
        if tr.step % args.save_every == 0 or tr.step == args.steps or stop:
            tr.save(out)
            print(f"saved step {tr.step} -> {out}", flush=True)
        if stop:
            break


if __name__ == "__main__":
    main()
