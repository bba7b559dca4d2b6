"""What sharding a run across processes costs here, and what it gains on a GPU machine.

CPU mode (the default; what the 2-vCPU development machine runs): `gauntlet run` on the world
default (world:oracle and two world:noisy candidates on geneval-world, 4 images per prompt),
with `--processes 2` (accelerate's launcher) against one process, each a fresh command into an
empty folder; both must print the same results. Two vCPUs give no parallel speed-up (two
single-thread processes each run at half speed), so this measures what sharding costs
(imports, process start, barriers, the shared store): goal 2 / 1 <= 1.15. The launch
imports torch, which the world default alone never does; a third timing, one process that
imports torch first (as every run of a torch model does), separates that import from the
cost of sharding itself.

GPU mode (`--gpu`). NOT RUN where this was written (that machine has no GPU); keep its
numbers apart from the CPU ones, and name the GPU with them:
  (a) the world default, 4 processes against 1: goal speed-up >= 3 (16 CPU cores there);
  (b) a Stable-Diffusion-1.5-size pipeline with random weights built from configs (UNet
      860M, VAE, CLIP ViT-L text encoder), 512 px, fp16, judged by geneval (Mask2Former
      Swin-S, CLIP ViT-L-14) and tifa (BLIP VQA base, exact answer matching), all random
      weights: images per second through gauntlet and through a bare loop (the pipeline
      called directly, the same judges), and gauntlet / bare: goal <= 1.05.
`--gpu --smoke` runs (b)'s code with tiny models on whatever device there is: a check of
the code, whose numbers mean nothing.

Each time is the median of --repeats runs, interleaved so that machine noise hits both alike.

    python benchmarks/scale.py [--repeats 3]
    python benchmarks/scale.py --gpu [--repeats 3] [--limit 2] [--steps 20] [--batch 16]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def time_cli(processes: int, out: Path, preload_torch: bool = False) -> tuple[float, dict]:
    """Wall time and printed results of `gauntlet run` (the world default) with ``processes``.

    ``preload_torch`` imports torch first, as any run with a torch model does: a launch
    through accelerate needs torch, which the world default alone never imports.
    """
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    preload = "import sys, torch; from bench.cli import main; sys.exit(main(sys.argv[1:]))"
    head = ["-c", preload] if preload_torch else ["-m", "bench.cli"]
    cmd = [sys.executable, *head, "run", "--quiet", "--format", "json", "--out", str(out),
           "--processes", str(processes)]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    elapsed = time.perf_counter() - t
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return elapsed, json.loads(done.stdout)


def measure_processes(many: int, repeats: int) -> dict[str, float]:
    """Median wall times of the world default: 1 process, 1 with torch imported, ``many``; results must agree."""
    configs = {"1 process": (1, False), "1 process + import torch": (1, True), f"{many} processes": (many, False)}
    times: dict[str, list[float]] = {k: [] for k in configs}
    reference = None
    for r in range(repeats):
        for label in (list(configs) if r % 2 == 0 else list(configs)[::-1]):
            n, preload = configs[label]
            with tempfile.TemporaryDirectory(prefix=f"scale-{n}p-") as out:
                elapsed, results = time_cli(n, Path(out), preload)
            reference = reference or results
            assert results == reference, f"{label} gave other results"
            times[label].append(elapsed)
    med = {k: statistics.median(v) for k, v in times.items()}
    n_images = sum(s["n"] for c in reference.values() for s in c.values())
    print(f"world default (3 candidates x geneval-world, {n_images} images), median of {repeats}; same results")
    for k, v in times.items():
        print(f"  {k:<26} {med[k]:6.2f} s   (all: {' '.join(f'{t:.2f}' for t in v)})")
    return med


# --- GPU mode (b): real-size models with random weights --------------------------------------

def build_sd15(device: str, dtype: object, smoke: bool):  # noqa: ANN201  (a StableDiffusionPipeline)
    """SD-1.5's architecture with random weights (tiny models with ``smoke``), on ``device``."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    sys.path.insert(0, str(ROOT))  # the repository's tests/ helpers
    from tests.tiny_models import build_tiny_sd, tiny_clip_tokenizer

    if smoke:
        path = build_tiny_sd(Path(tempfile.mkdtemp()) / "sd")
        pipe = StableDiffusionPipeline.from_pretrained(path)
        pipe.set_progress_bar_config(disable=True)
        return pipe.to(device, dtype)
    torch.manual_seed(0)
    tok = tiny_clip_tokenizer(max_length=77)  # a small vocabulary; the embedding table keeps SD's size
    with torch.device(device):
        text_encoder = CLIPTextModel(CLIPTextConfig(
            vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
            max_position_embeddings=77, projection_dim=768, bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
        unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768)  # the defaults are SD-1.5's UNet
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512),
            layers_per_block=2, down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4, sample_size=512)
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                          set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=unet, scheduler=sched,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device, dtype)


