"""Build a small text-to-image diffusion model for the Shapes world from diffusers classes.

Everything is built offline from a small config dict (see :data:`CONFIGS`):

* tokenizer: a CLIP byte-level BPE whose merges turn every word of the world grammar into one
  token (other text still tokenizes, byte by byte);
* text encoder: a tiny ``CLIPTextModel``;
* VAE: a small ``AutoencoderKL`` (2 blocks = 2x, 3 blocks = 4x downsampling), trained first
  (``train_vae.py``); one block (scale 1) is the "pixel space" variant;
* denoiser: ``UNet2DConditionModel`` (-> ``StableDiffusionPipeline``) or
  ``PixArtTransformer2DModel`` (-> ``PixArtAlphaPipeline``);
* scheduler: ``DDIMScheduler``.

The pipeline saves with ``save_pretrained`` and loads back with
``diffusers.DiffusionPipeline.from_pretrained(path)``.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import tempfile
from functools import lru_cache
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from bench.world.grammar import NUMBERS  # noqa: E402
from bench.world.scene import COLORS, RELATIONS  # noqa: E402
from bench.world.shapes import PLURALS, SHAPES  # noqa: E402

# ---------------------------------------------------------------------------------------------
# configs
# ---------------------------------------------------------------------------------------------

_TEXT = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=3, num_attention_heads=4, max_length=20)
_SCHED = dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
              prediction_type="v_prediction")

_VAE2 = dict(block_out_channels=(16, 32), latent_channels=4, layers_per_block=1, norm_num_groups=8)
_VAE4 = dict(block_out_channels=(16, 32, 32), latent_channels=8, layers_per_block=1, norm_num_groups=8)

# UNet blocks: plain convolutions at the finest resolution, cross-attention below it
_ATTN_LOW = dict(down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"))
# the pooled text added to the time embedding: a global conditioning path into every ResNet block
_POOLED_TEXT = dict(addition_embed_type="text", addition_embed_type_num_heads=4)

CONFIGS: dict[str, dict] = {
    # UNet on 32x32x4 latents of a 2x VAE; no self-attention at 32x32
    "unet32": dict(
        text=_TEXT, scheduler=_SCHED, vae=_VAE2, denoiser="unet",
        unet=dict(block_out_channels=(32, 64, 128), layers_per_block=1, head_dim=32,
                  **_ATTN_LOW,
                  norm_num_groups=16),
    ),
    # UNet on 16x16x8 latents of a 4x VAE; attention at 16, 8 and 4 (mid)
    "unet16": dict(
        text=_TEXT, scheduler=_SCHED, vae=_VAE4, denoiser="unet",
        unet=dict(block_out_channels=(64, 128, 192), layers_per_block=1, head_dim=32,
                  down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                  up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                  norm_num_groups=32),
    ),
    # UNet in pixel space: a one-block VAE (scale 1) trained to (near) identity
    "unet64": dict(
        text=_TEXT, scheduler=_SCHED, denoiser="unet",
        vae=dict(block_out_channels=(32,), latent_channels=3, layers_per_block=1, norm_num_groups=16),
        unet=dict(block_out_channels=(32, 64, 96, 128), layers_per_block=1, head_dim=32,
                  down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                  up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
                  norm_num_groups=16),
    ),
    # unet32 plus a pooled-text embedding added to the time embedding (addition_embed_type="text"),
    # a global conditioning path into every ResNet block besides cross-attention
    "unet32t": dict(
        text=_TEXT, scheduler=_SCHED, vae=_VAE2, denoiser="unet",
        unet=dict(block_out_channels=(32, 64, 128), layers_per_block=1, head_dim=32,
                  **_ATTN_LOW,
                  norm_num_groups=16, **_POOLED_TEXT),
    ),
    # UNet on 16x16x8 latents of a 4x VAE, attention at 8 and 4 only, pooled text in the time
    # embedding: as fast per step as unet32t, with more width where objects are 2-5 latent pixels
    "unet16t": dict(
        text=_TEXT, scheduler=_SCHED, vae=_VAE4, denoiser="unet",
        unet=dict(block_out_channels=(64, 96, 128), layers_per_block=1, head_dim=32,
                  **_ATTN_LOW,
                  norm_num_groups=32, **_POOLED_TEXT),
    ),
    # smaller UNet on 32x32x4 latents
    "unet32s": dict(
        text=_TEXT, scheduler=_SCHED, vae=_VAE2, denoiser="unet",
        unet=dict(block_out_channels=(32, 64, 96), layers_per_block=1, head_dim=32,
                  **_ATTN_LOW,
                  norm_num_groups=16),
    ),
    # PixArt transformer on 32x32x4 latents, patch 4 -> 64 tokens of 8x8 px
    "pixart32": dict(
        text=_TEXT, scheduler=_SCHED, vae=_VAE2, denoiser="pixart",
        pixart=dict(num_attention_heads=6, attention_head_dim=32, num_layers=6, patch_size=4),
    ),
    # PixArt transformer on 32x32x4 latents, patch 2 -> 256 tokens of 4x4 px
    "pixart32p2": dict(
        text=_TEXT, scheduler=_SCHED, vae=_VAE2, denoiser="pixart",
        pixart=dict(num_attention_heads=4, attention_head_dim=32, num_layers=6, patch_size=2),
    ),
    # PixArt transformer on 16x16x8 latents of a 4x VAE, patch 2 -> 64 tokens
    "pixart16": dict(
        text=_TEXT, scheduler=_SCHED, vae=_VAE4, denoiser="pixart",
        pixart=dict(num_attention_heads=6, attention_head_dim=32, num_layers=6, patch_size=2),
    ),
}


def get_config(name_or_cfg: str | dict, **overrides) -> dict:
    cfg = copy.deepcopy(CONFIGS[name_or_cfg] if isinstance(name_or_cfg, str) else name_or_cfg)
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k].update(v)
        else:
            cfg[k] = v
    return cfg


# ---------------------------------------------------------------------------------------------
# tokenizer
# ---------------------------------------------------------------------------------------------

PREFIX_WORDS = ["a", "an", "photo", "picture", "image", "drawing", "of", "the"]
FREE_NOUNS = ["shape", "shapes", "object", "objects"]


def world_words() -> list[str]:
    """Every word the world grammar writes (plus its prefix variants), each once."""
    words = PREFIX_WORDS + NUMBERS + list(COLORS) + list(SHAPES) + list(PLURALS.values()) + FREE_NOUNS
    words += ["and"] + [w for r in RELATIONS for w in r.split()]
    return list(dict.fromkeys(words))


@lru_cache
def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def _bpe(pieces: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Apply BPE merges by rank (lowest first), as the tokenizers library does within a word."""
    while len(pieces) > 1:
        pairs = [(ranks.get(p, 1 << 30), i) for i, p in enumerate(itertools.pairwise(pieces))]
        rank, i = min(pairs)
        if rank == 1 << 30:
            break
        pieces = pieces[:i] + [pieces[i] + pieces[i + 1]] + pieces[i + 2:]
    return pieces


