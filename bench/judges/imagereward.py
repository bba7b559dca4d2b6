"""ImageReward (Xu et al. 2023), reimplemented on transformers' BLIP classes.

The reference (THUDM/ImageReward, ``ImageReward/ImageReward.py`` and ``models/BLIP/``) encodes
the image with BLIP's ViT-L (``blip.visual_encoder``), runs the prompt (BERT-base tokenizer,
padded/truncated to 35 tokens, ``[CLS]`` first) through BLIP's BERT with cross-attention to
every image token (``blip.text_encoder``), and maps the ``[CLS]`` state through a purely
linear MLP 768-1024-128-64-16-1 (the ReLUs are commented out there; dropouts only).
Reward = ``(mlp - 0.16717362830052426) / 1.0333394966054072``.

transformers' ``BlipVisionModel`` and ``BlipTextModel`` are ports of exactly these modules;
``official_to_local`` maps the official ``ImageReward.pt`` names onto them and
``load_official_state_dict`` refuses a checkpoint with missing or unknown keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from bench.device import resolve_device
from bench.judges.image_text import BatchedScorer

MEAN = 0.16717362830052426
STD = 1.0333394966054072
HUB_REPO, HUB_FILE = "THUDM/ImageReward", "ImageReward.pt"
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ImageRewardArch:
    """Sizes of the model; the defaults are ImageReward v1.0's (BLIP ViT-L/16 at 224 px, BERT-base)."""

    image_size: int = 224
    patch_size: int = 16
    vision_width: int = 1024
    vision_layers: int = 24
    vision_heads: int = 16
    text_width: int = 768
    text_layers: int = 12
    text_heads: int = 12
    text_intermediate: int = 3072
    vocab_size: int = 30524          # bert-base-uncased + BLIP's [DEC] and [ENC]
    max_positions: int = 512
    mlp_dims: tuple[int, int, int, int] = (1024, 128, 64, 16)
    max_length: int = 35             # prompt tokens, padded and truncated

    @classmethod
    def from_json(cls, path: str | Path) -> ImageRewardArch:
        data = json.loads(Path(path).read_text())
        known = {f.name for f in fields(cls)}
        if unknown := set(data) - known:
            raise ValueError(f"ImageReward arch file {path}: unknown field(s) {', '.join(sorted(unknown))}")
        if "mlp_dims" in data:
            data["mlp_dims"] = tuple(data["mlp_dims"])
        return cls(**data)


class ImageRewardModel(nn.Module):
    """BLIP image encoder + cross-attention text encoder + linear MLP head; ``forward`` gives the raw MLP output."""

    def __init__(self, arch: ImageRewardArch = ImageRewardArch()) -> None:
        from transformers import BlipTextConfig, BlipTextModel, BlipVisionConfig, BlipVisionModel

        super().__init__()
        if len(arch.mlp_dims) != 4:
            raise ValueError(f"ImageReward's MLP has 4 hidden layers, got mlp_dims={arch.mlp_dims}")
        self.arch = arch
        self.visual_encoder = BlipVisionModel(BlipVisionConfig(
            hidden_size=arch.vision_width, intermediate_size=4 * arch.vision_width,
            num_hidden_layers=arch.vision_layers, num_attention_heads=arch.vision_heads,
            image_size=arch.image_size, patch_size=arch.patch_size, hidden_act="gelu",
            layer_norm_eps=1e-6))  # BLIP's ViT: LayerNorm eps 1e-6, exact GELU, qkv bias
        self.text_encoder = BlipTextModel(BlipTextConfig(
            vocab_size=arch.vocab_size, hidden_size=arch.text_width, encoder_hidden_size=arch.vision_width,
            intermediate_size=arch.text_intermediate, num_hidden_layers=arch.text_layers,
            num_attention_heads=arch.text_heads, max_position_embeddings=arch.max_positions,
            hidden_act="gelu", layer_norm_eps=1e-12, pad_token_id=0, bos_token_id=None,  # no generation here
            is_decoder=True),  # builds the cross-attention layers; forward runs bidirectionally
            add_pooling_layer=False)
        d = (arch.text_width, *arch.mlp_dims, 1)
        self.mlp = nn.Sequential(nn.Linear(d[0], d[1]), nn.Dropout(0.2), nn.Linear(d[1], d[2]), nn.Dropout(0.2),
                                 nn.Linear(d[2], d[3]), nn.Dropout(0.1), nn.Linear(d[3], d[4]), nn.Linear(d[4], d[5]))

    def forward(self, pixel_values: torch.Tensor, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> torch.Tensor:
        image_embeds = self.visual_encoder(pixel_values=pixel_values).last_hidden_state
        image_atts = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device)
        out = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask, encoder_hidden_states=image_embeds,
                                encoder_attention_mask=image_atts, is_decoder=False)
        return self.mlp(out.last_hidden_state[:, 0, :].float()).squeeze(-1)


