"""Questions about a world scene, written from its spec, and their parser.

Two styles are written, both with known gold answers:

* TIFA style (:func:`tifa_questions`): rows with ``question``, ``choices``, ``answer``,
  ``element_type`` (object, color, counting, shape, spatial) and ``element``;
* DSG style (:func:`dsg_propositions`): yes/no propositions with 1-based ids and parent ids
  (entity -> its attributes and count, both entities -> their relation).

Every question follows one of the templates in :data:`TEMPLATES`; :func:`parse_question`
reads them back, which is how the world VQA judge knows what is asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bench.world.grammar import NUMBERS
from bench.world.scene import COLORS, RELATIONS, ObjectSpec, SceneSpec
from bench.world.shapes import PLURALS, SHAPES

YES_NO = ("yes", "no")
COUNT_CHOICES = tuple(str(n) for n in range(1, 7))


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def noun(scene: SceneSpec, index: int, plural: bool | None = None) -> str:
    """How questions name group ``index``: its shape ("object" if free), with its colour only
    when another group shares the shape (so every name picks out one group)."""
    obj = scene.objects[index]
    shape = obj.shape or "object"
    clash = any((o.shape or "object") == shape for i, o in enumerate(scene.objects) if i != index)
    plural = obj.count > 1 if plural is None else plural
    word = PLURALS.get(shape, shape + "s") if plural else shape
    return f"{obj.color} {word}" if clash and obj.color else word


def _the(scene: SceneSpec, i: int) -> str:
    return f"the {noun(scene, i)}"


def _be(obj: ObjectSpec) -> str:
    return "are" if obj.count > 1 else "is"


def tifa_questions(scene: SceneSpec) -> list[dict]:
    """TIFA-style rows for ``scene`` (fields as in TIFA's question file, less id/caption)."""
    rows: list[dict] = []

    def add(question: str, choices: tuple[str, ...], answer: str, element_type: str, element: str) -> None:
        rows.append({"question": question, "choices": list(choices), "answer": answer,
                     "element_type": element_type, "element": element})

    for i, obj in enumerate(scene.objects):
        name = noun(scene, i)
        shape = obj.shape or "object"
        if obj.count > 1:
            add(f"are there {name}?", YES_NO, "yes", "object", shape)
            add(f"how many {name} are there?", COUNT_CHOICES, str(obj.count), "counting", shape)
        else:
            add(f"is there {_article(name)} {name}?", YES_NO, "yes", "object", shape)
        if obj.color and obj.color not in name:
            add(f"what color {_be(obj)} the {name}?", tuple(COLORS), obj.color, "color", obj.color)
            if obj.shape and sum(o.color == obj.color for o in scene.objects) == 1:
                what = "shapes are" if obj.count > 1 else "shape is"
                add(f"what {what} the {obj.color} {'objects' if obj.count > 1 else 'object'}?", SHAPES, obj.shape,
                    "shape", obj.shape)
    for r in scene.relations:
        sub = scene.objects[r.subject]
        add(f"{_be(sub)} {_the(scene, r.subject)} {r.relation} {_the(scene, r.target)}?", YES_NO, "yes",
            "spatial", r.relation)
    return rows


def dsg_propositions(scene: SceneSpec) -> list[dict]:
    """DSG-style rows: ``proposition_id`` (1-based), ``dependency`` (parent ids; [] = root),
    ``category_broad`` (entity, attribute, count, relation) and a yes/no ``question``."""
    rows: list[dict] = []
    entity_id: dict[int, int] = {}

    def add(question: str, category: str, parents: list[int]) -> int:
        rows.append({"proposition_id": len(rows) + 1, "dependency": parents, "category_broad": category,
                     "question": question})
        return len(rows)

    for i, obj in enumerate(scene.objects):
        name = noun(scene, i)
        entity_id[i] = add(f"are there {name}?" if obj.count > 1 else f"is there {_article(name)} {name}?",
                           "entity", [])
        if obj.count > 1:
            add(f"are there {NUMBERS[obj.count]} {name}?", "count", [entity_id[i]])
        if obj.color and obj.color not in name:
            add(f"{_be(obj)} the {name} {obj.color}?", "attribute", [entity_id[i]])
    for r in scene.relations:
        sub = scene.objects[r.subject]
        add(f"{_be(sub)} {_the(scene, r.subject)} {r.relation} {_the(scene, r.target)}?", "relation",
            [entity_id[r.subject], entity_id[r.target]])
    return rows


# ---------------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------------

_SING = {s: s for s in SHAPES} | {p: s for s, p in PLURALS.items()} | {"object": None, "objects": None}
_NOUN = r"(?:(?:{c}) )?(?:{n})".format(c="|".join(COLORS), n="|".join(sorted(_SING, key=len, reverse=True)))
_REL = "|".join(RELATIONS)
_NUM = "|".join(NUMBERS[1:])
TEMPLATES: dict[str, re.Pattern] = {
    "exists": re.compile(rf"^(?:is there an?|are there) (?P<a>{_NOUN})\?$"),
    "how_many": re.compile(rf"^how many (?P<a>{_NOUN}) are there\?$"),
    "count_is": re.compile(rf"^are there (?P<n>{_NUM}) (?P<a>{_NOUN})\?$"),
    "what_color": re.compile(rf"^what colou?r (?:is|are) the (?P<a>{_NOUN})\?$"),
    "what_shape": re.compile(rf"^what shapes? (?:is|are) the (?P<a>{_NOUN})\?$"),
    "color_is": re.compile(rf"^(?:is|are) the (?P<a>{_NOUN}) (?P<color>{'|'.join(COLORS)})\?$"),
    "relation": re.compile(rf"^(?:is|are) the (?P<a>{_NOUN}) (?P<rel>{_REL}) the (?P<b>{_NOUN})\?$"),
}


@dataclass(frozen=True)
class Target:
    """What a noun phrase in a question picks out: a shape (None = any) and maybe a colour."""

    shape: str | None
    color: str | None


@dataclass(frozen=True)
class Parsed:
    kind: str
    a: Target
    b: Target | None = None
    color: str | None = None
    relation: str | None = None
    number: int | None = None


def _target(phrase: str) -> Target:
    words = phrase.split()
    color = words[0] if len(words) == 2 else None
    return Target(_SING[words[-1]], color)


def parse_question(text: str) -> Parsed:
    """The meaning of a world question; ``ValueError`` naming the text if no template fits."""
    q = " ".join(text.lower().strip().split())
    for kind, pattern in TEMPLATES.items():
        m = pattern.match(q)
        if m:
            g = m.groupdict()
            return Parsed(kind, _target(g["a"]), _target(g["b"]) if g.get("b") else None, g.get("color"),
                          g.get("rel"), NUMBERS.index(g["n"]) if g.get("n") else None)
    raise ValueError(f"the world VQA judge cannot read the question {text!r}: it is not a world question")
