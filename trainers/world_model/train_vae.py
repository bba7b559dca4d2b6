"""Train the small AutoencoderKL of a world-model config on world renders (stage 1).

    python -m trainers.world_model.train_vae --config unet32 --out runs/vae32 --steps 1500

Loss: L1 + MSE reconstruction and a tiny KL term (as in Stable Diffusion's VAE, without the
GAN). At the end the latent scale (1 / std of the latents) is written to the VAE config as
``scaling_factor``, so the diffusion model sees unit-variance latents and the pipelines
divide it out again before decoding.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from trainers.world_model import build  # noqa: E402
from trainers.world_model.data import sample_batch  # noqa: E402


def edge_weight(x: torch.Tensor, boost: float, thr: float = 0.2) -> torch.Tensor:
    """1 + ``boost`` on pixels within 1 px of a colour edge (3x3 max - min above ``thr``).

    The world detector reads shapes from thresholded masks, so soft or rounded edges (a
    diamond whose tips melt into a circle) cost far more than the L1 on them suggests.
    """
    grad = F.max_pool2d(x, 3, 1, 1) + F.max_pool2d(-x, 3, 1, 1)
    return 1.0 + boost * (grad.amax(1, keepdim=True) > thr).float()


def vae_loss(vae: Any, x: torch.Tensor, kl_weight: float, gen: torch.Generator,
             edge_boost: float = 0.0) -> tuple[torch.Tensor, dict]:
    post = vae.encode(x).latent_dist
    z = post.sample(generator=gen)
    rec = vae.decode(z).sample
    w = edge_weight(x, edge_boost) if edge_boost else 1.0
    l1 = (w * (rec - x).abs()).mean()
    mse = F.mse_loss(rec, x)
    kl = post.kl().mean() / x[0].numel()
    loss = l1 + mse + kl_weight * kl
    return loss, {"l1": l1.item(), "mse": mse.item(), "kl": kl.item()}


@torch.no_grad()
def latent_scale(vae: Any, rng: np.random.Generator, n: int = 256) -> float:
    _, x = sample_batch(rng, n)
    z = vae.encode(x.to(vae.device)).latent_dist.mode()
    return float(1.0 / z.std())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="unet32")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--kl", type=float, default=1e-4, help="KL weight (per-pixel-normalised KL)")
    ap.add_argument("--edge-boost", type=float, default=10.0, help="extra L1 weight on edge pixels")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda for a GPU (random draws stay on the CPU)")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--max-minutes", type=float, default=0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = build.get_config(args.config)
    vae = build.build_vae(cfg).to(args.device)
    print(f"VAE {build.count_params(vae)/1e6:.3f}M params, {cfg['vae']}")
    opt = torch.optim.AdamW(vae.parameters(), lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.steps, pct_start=0.05)
    rng, gen = np.random.default_rng(args.seed), torch.Generator().manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = t_last = time.time()
    hist: list[dict] = []
    for step in range(1, args.steps + 1):
        _, x = sample_batch(rng, args.batch)
        loss, parts = vae_loss(vae, x.to(args.device), args.kl, gen, args.edge_boost)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        sched.step()
        hist.append(parts)
        if step % args.log_every == 0:
            now = time.time()
            rec = {"step": step, **{k: float(np.mean([h[k] for h in hist])) for k in hist[0]},
                   "steps_per_s": len(hist) / (now - t_last), "elapsed_min": (now - t0) / 60}
            print(json.dumps(rec), flush=True)
            hist, t_last = [], now
        if args.max_minutes and time.time() - t0 > 60 * args.max_minutes:
            print(f"time limit at step {step}")
            break
    vae.eval()
    sf = latent_scale(vae, rng)
    vae.register_to_config(scaling_factor=sf)
    vae.to("cpu").save_pretrained(out)
    print(f"saved {out} (scaling_factor {sf:.4f})")


if __name__ == "__main__":
    main()