def build_judges(root: Path, device: str, smoke: bool) -> list[str]:
    """Suite specs: geneval (Mask2Former Swin-S, CLIP ViT-L-14) and tifa (BLIP VQA base), random weights."""
    from suites.geneval.prompts import OBJECT_NAMES

    sys.path.insert(0, str(ROOT))
    from tests.tiny_models import build_tiny_blip_vqa, build_tiny_mask2former, build_tiny_open_clip

    classes = OBJECT_NAMES.read_text().split("\n")[:80]
    if smoke:
        m2f, blip = build_tiny_mask2former(root / "m2f", classes), build_tiny_blip_vqa(root / "blip")
        clip = f"clip=local-dir:{build_tiny_open_clip(root / 'clip')}"
    else:
        m2f, blip = build_swin_s_mask2former(root / "m2f", classes), build_blip_vqa_base(root / "blip")
        # no pretrained tag: open_clip initialises it randomly; threshold 0 lets random detections
        # through to the CLIP colour judge, as trained weights' confident ones would be
        clip = "clip=ViT-L-14,clip_pretrained=,threshold=0.0"
    return [f"geneval:detector={m2f},{clip},device={device}",
            f"tifa:set=sample,vqa=blip:{blip},matcher=exact,device={device}"]


def build_swin_s_mask2former(path: Path, class_names: list[str]) -> Path:
    from transformers import (
        Mask2FormerConfig,
        Mask2FormerForUniversalSegmentation,
        Mask2FormerImageProcessor,
        SwinConfig,
    )

    id2label = dict(enumerate(class_names))
    backbone = SwinConfig(image_size=224, patch_size=4, embed_dim=96, depths=[2, 2, 18, 2], num_heads=[3, 6, 12, 24],
                          window_size=7, out_features=["stage1", "stage2", "stage3", "stage4"])
    cfg = Mask2FormerConfig(backbone_config=backbone, id2label=id2label, label2id={v: k for k, v in id2label.items()})
    Mask2FormerForUniversalSegmentation(cfg).eval().save_pretrained(path)  # 100 queries, 10 decoder layers
    Mask2FormerImageProcessor(size={"height": 512, "width": 512}, ignore_index=255,
                              num_labels=len(class_names)).save_pretrained(path)
    return path


def build_blip_vqa_base(path: Path) -> Path:
    """BLIP VQA at its real size (BERT-base text with its 30,524-word vocabulary, ViT-B/16 at 384 px)."""
    from transformers import BertTokenizerFast, BlipTextConfig

    from tests.tiny_models import save_blip_vqa, tiny_bert_vocab

    tok = BertTokenizerFast(vocab=tiny_bert_vocab(), bos_token="[DEC]", model_max_length=32)
    return save_blip_vqa(path, tok, 384, text=dict(vocab_size=BlipTextConfig().vocab_size),
                         vision=dict(initializer_range=0.02))


