"""Long prompts: a world scene sentence buried past CLIP's 77-token window.

A CLIP text encoder keeps the first 77 tokens (start token included) and drops the rest; an
LLM reads on. :func:`long_prompt` puts neutral scene-setting sentences (paper, light,
framing, mood) before the scene sentence until it starts after the 77th CLIP token, so only
a model that reads long prompts can follow it. The distractors name no world shape, colour,
number or relation, so they change nothing the judges check. :func:`scene_of` finds the
scene sentence again (the world oracle reads prompts with it).
"""

from __future__ import annotations

import random
import re
from functools import cache

from bench.world.languages import parse_prompt
from bench.world.scene import SceneSpec

CLIP_CONTEXT = 77  # tokens a CLIP text encoder keeps, start and end tokens included

LEAD_INS = (
    "In the middle of it all:",
    "At the heart of the picture:",
    "What the picture shows:",
    "And the subject itself:",
)
DISTRACTORS = (
    "The picture is printed on heavy matte paper with a faint grain that shows only up close.",
    "Soft daylight falls through a tall window and spreads evenly over the page.",
    "The framing is calm and centred, with generous margins on every side.",
    "Nothing in the background competes for attention; the surface is plain and quiet.",
    "The mood is patient and still, like an early morning before the house wakes up.",
    "Edges are crisp, the focus is sharp, and the exposure is well balanced.",
    "There is no text, no watermark and no border drawn on the sheet.",
    "The paper has a slight warmth to it, as if it had been kept in a drawer for years.",
    "Shadows are soft and short, cast by a diffuse lamp somewhere overhead.",
    "The composition feels deliberate, simple and uncluttered.",
    "A gentle vignette darkens the corners just enough to guide the gaze inward.",
    "The whole image has the quiet clarity of a textbook illustration.",
    "Seen straight on, the page lies perfectly flat, with no perspective distortion.",
    "The lighting is even, without glare or harsh reflections.",
    "It is the kind of picture a teacher might pin to a classroom wall for reference.",
    "The atmosphere is clean and orderly, almost clinical, yet not cold.",
    "Fine paper fibres are visible where the light grazes the surface.",
    "Everything is drawn with care, in a flat graphic style with no gradients.",
    "Every element sits well inside the frame, and nothing is cut off at the edges.",
    "The camera is steady and the shot is perfectly level.",
    "There is a sense of calm, of something small observed closely and without hurry.",
    "The backdrop stays plain so that the subject reads at a glance.",
    "The tones are muted and even, like a print that has faded just a little.",
    "The sheet is smooth, with a faint texture that only shows under raking light.",
)


@cache
def _clip_tokenizer():  # open_clip imports torch: load it only when a long prompt is written
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer()


def clip_token_count(text: str) -> int:
    """CLIP BPE tokens of ``text``, without the start and end tokens (open_clip's tokenizer, offline)."""
    return len(_clip_tokenizer().encode(text))


def long_prompt(scene_text: str, seed: int) -> str:
    """``scene_text`` in distractor sentences, starting after CLIP's 77th token; deterministic per ``seed``."""
    rng = random.Random(seed)
    pool = rng.sample(DISTRACTORS, len(DISTRACTORS))
    before: list[str] = []
    while clip_token_count(" ".join(before)) < CLIP_CONTEXT - 1:  # the start token is the first of the 77
        before.append(pool.pop())
    before += [pool.pop() for _ in range(rng.randint(0, 1))]
    after = [pool.pop() for _ in range(rng.randint(1, 2))]
    scene = f"{rng.choice(LEAD_INS)} {scene_text.strip().rstrip('.')}."
    return " ".join([*before, scene, *after])


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def scene_of(text: str) -> SceneSpec | None:
    """The scene of the first sentence (after any lead-in ending in ':') that is a world prompt, or None."""
    for sentence in _SENTENCE_END.split(text):
        spec = parse_prompt(sentence) or parse_prompt(sentence.rpartition(":")[2])
        if spec is not None:
            return spec
    return None
