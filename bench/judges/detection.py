"""The detection type, the judge protocols and the box geometry that GenEval-style suites use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

# GenEval's colour names (the reference's CLIP colour classes), in its order
COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")


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


def relative_position(box_a: Sequence[float], box_b: Sequence[float], margin: float = 0.1) -> set[str]:
    """Relations of box A to box B; each axis offset shrinks by ``margin`` of the summed sizes."""
    a, b = np.asarray(box_a[:4], float), np.asarray(box_b[:4], float)
    centre_a, centre_b = (a[:2] + a[2:]) / 2, (b[:2] + b[2:]) / 2
    size_a, size_b = a[2:] - a[:2], b[2:] - b[:2]
    offset = centre_a - centre_b
    revised = np.maximum(np.abs(offset) - margin * (size_a + size_b), 0) * np.sign(offset)
    if np.all(np.abs(revised) < 1e-3):
        return set()
    dx, dy = revised / np.linalg.norm(offset)
    rels = set()
    if dx < -0.5:
        rels.add("left of")
    if dx > 0.5:
        rels.add("right of")
    if dy < -0.5:
        rels.add("above")
    if dy > 0.5:
        rels.add("below")
    return rels