def measure_sd(args: argparse.Namespace) -> None:
    import torch
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    from bench.candidates.diffusers_pipeline import DiffusersCandidate, pipeline_call_options
    from bench.runner import limit_prompts, run
    from suites import resolve_suite

    diffusers_logging.set_verbosity_error()  # no notes on prompts longer than the text encoder takes
    transformers_logging.set_verbosity_error()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.float16 if device == "cuda" else torch.float32
    px = 64 if args.smoke else 512
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    pipe = build_sd15(device, dtype, args.smoke)
    suites = [resolve_suite(s) for s in build_judges(Path(tempfile.mkdtemp()), device, args.smoke)]
    options = {"steps": str(args.steps), "guidance": "7.5", "batch": str(args.batch), "height": str(px),
               "width": str(px), "dtype": "fp16" if dtype == torch.float16 else "fp32", "device": device}
    spec = "diffusers:sd15-random:" + ",".join(f"{k}={v}" for k, v in options.items())
    cand = DiffusersCandidate(spec, "sd15-random", dict(options))
    cand._pipe, cand._extra = pipe, pipeline_call_options(pipe)  # the very pipeline the bare loop calls
    seeds = range(args.images_per_prompt)

    def bare(limit: int, _: Path) -> int:
        n = 0
        for suite in suites:
            reqs = [(p, s) for p in limit_prompts(suite.prompts(), limit) for s in seeds]
            for i in range(0, len(reqs), args.batch):
                chunk = reqs[i:i + args.batch]
                gens = [torch.Generator("cpu").manual_seed(s) for _, s in chunk]
                with torch.inference_mode():
                    images = pipe([p.text for p, _ in chunk], generator=gens, num_inference_steps=args.steps,
                                  guidance_scale=7.5, height=px, width=px, output_type="pil", **cand._extra).images
                suite.judge([(p, s, im.convert("RGB")) for (p, s), im in zip(chunk, images, strict=True)])
                n += len(chunk)
        sync()
        return n

    def gauntlet(limit: int, out: Path) -> int:
        outcome = run(cand, suites, out, images_per_prompt=args.images_per_prompt, limit=limit)
        sync()
        assert not outcome.failures
        return sum(r.n for r in outcome.results.values())

    times: dict[str, list[float]] = {"bare": [], "gauntlet": []}
    for r in range(-1, args.repeats):  # round -1 warms kernels, judge models and caches
        for name in (("bare", "gauntlet") if r % 2 == 0 else ("gauntlet", "bare")):
            with tempfile.TemporaryDirectory(prefix="scale-sd-") as out:
                t = time.perf_counter()
                n = (bare if name == "bare" else gauntlet)(1 if r < 0 else args.limit, Path(out))
                if r >= 0:
                    times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    where = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(f"SD-1.5-size random pipeline{' (SMOKE: tiny models)' if args.smoke else ''}, {px} px, {args.steps} steps, "
          f"batch {args.batch}, {n} images through geneval + tifa, on {where}; median of {args.repeats}")
    for k in ("bare", "gauntlet"):
        runs = " ".join(f"{t:.2f}" for t in times[k])
        print(f"  {k:<8} {med[k]:7.2f} s   {n / med[k]:6.2f} images/s   (all: {runs})")
    print(f"  gauntlet / bare = {med['gauntlet'] / med['bare']:.3f}   (goal <= 1.05)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--gpu", action="store_true", help="the GPU machine's measurements (see the docstring)")
    ap.add_argument("--smoke", action="store_true", help="with --gpu: tiny models, to check the code anywhere")
    ap.add_argument("--limit", type=int, default=2, help="--gpu: prompts per category for the SD pipeline")
    ap.add_argument("--images-per-prompt", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    if not args.gpu:
        med = measure_processes(2, args.repeats)
        print(f"  2 processes / 1 = {med['2 processes'] / med['1 process']:.3f}   "
              "(goal <= 1.15; 2 vCPUs: no speed-up expected)")
        print(f"  2 processes / (1 + import torch) = {med['2 processes'] / med['1 process + import torch']:.3f}   "
              "(the cost of sharding itself, for runs that use torch anyway)")
        return
    import torch

    if not torch.cuda.is_available() and not args.smoke:
        raise SystemExit("--gpu needs CUDA (or --smoke to check the code with tiny models)")
    if not args.smoke:
        med = measure_processes(4, args.repeats)
        print(f"  speed-up of 4 processes = {med['1 process'] / med['4 processes']:.2f}x   (goal >= 3; "
              f"{med['1 process + import torch'] / med['4 processes']:.2f}x over 1 + import torch) "
              f"on {torch.cuda.get_device_name()}")
    measure_sd(args)


if __name__ == "__main__":
    main()
