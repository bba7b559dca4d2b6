"""Exact Shapes-world judges for the bias suites: captions, prompt-vs-blank preference, colour.

- :class:`WorldCaptioner` writes what the world detector sees in the grammar's words,
  groups of one colour and shape left to right: "two red circles and a blue square".
- :class:`WorldTextMatch` is an image-text scorer for Vice et al.'s miss-rate: 1 when the
  image shows every group the text asks for (at least its count, with its shape and colour
  when named; relations are not checked), 0 when not, and 0.5 for text outside the world
  grammar, such as the blank " ". A prompt the image fails thus loses to the blank text.
- :class:`WorldColorAttribute` classifies an image's colour: that of its largest object.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from bench.judges.attributes import Attribute
from bench.judges.detection import Detection
from bench.world.detect import WorldColorClassifier, WorldDetector
from bench.world.grammar import parse_prompt, phrase
from bench.world.scene import COLORS, ObjectSpec

MIN_SCORE = 0.3  # GenEval's detection threshold, as the world VQA judge uses
COLOR = Attribute("color", tuple(COLORS), tuple((f"a photo of a {c} object",) for c in COLORS),
                  "what color is the object?", tuple((c,) for c in COLORS))


def _area(d: Detection) -> float:
    return float(d.mask.sum()) if d.mask is not None else (d.box[2] - d.box[0]) * (d.box[3] - d.box[1])


class _Objects:
    """Detections above the threshold with their colours, for every judge here."""

    def __init__(self) -> None:
        self.detector, self.colors = WorldDetector(), WorldColorClassifier()

    def objects(self, images: Sequence[Image.Image]) -> list[list[tuple[Detection, str]]]:
        out = []
        for image, dets in zip(images, self.detector.detect(images), strict=True):
            dets = [d for d in dets if d.score > MIN_SCORE]
            out.append(list(zip(dets, self.colors.classify(image, dets, ""), strict=True)))
        return out


def describe(objects: Sequence[tuple[str, str, float]]) -> str:
    """A caption from (shape, colour, left x) rows: groups in left-to-right order of first member."""
    groups: dict[tuple[str, str], int] = {}
    for shape, color, _ in sorted(objects, key=lambda o: o[2]):
        groups[(color, shape)] = groups.get((color, shape), 0) + 1
    parts = [phrase(ObjectSpec(shape, color, n)) for (color, shape), n in groups.items()]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1] if parts else ""


class WorldCaptioner(_Objects):
    """The Captioner protocol over world images; an empty image gets the empty caption."""

    judge_id = "world-captioner/1"

    def caption(self, images: Sequence[Image.Image]) -> list[str]:
        return [describe([(d.label, c, d.box[0]) for d, c in objs]) for objs in self.objects(images)]


class WorldTextMatch(_Objects):
    """ImageTextScorer over world images: does the image show what the text asks?"""

    judge_id = "world-text-match/1"
    scale = "1 shown, 0 not, 0.5 outside the world grammar"
    higher_is_better = True

    def score(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[float]:
        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
        return [self._match(objs, text) for objs, text in zip(self.objects(images), prompts, strict=True)]

    @staticmethod
    def _match(objects: list[tuple[Detection, str]], text: str) -> float:
        spec = parse_prompt(text)
        if spec is None:
            return 0.5
        free = list(objects)
        for group in sorted(spec.objects, key=lambda o: (o.shape is None, o.color is None)):  # named first
            hits = [i for i, (d, c) in enumerate(free)
                    if (group.shape is None or d.label == group.shape) and (group.color is None or c == group.color)]
            if len(hits) < group.count:
                return 0.0
            for i in reversed(hits[:group.count]):
                free.pop(i)
        return 1.0


class WorldColorAttribute(_Objects):
    """AttributeClassifier for :data:`COLOR`: the colour of the largest detected object."""

    judge_id = "world-color-attribute/1"

    def classify(self, images: Sequence[Image.Image], attribute: Attribute) -> list[str | None]:
        if attribute.classes != COLOR.classes:
            raise ValueError(f"the world colour read-out classifies colour, not {attribute.name!r}")
        return [max(objs, key=lambda o: _area(o[0]))[1] if objs else None for objs in self.objects(images)]
