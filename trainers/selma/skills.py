"""The skills SELMA writes prompts for: a description, rules and three seed prompts each.

The four world skills (``counting``, ``colors``, ``position``, ``color_attr``) name the
GenEval task of the same name, so the world writer can stand in for the language model; the
others follow the reference's seed sources (Localized Narratives, DiffusionDB, COCO, Whoops)
and need a language-model writer. The texts are our own wording, not the reference's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Skill:
    name: str
    description: str  # what the prompts exercise, one sentence
    rules: tuple[str, ...]  # skill-specific instructions to the writer
    seeds: tuple[str, ...]  # hand-written examples that start the few-shot pool
    max_words: int = 30
    task: str | None = None  # the GenEval task the world grammar writes for this skill


_WORLD_STYLE = "Use plain words for simple shapes and everyday objects."

SKILLS: dict[str, Skill] = {s.name: s for s in (
    Skill("counting", "pictures that show an exact number of objects of one kind",
          ("State how many objects there are, with a number word from two to five.",
           "Name one kind of object only, so that the count is unambiguous.", _WORLD_STYLE),
          ("a photo of three apples on a wooden table", "two cats sleeping on a sofa",
           "four red balloons against a grey sky"), task="counting"),
    Skill("colors", "pictures of a single object in a stated colour",
          ("Give one object and its colour; the colour must be clearly visible.",
           "Pick a common colour word (red, blue, green, yellow, purple, ...).", _WORLD_STYLE),
          ("a photo of a yellow umbrella", "a green bicycle leaning on a wall", "a purple cup on a shelf"),
          task="colors"),
    Skill("position", "pictures of two objects in a stated spatial relation",
          ("Place one object left of, right of, above or below another one.",
           "Name exactly two objects and one relation between them.", _WORLD_STYLE),
          ("a photo of a dog left of a bench", "a lamp above a desk", "a cup right of a laptop"),
          task="position"),
    Skill("color_attr", "pictures of two objects, each in its own colour",
          ("Name two different objects and give each a different colour.",
           "The colours must stay attached to their objects (no swapping).", _WORLD_STYLE),
          ("a photo of a red car and a blue bus", "a white mug and a black phone",
           "an orange cat next to a green chair"), task="color_attr"),
    Skill("long_text", "long, detailed descriptions of everything visible in a scene, as a narrator would say them",
          ("Describe the scene from one side to the other: objects, their looks and where they are.",
           "Write one or two sentences."),
          ("In this picture there is a woman in a blue coat walking on a wet street, behind her a row of shops "
           "with lit windows and a bicycle leaning on a lamp post.",
           "A small kitchen with white cupboards, a kettle on the stove, a bowl of lemons on the counter and a "
           "window showing a garden.",
           "On the left a brown horse grazes in a field, on the right a wooden fence runs towards a barn under a "
           "cloudy sky."), max_words=50),
    Skill("user_prompts", "prompts as people type them into image generators, with styles and artists' media",
          ("Mix a subject with a medium or style (oil painting, photo, 3D render, watercolour, ...).",
           "Keep the terse, comma-separated way people write such prompts."),
          ("a lighthouse on a cliff at sunset, oil painting, dramatic light",
           "portrait of an old fisherman, 35mm photo, film grain",
           "a cosy reading nook with plants, isometric 3D render"), max_words=30),
    Skill("everyday", "ordinary scenes from daily life",
          ("Describe one everyday scene with people, animals or objects doing something common.",),
          ("a man riding a bike down a city street", "a plate of pasta next to a glass of water",
           "children playing football in a park"), max_words=30),
    Skill("commonsense", "scenes that break common sense in a way a viewer notices at once",
          ("Combine familiar things in an impossible or absurd way (wrong size, place, season or use).",
           "Keep each object recognisable."),
          ("a snowman standing in a sunny desert", "a giraffe sitting at an office desk typing",
           "a candle burning underwater in a fish tank"), max_words=30),
)}

WORLD_SKILLS = tuple(name for name, s in SKILLS.items() if s.task)


def get_skill(name: str) -> Skill:
    if name not in SKILLS:
        raise ValueError(f"unknown SELMA skill {name!r}; known: {', '.join(SKILLS)}")
    return SKILLS[name]
