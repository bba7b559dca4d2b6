"""Time training steps and sampling of the candidate configs on this CPU.

    python -m trainers.world_model.bench_speed --configs unet32 unet16 --threads 1 2 --batch 32

Prints one JSON line per (config, threads): parameter counts, safetensors size of the saved
pipeline, seconds per training step (after warm-up), and seconds per sampled image with 20
DDIM steps and classifier-free guidance.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from trainers.world_model import build  # noqa: E402
from trainers.world_model.train import Trainer  # noqa: E402


def pipeline_size(pipe: Any) -> tuple[int, dict]:
    with tempfile.TemporaryDirectory() as d:
        pipe.save_pretrained(d)
        sizes = {p.parent.name: p.stat().st_size for p in Path(d).rglob("*.safetensors")}
    return sum(sizes.values()), sizes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", nargs="+", default=["unet32", "unet16", "pixart32"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--sample-images", type=int, default=8)
    ap.add_argument("--no-sample", action="store_true")
    args = ap.parse_args()
    for name in args.configs:
        cfg = build.get_config(name)
        tr = Trainer(cfg)
        total, sizes = pipeline_size(tr.pipeline(use_ema=False))
        info = {"config": name, "denoiser_M": build.count_params(tr.denoiser) / 1e6,
                "text_M": build.count_params(tr.text_encoder) / 1e6, "vae_M": build.count_params(tr.vae) / 1e6,
                "safetensors_MB": total / 1e6, "latent": build.latent_size(cfg)}
        print(json.dumps(info), flush=True)
        for th in args.threads:
            torch.set_num_threads(th)
            tr.train_step(args.batch)  # warm-up
            t0 = time.perf_counter()
            for _ in range(args.steps):
                tr.train_step(args.batch)
            step_s = (time.perf_counter() - t0) / args.steps
            # split: data only, and the VAE encode
            t0 = time.perf_counter()
            from trainers.world_model.data import sample_batch
            _, x = sample_batch(tr.rng, args.batch)
            data_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            tr.to_latents(x)
            vae_s = time.perf_counter() - t0
            rec = {"config": name, "threads": th, "batch": args.batch, "step_s": round(step_s, 3),
                   "data_s": round(data_s, 3), "vae_encode_s": round(vae_s, 3)}
            if not args.no_sample:
                pipe = tr.pipeline(use_ema=False)
                prompts = ["a photo of a red circle"] * args.sample_images
                build.generate(pipe, prompts[:2], steps=2)  # warm-up
                t0 = time.perf_counter()
                build.generate(pipe, prompts, steps=20, guidance=4.0)
                rec["sample_s_per_image_20steps"] = round((time.perf_counter() - t0) / args.sample_images, 4)
            print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
