"""The detection type and the judge protocols that GenEval-style suites use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image


@dataclass(frozen=True, eq=False)
class Detection:
    """One instance: class name, confidence, box ``(x1, y1, x2, y2)`` (x2, y2 exclusive), mask."""

    label: str
    score: float
    box: tuple[float, float, float, float]
    mask: np.ndarray | None = None  # (H, W) bool, same size as the image


class Detector(Protocol):
    judge_id: str

    def detect(self, images: Sequence[Image.Image]) -> list[list[Detection]]:
        """All detections per image, any confidence; suites apply their own thresholds."""
        ...


class ColorClassifier(Protocol):
    judge_id: str

    def classify(self, image: Image.Image, detections: Sequence[Detection], classname: str) -> list[str]:
        """One colour name per detection of ``classname`` in ``image``."""
        ...
