"""The image-text scorer protocol shared by HPS v2, PickScore, ImageReward and CLIPScore.

A scorer maps batches of (image, prompt) pairs to one float each. Scores of different
scorers live on different scales (100 x cosine, logit scale x cosine, a z-normalised
reward), so each scorer names its scale and its direction; reports show both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from PIL import Image


class ImageTextScorer(Protocol):
    judge_id: str
    scale: str               # what the numbers are, e.g. "100 x cosine"
    higher_is_better: bool

    def score(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[float]:
        """One score per (image, prompt) pair, ``images[i]`` against ``prompts[i]``; batched inside."""
        ...
