"""Train the world CLIP: a small ``CLIPModel`` that aligns world renders with their captions.

    python -m trainers.world_model.train_clip --out bench/world/clip_model --steps 1500

It is the judge behind ``clipscore-world``, ``pickscore-world`` and ``hps-world``: in the world
these measure image-caption alignment, not human preference. Each step draws world
image/caption pairs (``data.py``) and trains a symmetric contrastive loss (InfoNCE, learned
temperature) with one hard negative caption per image (NegCLIP style): the true scene with
one thing changed (a colour, a count, a shape, a flipped relation, a group dropped), so the
model must read colours, counts and relations rather than just which shapes appear. The
result saves with ``save_pretrained`` (model + ``CLIPProcessor``) and loads with
``CLIPModel.from_pretrained(path)``.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bench.world.grammar import parse_prompt, write_prompt  # noqa: E402
from bench.world.scene import COLORS, OPPOSITE, Relation, SceneSpec  # noqa: E402
from bench.world.shapes import SHAPES  # noqa: E402
from trainers.world_model.build import build_tokenizer  # noqa: E402
from trainers.world_model.data import sample_pair  # noqa: E402

MEAN, STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]  # OpenAI CLIP's
NEGATIVE_KINDS = ("color", "count", "shape", "relation", "drop")


def build_clip(max_length: int = 20, width: int = 128, seed: int = 0) -> tuple[Any, Any]:
    """(CLIPModel, CLIPProcessor) with random weights: ViT 64 px / patch 8, 4 layers of 128."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTextConfig, CLIPVisionConfig

    tok = build_tokenizer(max_length)
    text = CLIPTextConfig(vocab_size=len(tok), hidden_size=width, intermediate_size=2 * width, num_hidden_layers=3,
                          num_attention_heads=4, max_position_embeddings=max_length, projection_dim=width,
                          bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    vision = CLIPVisionConfig(image_size=64, patch_size=8, hidden_size=width, intermediate_size=4 * width,
                              num_hidden_layers=4, num_attention_heads=4, projection_dim=width)
    torch.manual_seed(seed)
    model = CLIPModel(CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=width))
    images = CLIPImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64},
                                image_mean=MEAN, image_std=STD, do_convert_rgb=True)
    return model, CLIPProcessor(image_processor=images, tokenizer=tok)


def hard_negative(spec: SceneSpec, rng: np.random.Generator) -> SceneSpec | None:
    """``spec`` with one thing changed, so that its caption no longer fits the image."""
    for kind in rng.permutation(NEGATIVE_KINDS):
        i = int(rng.integers(len(spec.objects)))
        obj = spec.objects[i]
        if kind == "color" and obj.color:
            return spec.with_object(i, color=str(rng.choice([c for c in COLORS if c != obj.color])))
        if kind == "count" and obj.count > 1:
            return spec.with_object(i, count=obj.count + (1 if obj.count < 4 and rng.random() < 0.5 else -1))
        if kind == "shape" and obj.shape:
            others = [s for s in SHAPES if s != obj.shape and all(o.shape != s for o in spec.objects)]
            return spec.with_object(i, shape=str(rng.choice(others)))
        if kind == "relation" and spec.relations:
            return SceneSpec(spec.objects, tuple(Relation(r.subject, OPPOSITE[r.relation], r.target)
                                                 for r in spec.relations))
        if kind == "drop" and len(spec.objects) > 1:
            return spec.without(i)
    return None


def batch(rng: np.random.Generator, n: int) -> tuple[list[np.ndarray], list[str], list[str]]:
    """``n`` images, their captions and one hard-negative caption each."""
    images, captions, negatives = [], [], []
    while len(images) < n:
        text, image, _ = sample_pair(rng)
        spec = parse_prompt(text)
        neg = hard_negative(spec, rng) if spec else None
        if neg is None:
            continue
        images.append(image)
        captions.append(text)
        negatives.append(write_prompt(neg))
    return images, captions, negatives


def features(model: Any, processor: Any, images: list, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalised image and text embeddings."""
    inputs = processor(images=images, text=texts, return_tensors="pt", padding="max_length", truncation=True)
    img = model.get_image_features(pixel_values=inputs["pixel_values"]).pooler_output
    txt = model.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).pooler_output
    return F.normalize(img, dim=-1), F.normalize(txt, dim=-1)


@torch.no_grad()
def evaluate(model: Any, processor: Any, n: int = 512, seed: int = 12345) -> dict[str, float]:
    """Held-out accuracy: the true caption beats its hard negative; and batch retrieval top-1."""
    model.eval()
    rng = np.random.default_rng(seed)
    images, captions, negatives = batch(rng, n)
    img, txt = features(model, processor, images, captions + negatives)
    pos, neg = (img * txt[:n]).sum(-1), (img * txt[n:]).sum(-1)
    retrieval = (img @ txt[:n].T).argmax(-1) == torch.arange(n)
    model.train()
    return {"hard_negative_acc": float((pos > neg).float().mean()), "retrieval_top1": float(retrieval.float().mean())}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, processor = build_clip(seed=args.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = []
    t0 = time.time()
    for step in range(1, args.steps + 1):
        frac = min(1.0, step / args.warmup)
        lr = args.lr * frac * 0.5 * (1 + math.cos(math.pi * min(1.0, step / args.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        images, captions, negatives = batch(rng, args.batch)
        img, txt = features(model, processor, images, captions + negatives)
        logits = model.logit_scale.exp() * img @ txt.T  # (n, 2n): each image against all captions
        target = torch.arange(args.batch)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits[:, :args.batch].T, target)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if step % args.eval_every == 0 or step == args.steps:
            rec = {"step": step, "loss": round(loss.item(), 4), "minutes": round((time.time() - t0) / 60, 2),
                   "logit_scale": round(model.logit_scale.exp().item(), 2), **evaluate(model, processor)}
            print(json.dumps(rec), flush=True)
            log.append(rec)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "train_log.json").write_text(json.dumps({"args": vars(args), "log": log}, indent=1) + "\n")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
