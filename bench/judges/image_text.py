"""The image-text scorer protocol shared by HPS v2, PickScore, ImageReward and CLIPScore.

A scorer maps batches of (image, prompt) pairs to one float each. Scores of different
scorers live on different scales (100 x cosine, logit scale x cosine, a z-normalised
reward), so each scorer names its scale and its direction; reports show both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from PIL import Image


class ImageTextScorer(Protocol):
    judge_id: str
    scale: str               # what the numbers are, e.g. "100 x cosine"
    higher_is_better: bool

    def score(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[float]:
        """One score per (image, prompt) pair, ``images[i]`` against ``prompts[i]``; batched inside."""
        ...


class BatchedScorer:
    """What every real scorer shares: the pair-count check, loading on first use, and the walk
    over the pairs in chunks of ``batch``. Subclasses set ``batch`` and ``_model`` (None until
    loaded) and implement ``_load`` and ``_score_batch``."""

    batch: int
    _model: Any

    def _load(self) -> None:
        raise NotImplementedError

    def _score_batch(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[float]:
        raise NotImplementedError

    def score(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[float]:
        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
        if self._model is None:
            self._load()
        out: list[float] = []
        for i in range(0, len(images), self.batch):
            out += self._score_batch(images[i:i + self.batch], prompts[i:i + self.batch])
        return out
