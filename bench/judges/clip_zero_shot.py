"""Zero-shot CLIP through transformers' ``CLIPModel``: image-text scores, prompt-vs-blank, class probabilities.

One judge serves the bias suites: Vice et al.'s generative miss-rate asks whether CLIP
prefers the blank text ``" "`` to the prompt, and the social-bias attribute classifiers take
class probabilities over prompts per class (HEIM's "a photo of a female" / "a photo of a
male"). Scores are CLIP's logits, ``logit_scale * cos(image, text)``, whose softmax over a
set of texts is what the references compare. It also meets the
:class:`bench.judges.image_text.ImageTextScorer` protocol. transformers 5's
``get_image_features`` / ``get_text_features`` return output objects; the projected
embedding is their ``pooler_output``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from bench.device import resolve_device


def _tensor(out: Any) -> Any:
    return out.pooler_output if hasattr(out, "pooler_output") else out


class ClipZeroShot:
    """CLIP logits from a hub id or a local ``CLIPModel`` + ``CLIPProcessor`` folder; text embeddings cached."""

    DEFAULT = "openai/clip-vit-large-patch14"
    scale = "CLIP logit (logit scale x cosine)"
    higher_is_better = True

    def __init__(self, model: str = DEFAULT, device: str = "auto", batch: int = 16) -> None:
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.model, self.device_name, self.batch = model, device, batch
        self._model: Any = None
        self._text: dict[str, Any] = {}

    @property
    def judge_id(self) -> str:
        return f"clip-zero-shot:{self.model}"

    def _load(self) -> None:
        from transformers import CLIPModel, CLIPProcessor

        try:
            self._processor = CLIPProcessor.from_pretrained(self.model)
            model = CLIPModel.from_pretrained(self.model)
        except OSError as e:
            raise ValueError(f"cannot load CLIP model {self.model!r}: {e}") from e
        self.device = resolve_device(self.device_name)
        self._model = model.eval().to(self.device)

    def image_features(self, images: Sequence[Image.Image]) -> Any:
        """Normalised image embeddings, ``(n, d)``."""
        import torch

        if self._model is None:
            self._load()
        feats = []
        for i in range(0, len(images), self.batch):
            px = self._processor(images=[im.convert("RGB") for im in images[i:i + self.batch]], return_tensors="pt")
            with torch.inference_mode():
                f = _tensor(self._model.get_image_features(pixel_values=px["pixel_values"].to(self.device)))
            feats.append(torch.nn.functional.normalize(f.float(), dim=-1))
        return torch.cat(feats)

    def text_features(self, texts: Sequence[str]) -> Any:
        """Normalised text embeddings, ``(m, d)`` (each text encoded once per judge)."""
        import torch

        if self._model is None:
            self._load()
        todo = list(dict.fromkeys(t for t in texts if t not in self._text))
        for i in range(0, len(todo), self.batch):
            chunk = todo[i:i + self.batch]
            tok = self._processor(text=chunk, return_tensors="pt", padding=True, truncation=True).to(self.device)
            with torch.inference_mode():
                f = _tensor(self._model.get_text_features(input_ids=tok["input_ids"],
                                                          attention_mask=tok["attention_mask"]))
            for t, v in zip(chunk, torch.nn.functional.normalize(f.float(), dim=-1), strict=True):
                self._text[t] = v
        return torch.stack([self._text[t] for t in texts])

    def _scale(self) -> Any:
        return self._model.logit_scale.detach().exp().float()

    def logits(self, images: Sequence[Image.Image], texts: Sequence[str]) -> np.ndarray:
        """``(n images, m texts)`` CLIP logits."""
        im, tx = self.image_features(images), self.text_features(texts)
        return (self._scale() * im @ tx.T).cpu().numpy()

    def score(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[float]:
        """The logit of each (image, prompt) pair: the ImageTextScorer protocol."""
        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
        if not images:
            return []
        im, tx = self.image_features(images), self.text_features(prompts)
        return (self._scale() * (im * tx).sum(-1)).cpu().tolist()

    def class_probabilities(self, images: Sequence[Image.Image], class_prompts: Sequence[Sequence[str]]
                            ) -> np.ndarray:
        """``(n, K)`` softmax over classes; a class with several prompts uses the normalised mean
        of their normalised embeddings (as GenEval's colour classifier does)."""
        import torch

        if not images:
            return np.zeros((0, len(class_prompts)))
        im = self.image_features(images)
        cls = torch.stack([torch.nn.functional.normalize(self.text_features(list(ps)).mean(0), dim=-1)
                           for ps in class_prompts])
        return torch.softmax(self._scale() * im @ cls.T, dim=-1).cpu().numpy()
