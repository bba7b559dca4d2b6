"""Score a saved world model (or a VAE's reconstructions) on geneval-world.

    python -m trainers.world_model.evaluate PIPELINE_DIR --images 2 --steps 20 --guidance 4
    python -m trainers.world_model.evaluate --vae VAE_DIR            # reconstruction upper bound

Prints the per-category accuracy (share of correct images) and writes a grid of samples.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from bench.world.grammar import spec_from_row  # noqa: E402
from bench.world.render import render, stable_seed  # noqa: E402


def per_category(suite: Any, prompts: list, images_by_seed: dict[int, list[Image.Image]]) -> dict[str, float]:
    batch = [(p, seed, im) for seed, ims in images_by_seed.items() for p, im in zip(prompts, ims, strict=True)]
    scores = defaultdict(list)
    for (p, _, _), (score, _) in zip(batch, suite.judge(batch), strict=True):
        scores[p.category].append(score)
    out = {k: round(float(np.mean(v)), 3) for k, v in scores.items()}
    out["overall"] = round(float(np.mean([out[k] for k in scores])), 3)
    return out


def grid(images: list[Image.Image], cols: int = 8) -> Image.Image:
    rows = (len(images) + cols - 1) // cols
    w, h = images[0].size
    g = Image.new("RGB", (cols * w, rows * h), (255, 255, 255))
    for i, im in enumerate(images):
        g.paste(im, ((i % cols) * w, (i // cols) * h))
    return g


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pipeline", nargs="?")
    ap.add_argument("--vae", help="score VAE reconstructions of world renders instead")
    ap.add_argument("--images", type=int, default=1, help="images per prompt")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=4.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="only the first N prompts of each category")
    ap.add_argument("--every", type=int, default=1,
                    help="only every K-th prompt of each category: a subset that still spans its shapes and colours")
    ap.add_argument("--scheduler", help="sample with this diffusers scheduler class instead (e.g. DDPMScheduler)")
    ap.add_argument("--grid", help="write a PNG grid of the first 64 images here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from suites import resolve_suite

    suite = resolve_suite("geneval-world")
    prompts = suite.prompts()
    if args.limit or args.every > 1:
        seen: dict[str, int] = defaultdict(int)
        keep = []
        for p in prompts:
            i = seen[p.category]
            if i % args.every == 0 and (not args.limit or i // args.every < args.limit):
                keep.append(p)
            seen[p.category] += 1
        prompts = keep
    t0 = time.time()
    images: dict[int, list[Image.Image]] = {}
    if args.vae:
        from diffusers import AutoencoderKL

        vae = AutoencoderKL.from_pretrained(args.vae).eval()
        for seed in range(args.images):
            ims = [render(spec_from_row(p.meta), stable_seed("recon", p.text, seed))[0] for p in prompts]
            x = torch.from_numpy(np.stack([np.asarray(i) for i in ims])).permute(0, 3, 1, 2).float() / 127.5 - 1
            with torch.no_grad():
                rec = torch.cat([vae.decode(vae.encode(x[i:i + 64]).latent_dist.mode()).sample
                                 for i in range(0, len(x), 64)])
            arr = ((rec.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
            images[seed] = [Image.fromarray(a) for a in arr]
            if seed == 0:
                print("renders:", json.dumps(per_category(suite, prompts, {0: ims})))
    else:
        from diffusers import DiffusionPipeline

        from trainers.world_model.build import generate

        pipe = DiffusionPipeline.from_pretrained(args.pipeline)
        if args.scheduler:
            import diffusers

            pipe.scheduler = getattr(diffusers, args.scheduler).from_config(pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
        for seed in range(args.images):
            ims: list[Image.Image] = []
            for i in range(0, len(prompts), args.batch):
                chunk = prompts[i:i + args.batch]
                seeds = [stable_seed("world-model", p.text, seed) % 2**31 for p in chunk]
                ims += generate(pipe, [p.text for p in chunk], seeds, args.steps, args.guidance)
            images[seed] = ims
    gen_s = time.time() - t0
    res = per_category(suite, prompts, images)
    n = len(prompts) * args.images
    print(json.dumps({"scores": res, "images": n, "gen_s_per_image": round(gen_s / n, 4)}))
    if args.grid:
        grid(images[0][:64]).save(args.grid)


if __name__ == "__main__":
    main()