# (official prefix, local prefix); "{n}" is a layer index. First match wins.
_RULES = (
    ("blip.visual_encoder.cls_token", "visual_encoder.embeddings.class_embedding"),
    ("blip.visual_encoder.pos_embed", "visual_encoder.embeddings.position_embedding"),
    ("blip.visual_encoder.patch_embed.proj.", "visual_encoder.embeddings.patch_embedding."),
    ("blip.visual_encoder.blocks.{n}.norm1.", "visual_encoder.encoder.layers.{n}.layer_norm1."),
    ("blip.visual_encoder.blocks.{n}.attn.qkv.", "visual_encoder.encoder.layers.{n}.self_attn.qkv."),
    ("blip.visual_encoder.blocks.{n}.attn.proj.", "visual_encoder.encoder.layers.{n}.self_attn.projection."),
    ("blip.visual_encoder.blocks.{n}.norm2.", "visual_encoder.encoder.layers.{n}.layer_norm2."),
    ("blip.visual_encoder.blocks.{n}.mlp.", "visual_encoder.encoder.layers.{n}.mlp."),  # fc1, fc2
    ("blip.visual_encoder.norm.", "visual_encoder.post_layernorm."),
    ("blip.text_encoder.", "text_encoder."),  # BLIP's med.BertModel == BlipTextModel, name for name
    ("mlp.layers.", "mlp."),
)
# in the official file but not used to score: ITC projections, the position-id buffer
IGNORED = ("blip.vision_proj.", "blip.text_proj.", "blip.text_encoder.embeddings.position_ids")


def _rewrite(key: str, src: int, dst: int) -> str | None:
    for rule in _RULES:
        m = re.match(re.escape(rule[src]).replace(r"\{n\}", r"(\d+)"), key)
        if m:
            return rule[dst].replace("{n}", m.group(1) if m.groups() else "") + key[m.end():]
    return None


def official_to_local(key: str) -> str | None:
    """``blip.visual_encoder.blocks.3.attn.qkv.weight`` -> ``visual_encoder.encoder.layers.3.self_attn.qkv.weight``."""
    return _rewrite(key, 0, 1)


def local_to_official(key: str) -> str | None:
    return _rewrite(key, 1, 0)


def load_official_state_dict(model: ImageRewardModel, state_dict: dict[str, torch.Tensor]) -> None:
    """Load an ``ImageReward.pt`` state dict (official names); missing or unknown keys raise ValueError."""
    expected = model.state_dict()
    mapped, unknown = {}, []
    for key, value in state_dict.items():
        if key.startswith(IGNORED):
            continue
        local = official_to_local(key)
        if local is None or local not in expected:
            unknown.append(key)
        else:
            mapped[local] = value
    missing = [local_to_official(k) or k for k in expected if k not in mapped]
    problems = [f"{what} key(s) {', '.join(keys[:10])}" + (f" and {len(keys) - 10} more" if len(keys) > 10 else "")
                for what, keys in (("missing", missing), ("unknown", unknown)) if keys]
    if problems:
        raise ValueError(f"ImageReward checkpoint does not match the model ({model.arch}): {'; '.join(problems)}")
    try:
        model.load_state_dict(mapped, strict=True)
    except RuntimeError as e:  # shape mismatches
        raise ValueError(f"ImageReward checkpoint does not match the model ({model.arch}): {e}") from None


