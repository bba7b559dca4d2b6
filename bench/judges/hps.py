"""HPS v2 / v2.1 (Wu et al. 2023): open_clip ViT-H-14 fine-tuned on human preferences.

As the reference (tgxs002/HPSv2, ``hpsv2/img_score.py``): the ViT-H-14 architecture with the
HPS checkpoint's ``state_dict`` loaded over it, open_clip's validation transform (RGB, resize
shortest side to 224 bicubic, centre crop, OpenAI mean/std) and the ViT-H-14 tokenizer; the
score is the cosine of the L2-normalised image and text features, with no logit scale.
The HPS benchmark reports 100 x cosine, and so does this scorer (``hpsv2.score`` returns the
raw cosine). The ``hpsv2`` package itself is not used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from bench.device import resolve_device
from bench.judges.image_text import BatchedScorer

HUB_REPO = "xswu/HPSv2"
CHECKPOINTS = {"v2.0": "HPS_v2_compressed.pt", "v2.1": "HPS_v2.1_compressed.pt"}
# buffers older open_clip versions saved in state dicts; current open_clip rebuilds them
_STALE_BUFFERS = ("attn_mask", "visual.attn_mask")


class HPSv2Scorer(BatchedScorer):
    """100 x cosine between open_clip image and text features, with HPS weights.

    ``arch`` is an open_clip model name or ``local-dir:PATH`` (its own preprocess config is
    used); ``checkpoint`` a path to an HPS ``.pt`` file (``{"state_dict": ...}`` or a plain
    state dict), ``"none"`` to keep the weights ``arch`` brings, or None for the hub file of
    ``version``.
    """

    scale = "100 x cosine"
    higher_is_better = True

    def __init__(self, version: str = "v2.1", checkpoint: str | None = None, arch: str = "ViT-H-14",
                 device: str = "auto", batch: int = 16, weights_only: bool = True) -> None:
        version = {"v2": "v2.0", "2.0": "v2.0", "2.1": "v2.1"}.get(version, version)
        if version not in CHECKPOINTS:
            raise ValueError(f"unknown HPS version {version!r}; known: {', '.join(CHECKPOINTS)}")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.version, self.checkpoint, self.arch = version, checkpoint, arch
        self.device_name, self.batch, self.weights_only = device, batch, weights_only
        self._model: Any = None

    @property
    def judge_id(self) -> str:
        source = self.checkpoint or f"{HUB_REPO}/{CHECKPOINTS[self.version]}"
        return f"hps:{source}@{self.arch}"

    def _checkpoint_path(self) -> str | None:
        if self.checkpoint == "none":
            return None
        if self.checkpoint:
            return self.checkpoint
        from huggingface_hub import hf_hub_download

        try:
            return hf_hub_download(HUB_REPO, CHECKPOINTS[self.version])
        except Exception as e:  # offline, not cached
            raise ValueError(f"cannot get HPS {self.version} checkpoint {HUB_REPO}/{CHECKPOINTS[self.version]} "
                             f"({type(e).__name__}: {e}); download it and pass checkpoint=PATH") from None

    def _load(self) -> None:
        import open_clip
        import torch

        path = self._checkpoint_path()
        try:  # the HPS weights replace the architecture's own: do not load those first
            model, _, preprocess = open_clip.create_model_and_transforms(
                self.arch, pretrained=None, load_weights=path is None)
            tokenizer = open_clip.get_tokenizer(self.arch)
        except (OSError, RuntimeError, ValueError) as e:
            raise ValueError(f"cannot build open_clip model {self.arch!r} for HPS: {e}") from e
        if path is not None:
            try:
                state = torch.load(path, map_location="cpu", weights_only=self.weights_only)
            except Exception as e:
                raise ValueError(f"cannot read HPS checkpoint {path!r}: {e}") from e
            if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
                state = state["state_dict"]
            state = {k: v for k, v in state.items() if k not in _STALE_BUFFERS}
            result = model.load_state_dict(state, strict=False)
            if result.missing_keys or result.unexpected_keys:
                raise ValueError(f"HPS checkpoint {path!r} does not fit open_clip {self.arch!r}: "
                                 f"missing {result.missing_keys[:10]}, unexpected {result.unexpected_keys[:10]}")
        self.device = resolve_device(self.device_name)
        self._model, self._preprocess, self._tokenizer = model.eval().to(self.device), preprocess, tokenizer

    def _score_batch(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[float]:
        import torch

        pixels = torch.stack([self._preprocess(im) for im in images]).to(self.device)
        tokens = self._tokenizer(list(prompts)).to(self.device)
        with torch.inference_mode():
            img = self._model.encode_image(pixels, normalize=True)
            txt = self._model.encode_text(tokens, normalize=True)
        return (100 * (img * txt).sum(-1)).float().tolist()