def _vocab_and_merges(words: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte-level BPE: 256 byte chars, their '</w>' forms, and merges that make each word one token.

    For each word in turn, the merges so far are applied and the pieces that remain are joined
    left to right by new merges appended at the end. New merges rank below all older ones, so
    they cannot change how an earlier word tokenizes.
    """
    byte_chars = _bytes_to_unicode()
    chars = list(byte_chars.values())
    vocab = chars + [c + "</w>" for c in chars]
    merges: list[tuple[str, str]] = []
    ranks: dict[tuple[str, str], int] = {}
    for word in words:
        w = "".join(byte_chars[b] for b in word.encode("utf-8"))  # byte-level: "é" is two symbols
        pieces = _bpe(list(w[:-1]) + [w[-1] + "</w>"], ranks)
        while len(pieces) > 1:
            m = (pieces[0], pieces[1])
            ranks[m] = len(merges)
            merges.append(m)
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
            vocab.append(pieces[0])
    vocab = list(dict.fromkeys(vocab)) + ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(vocab)}, merges


def build_tokenizer(max_length: int = 20, words: list[str] | None = None) -> Any:
    """A CLIPTokenizer in which every world word is a single token (checked)."""
    from transformers import CLIPTokenizer

    words = words or world_words()
    vocab, merges = _vocab_and_merges(words)
    with tempfile.TemporaryDirectory() as d:  # pass paths via vocab=/merges= (vocab_file= is ignored)
        json.dump(vocab, open(f"{d}/vocab.json", "w", encoding="utf-8"))
        with open(f"{d}/merges.txt", "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
        tok = CLIPTokenizer(vocab=f"{d}/vocab.json", merges=f"{d}/merges.txt", model_max_length=max_length)
    split = [w for w in words if len(tok.tokenize(w)) != 1]
    if split:
        raise RuntimeError(f"world words not single tokens: {split}")
    return tok


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------


def build_text_encoder(cfg: dict, tok: Any) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    t = cfg["text"]
    return CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tok), hidden_size=t["hidden_size"], intermediate_size=t["intermediate_size"],
        num_hidden_layers=t["num_hidden_layers"], num_attention_heads=t["num_attention_heads"],
        max_position_embeddings=t["max_length"], projection_dim=t["hidden_size"],
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))


def build_vae(cfg: dict) -> Any:
    from diffusers import AutoencoderKL

    v = cfg["vae"]
    n = len(v["block_out_channels"])
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=v["latent_channels"],
        block_out_channels=tuple(v["block_out_channels"]), layers_per_block=v["layers_per_block"],
        down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
        norm_num_groups=v["norm_num_groups"], sample_size=64, mid_block_add_attention=False,
        scaling_factor=v.get("scaling_factor", 1.0))


def latent_size(cfg: dict, image_size: int = 64) -> int:
    return image_size // 2 ** (len(cfg["vae"]["block_out_channels"]) - 1)


def build_denoiser(cfg: dict) -> Any:
    c = cfg["vae"]["latent_channels"]
    size = latent_size(cfg)
    cross = cfg["text"]["hidden_size"]
    if cfg["denoiser"] == "unet":
        from diffusers import UNet2DConditionModel

        u = dict(cfg["unet"])
        # UNet2DConditionModel reads ``attention_head_dim`` as the number of heads (a known
        # diffusers naming quirk): pass channels // head_dim, else 32 heads of width 2 or 4
        # make attention ~10x slower on CPU.
        hd = u.pop("head_dim", 32)
        heads = tuple(max(1, ch // hd) for ch in u["block_out_channels"])
        return UNet2DConditionModel(
            sample_size=size, in_channels=c, out_channels=c, cross_attention_dim=cross,
            attention_head_dim=heads, **u)
    if cfg["denoiser"] == "pixart":
        from diffusers import PixArtTransformer2DModel

        p = cfg["pixart"]
        return PixArtTransformer2DModel(
            in_channels=c, out_channels=c, sample_size=size,
            cross_attention_dim=p["num_attention_heads"] * p["attention_head_dim"],
            caption_channels=cross, norm_num_groups=32, **p)
    raise ValueError(f"unknown denoiser {cfg['denoiser']!r}")


def build_scheduler(cfg: dict) -> Any:
    from diffusers import DDIMScheduler

    s = cfg["scheduler"]
    return DDIMScheduler(num_train_timesteps=s["num_train_timesteps"], beta_schedule=s["beta_schedule"],
                         beta_start=s["beta_start"], beta_end=s["beta_end"], clip_sample=False,
                         set_alpha_to_one=False, steps_offset=1,
                         prediction_type=s.get("prediction_type", "epsilon"))


def build_components(cfg: dict, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    tok = build_tokenizer(cfg["text"]["max_length"])
    return dict(tokenizer=tok, text_encoder=build_text_encoder(cfg, tok), vae=build_vae(cfg),
                denoiser=build_denoiser(cfg), scheduler=build_scheduler(cfg))


def build_pipeline(cfg: dict, tokenizer: Any, text_encoder: Any, vae: Any, denoiser: Any, scheduler: Any) -> Any:
    """StableDiffusionPipeline (UNet) or PixArtAlphaPipeline (transformer) from components."""
    if cfg["denoiser"] == "unet":
        from diffusers import StableDiffusionPipeline

        pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=denoiser,
                                       scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    else:
        from diffusers import PixArtAlphaPipeline

        pipe = PixArtAlphaPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=denoiser,
                                   scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe: Any, prompts: list[str], seeds: list[int] | int = 0, steps: int = 20, guidance: float = 4.0,
             size: int = 64, output_type: str = "pil") -> list:
    """Images for ``prompts`` with either pipeline kind (handles the PixArt-only arguments)."""
    from diffusers import PixArtAlphaPipeline

    if isinstance(seeds, int):
        gens = torch.Generator().manual_seed(seeds)
    else:
        gens = [torch.Generator().manual_seed(s) for s in seeds]
    kw = dict(height=size, width=size, num_inference_steps=steps, guidance_scale=guidance,
              generator=gens, output_type=output_type)
    if isinstance(pipe, PixArtAlphaPipeline):
        kw |= dict(use_resolution_binning=False, clean_caption=False,
                   max_sequence_length=pipe.tokenizer.model_max_length)
    pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        return pipe(prompts, **kw).images


def count_params(m: Any) -> int:
    return sum(p.numel() for p in m.parameters())