def reference_transform(n_px: int):  # noqa: ANN201  (a torchvision Compose)
    """ImageReward's ``_transform``: resize shortest side (bicubic), centre crop, RGB, OpenAI CLIP mean/std."""
    from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

    return Compose([Resize(n_px, interpolation=InterpolationMode.BICUBIC), CenterCrop(n_px),
                    lambda im: im.convert("RGB"), ToTensor(), Normalize(CLIP_MEAN, CLIP_STD)])


class ImageRewardScorer(BatchedScorer):
    """ImageReward v1.0 rewards; ``checkpoint`` is an ``ImageReward.pt`` path (default: the hub file)."""

    scale = "reward (z-normalised)"
    higher_is_better = True

    def __init__(self, checkpoint: str | None = None, tokenizer: str = "bert-base-uncased",
                 arch: str | ImageRewardArch | None = None, device: str = "auto", batch: int = 16,
                 weights_only: bool = True) -> None:
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.checkpoint, self.tokenizer_name, self.device_name, self.batch = checkpoint, tokenizer, device, batch
        self.arch_source = arch
        self.weights_only = weights_only
        self._model: ImageRewardModel | None = None

    @property
    def judge_id(self) -> str:
        source = self.checkpoint or f"{HUB_REPO}/{HUB_FILE}"
        extra = "" if self.tokenizer_name == "bert-base-uncased" else f"+tok:{self.tokenizer_name}"
        extra += "" if self.arch_source is None else f"+arch:{self.arch_source}"
        return f"imagereward:{source}{extra}"

    def _checkpoint_path(self) -> str:
        if self.checkpoint:
            return self.checkpoint
        from huggingface_hub import hf_hub_download

        try:
            return hf_hub_download(HUB_REPO, HUB_FILE)
        except Exception as e:  # offline, not cached, gated
            raise ValueError(f"cannot get ImageReward checkpoint {HUB_REPO}/{HUB_FILE} ({type(e).__name__}: {e}); "
                             "download it and pass checkpoint=PATH") from None

    def _load(self) -> None:
        from transformers import BertTokenizer

        arch = self.arch_source
        arch = ImageRewardArch() if arch is None else arch if isinstance(arch, ImageRewardArch) else \
            ImageRewardArch.from_json(arch)
        path = self._checkpoint_path()
        try:
            state = torch.load(path, map_location="cpu", weights_only=self.weights_only)
        except Exception as e:
            raise ValueError(f"cannot read ImageReward checkpoint {path!r}: {e}") from e
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        try:  # BLIP's init_tokenizer: bert-base-uncased plus [DEC] (bos) and [ENC]
            tok = BertTokenizer.from_pretrained(self.tokenizer_name)
        except OSError as e:
            raise ValueError(f"cannot load ImageReward tokenizer {self.tokenizer_name!r}: {e}") from e
        tok.add_special_tokens({"bos_token": "[DEC]"})
        tok.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
        model = ImageRewardModel(arch)
        load_official_state_dict(model, state)
        self.device = resolve_device(self.device_name)
        self._tokenizer, self._transform = tok, reference_transform(arch.image_size)
        self._model = model.eval().to(self.device)

    def _score_batch(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[float]:
        pixels = torch.stack([self._transform(im) for im in images]).to(self.device)
        text = self._tokenizer(list(prompts), padding="max_length", truncation=True,
                               max_length=self._model.arch.max_length, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            raw = self._model(pixels, text.input_ids, text.attention_mask)
        return ((raw - MEAN) / STD).tolist()
