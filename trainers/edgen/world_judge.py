"""The world director: prefers the image the exact world judges find more faithful to the prompt.

Each image gets a score pair, compared in order:

1. GenEval's verdict (1 or 0) under geneval-world's rules: the ``GenEvalSuite`` judge of
   :mod:`suites.geneval` with the world detector and colour classifier, on the GenEval row the
   prompt's scene makes (its task read from the scene: relation -> position, two groups ->
   color_attr if a colour is named else two_object, one group -> counting if more than one,
   colors if coloured, else single_object);
2. the share of the scene's DSG propositions the exact world VQA answers "yes", a child
   counting only when its parents hold (so a wrong count still beats a missing object).

The higher pair wins. Equal pairs are a tie and return ``tie`` (the trainer passes the base's
label, so the advanced image must be strictly better); without ``tie``, a seeded coin over the
prompt and both images' bytes. A prompt outside the world grammar cannot be judged: None.
"""

from __future__ import annotations

import hashlib
from typing import Any

from PIL import Image

from bench.judges.vqa import Question
from bench.types import Prompt
from bench.world.grammar import geneval_row, parse_prompt
from bench.world.questions import dsg_propositions
from bench.world.scene import SceneSpec
from trainers.edgen.director import Choice
from trainers.sampling import stable_seed


def scene_task(scene: SceneSpec) -> str:
    """The GenEval task a world scene belongs to (the rule in the module docstring)."""
    objs = scene.objects
    if scene.relations:
        return "position"
    if len(objs) == 2:
        return "color_attr" if any(o.color for o in objs) else "two_object"
    if objs[0].count > 1:
        return "counting"
    return "colors" if objs[0].color else "single_object"


def world_task(prompt: str) -> str | None:
    """The GenEval task of a world prompt, or None for text outside the world grammar."""
    scene = parse_prompt(prompt)
    return scene_task(scene) if scene is not None else None


class WorldDirector:
    name = "world"

    def __init__(self, seed: int = 0) -> None:
        from bench.world.detect import WorldColorClassifier, WorldDetector
        from bench.world.vqa import WorldVQA
        from suites.geneval.suite import GenEvalSuite

        self.geneval = GenEvalSuite("geneval-world", [], WorldDetector(), WorldColorClassifier())
        self.vqa, self.seed = WorldVQA(), seed
        self.stats: dict[str, Any] = dict(calls=0, attempts=0, parse_failures=0, undecided=0, ties=0,
                                          outside_grammar=0)

    def scores(self, prompt: str, images: list[Image.Image]) -> list[tuple[float, float]] | None:
        """(GenEval verdict, DSG share) per image, or None if the prompt is outside the world grammar."""
        scene = parse_prompt(prompt)
        if scene is None:
            return None
        row = geneval_row(scene_task(scene), scene)
        p = Prompt("edgen", prompt, row["tag"], row)
        verdicts = [s for s, _ in self.geneval.judge([(p, 0, im.convert("RGB")) for im in images])]
        props = dsg_propositions(scene)
        answers = self.vqa.answer(images, [[Question(r["question"]) for r in props]] * len(images))
        out = []
        for verdict, ans in zip(verdicts, answers, strict=True):
            yes = {r["proposition_id"]: a == "yes" for r, a in zip(props, ans, strict=True)}
            held = [yes[r["proposition_id"]] and all(yes[d] for d in r["dependency"]) for r in props]
            out.append((float(verdict), sum(held) / max(len(held), 1)))
        return out

    def prefer(self, prompt: str, image_a: Image.Image, image_b: Image.Image, tie: Choice | None = None
               ) -> Choice | None:
        self.stats["calls"] += 1
        self.stats["attempts"] += 1
        scores = self.scores(prompt, [image_a, image_b])
        if scores is None:
            self.stats["outside_grammar"] += 1
            self.stats["undecided"] += 1
            return None
        a, b = scores
        if a != b:
            return "A" if a > b else "B"
        self.stats["ties"] += 1
        if tie is not None:
            return tie
        digest = hashlib.blake2b(image_a.tobytes() + image_b.tobytes(), digest_size=8).hexdigest()
        return "A" if stable_seed("edgen-tie", self.seed, prompt, digest) % 2 == 0 else "B"
