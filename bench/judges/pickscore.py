"""PickScore (Kirstain et al. 2023): a CLIP ViT-H-14 fine-tuned on Pick-a-Pic preferences.

As the reference (yuvalkirstain/PickScore, README "Inference with PickScore"): the processor
of ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K`` (text padded and truncated to 77 tokens), the
model ``yuvalkirstain/PickScore_v1``, L2-normalised projected embeddings, and
score = ``logit_scale.exp() * cosine`` (about 18-23 for real images); a softmax of one
prompt's scores over its images gives preference probabilities. The reference ran
transformers 4.27, whose CLIP image processor resized through PIL; the PIL backend is used
here too (transformers 5 would otherwise pick its torchvision one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from bench.device import resolve_device
from bench.judges.image_text import BatchedScorer


def _embedding(out: Any):  # noqa: ANN202  (a tensor)
    """transformers 5 returns an output object from ``get_*_features``; the projected embedding is its pooler output."""
    return out if not hasattr(out, "pooler_output") else out.pooler_output


class PickScoreScorer(BatchedScorer):
    """``logit_scale.exp() * cos`` between CLIP image and text embeddings; hub ids or local paths."""

    DEFAULT_MODEL = "yuvalkirstain/PickScore_v1"
    DEFAULT_PROCESSOR = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
    scale = "logit_scale x cosine"
    higher_is_better = True

    def __init__(self, model: str = DEFAULT_MODEL, processor: str = DEFAULT_PROCESSOR, device: str = "auto",
                 batch: int = 16) -> None:
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.model, self.processor, self.device_name, self.batch = model, processor, device, batch
        self._model: Any = None

    @property
    def judge_id(self) -> str:
        return f"pickscore:{self.model}+{self.processor}"

    def _load(self) -> None:
        from transformers import AutoProcessor, CLIPModel

        try:
            self._processor = AutoProcessor.from_pretrained(self.processor, backend="pil")
        except OSError as e:
            raise ValueError(f"cannot load PickScore processor {self.processor!r}: {e}") from e
        try:
            model = CLIPModel.from_pretrained(self.model)
        except OSError as e:
            raise ValueError(f"cannot load PickScore model {self.model!r}: {e}") from e
        self.device = resolve_device(self.device_name)
        self._model = model.eval().to(self.device)
        # the reference passes max_length=77 (= the ViT-H-14 tokenizer's own limit); never exceed the tokenizer's
        self._max_length = min(77, self._processor.tokenizer.model_max_length)

    def _score_batch(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[float]:
        import torch

        image_inputs = self._processor(images=[im.convert("RGB") for im in images], return_tensors="pt").to(self.device)
        text_inputs = self._processor(text=list(prompts), padding=True, truncation=True,
                                      max_length=self._max_length, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            img = _embedding(self._model.get_image_features(**image_inputs))
            txt = _embedding(self._model.get_text_features(**text_inputs))
            img = img / img.norm(dim=-1, keepdim=True)
            txt = txt / txt.norm(dim=-1, keepdim=True)
            scores = self._model.logit_scale.exp() * (img * txt).sum(-1)
        return scores.float().tolist()
