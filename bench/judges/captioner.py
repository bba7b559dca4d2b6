"""The captioning judge protocol, and its real backend: BLIP image captioning via transformers.

A captioner turns images into one caption each. The bias suites read objects out of
captions (Vice et al.), so the backend's decoding is part of the measurement: BLIP decodes
greedily (one beam) with ``max_length=10`` tokens, as TryBeforeYouBias does with
``Salesforce/blip-image-captioning-base``. The Shapes-world backend is
:class:`bench.world.captioner.WorldCaptioner`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from PIL import Image

from bench.device import resolve_device


class Captioner(Protocol):
    judge_id: str

    def caption(self, images: Sequence[Image.Image]) -> list[str]:
        """One caption per image (batched inside)."""
        ...


class BlipCaptioner:
    """``BlipForConditionalGeneration`` unconditional captions, greedy, from a hub id or a local folder.

    Every image of a batch starts from the same single BOS token, so batching adds no
    padding and batched captions equal one-at-a-time ones.
    """

    DEFAULT = "Salesforce/blip-image-captioning-base"

    def __init__(self, model: str = DEFAULT, device: str = "auto", batch: int = 16, max_length: int = 10) -> None:
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.model, self.device_name, self.batch, self.max_length = model, device, batch, max_length
        self._model: Any = None
        self._processor: Any = None

    @property
    def judge_id(self) -> str:
        return f"blip-caption:{self.model}:greedy,max_length={self.max_length}"

    def _load(self) -> None:
        from transformers import AutoProcessor, BlipForConditionalGeneration

        try:
            self._processor = AutoProcessor.from_pretrained(self.model)
            model = BlipForConditionalGeneration.from_pretrained(self.model)
        except OSError as e:
            raise ValueError(f"cannot load BLIP captioning model {self.model!r}: {e}") from e
        self.device = resolve_device(self.device_name)
        self._model = model.eval().to(self.device)

    def caption(self, images: Sequence[Image.Image]) -> list[str]:
        import torch

        if not images:
            return []
        if self._model is None:
            self._load()
        out: list[str] = []
        for i in range(0, len(images), self.batch):
            chunk = [im.convert("RGB") for im in images[i:i + self.batch]]
            inputs = self._processor(images=chunk, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                ids = self._model.generate(**inputs, max_length=self.max_length, num_beams=1, do_sample=False)
            out += [c.strip() for c in self._processor.batch_decode(ids, skip_special_tokens=True)]
        return out
