"""The world's VQA judge: answers world questions exactly from the world detector.

It reads each question with :func:`bench.world.questions.parse_question`, finds the objects
it names (shape label, and colour when the question gives one) among the detections, and
answers free-form as a VQA model would: "yes"/"no", a colour, a shape or a digit.

Like real VQA models it accepts a question's presupposition: asked "is the circle red?"
about an image with no circle, it says "yes" (and names the colour or shape of the largest
object for "what colour/shape" questions). That is the failure DSG's dependencies exist
for: the entity question ("is there a circle?") fails, and zeroes its children.

``error`` simulates a weaker model: each answer is replaced, with that probability, by
another answer of the same kind (drawn deterministically from the image and question).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence

from PIL import Image

from bench.judges.detection import Detection, relative_position
from bench.judges.vqa import Question
from bench.world.detect import WorldColorClassifier, WorldDetector
from bench.world.grammar import NUMBERS
from bench.world.questions import Parsed, Target, parse_question
from bench.world.scene import COLORS
from bench.world.shapes import SHAPES

MIN_SCORE = 0.3  # GenEval's detection threshold


def _area(d: Detection) -> float:
    return float(d.mask.sum()) if d.mask is not None else (d.box[2] - d.box[0]) * (d.box[3] - d.box[1])


class WorldVQA:
    """VQA protocol over world images; exact at ``error=0``."""

    def __init__(self, error: float = 0.0) -> None:
        if not 0.0 <= error <= 1.0:
            raise ValueError(f"world VQA error={error} is outside [0, 1]")
        self.error = error
        self.detector, self.colors = WorldDetector(), WorldColorClassifier()
        self.judge_id = "world-vqa/1" + (f":error={error:g}" if error else "")

    def answer(self, images: Sequence[Image.Image], questions: Sequence[Sequence[Question]]) -> list[list[str]]:
        if len(images) != len(questions):
            raise ValueError(f"{len(images)} images but {len(questions)} question lists")
        out = []
        for image, dets, qs in zip(images, self.detector.detect(images), questions, strict=True):
            dets = [d for d in dets if d.score > MIN_SCORE]
            colors = self.colors.classify(image, dets, "")
            objects = list(zip(dets, colors, strict=True))
            key = hashlib.blake2b(image.tobytes(), digest_size=8).hexdigest() if self.error else ""
            out.append([self._noisy(self._answer(parse_question(q.text), objects), q.text, key) for q in qs])
        return out

    @staticmethod
    def _answer(q: Parsed, objects: list[tuple[Detection, str]]) -> str:
        def find(t: Target) -> list[Detection]:
            return [d for d, c in objects
                    if (t.shape is None or d.label == t.shape) and (t.color is None or c == t.color)]

        found = find(q.a)
        largest = max(objects, key=lambda dc: _area(dc[0]), default=None)
        if q.kind == "exists":
            return "yes" if found else "no"
        if q.kind == "how_many":
            return str(len(found))
        if q.kind == "count_is":
            return "yes" if len(found) == q.number else "no"
        if q.kind in ("what_color", "what_shape"):
            if not found and largest is None:
                return "none"
            pool = [(d, c) for d, c in objects if d in found] or [largest]
            values = [c if q.kind == "what_color" else d.label for d, c in pool]
            return Counter(values).most_common(1)[0][0]  # ties: the first seen (set order varies by process)
        if q.kind == "color_is":
            if not found:
                return "yes"  # presupposition accepted
            return "yes" if all(c == q.color for d, c in objects if d in found) else "no"
        if q.kind == "relation":
            others = find(q.b)
            if not found or not others:
                return "yes"  # presupposition accepted
            ok = all(q.relation in relative_position(a.box, b.box) for a in found for b in others)
            return "yes" if ok else "no"
        raise AssertionError(q.kind)

    def _noisy(self, answer: str, question: str, key: str) -> str:
        if not self.error:
            return answer
        h = hashlib.blake2b(f"{key}|{question}".encode(), digest_size=16).digest()
        draw, pick = int.from_bytes(h[:8], "little") / 2**64, int.from_bytes(h[8:], "little")
        if draw >= self.error:
            return answer
        for vocab in (("yes", "no"), tuple(COLORS), tuple(SHAPES), tuple(str(n) for n in range(len(NUMBERS)))):
            if answer in vocab:
                others = [v for v in vocab if v != answer]
                return others[pick % len(others)]
        return answer
