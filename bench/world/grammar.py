"""The world's language: scene spec -> GenEval-style prompt text and row, and back.

The writer phrases prompts with GenEval's templates ("a photo of two red circles", "a photo
of a circle right of a square"). The parser inverts it, so that world candidates see only
the prompt text, as a real text-to-image model does. "shape" and "object" name a free shape.
"""

from __future__ import annotations

import re

from bench.world.scene import COLORS, RELATIONS, ObjectSpec, Relation, SceneSpec
from bench.world.shapes import PLURALS, SHAPES

NUMBERS = ["zero", "one", "two", "three", "four", "five", "six"]
_SINGULAR = {p: s for s, p in PLURALS.items()} | {s: s for s in SHAPES}
_FREE = {"shape": None, "shapes": None, "object": None, "objects": None}
_NOUNS = sorted([*_SINGULAR, *_FREE], key=len, reverse=True)
_GROUP = (
    r"(?:(?P<det>an?|one|two|three|four|five|six|\d+) )(?:(?P<color>{c}) )?(?P<noun>{n})"
).format(c="|".join(COLORS), n="|".join(_NOUNS))
_PREFIX = r"^(?:(?:a photo|a picture|an image|a drawing) of )?"
_RE = re.compile(
    _PREFIX
    + _GROUP
    + r"(?: (?P<conn>and|{r}) ".format(r="|".join(RELATIONS))
    + _GROUP.replace("?P<", "?P<b_")
    + r")?$"
)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def phrase(obj: ObjectSpec) -> str:
    """'a red circle', 'two squares', 'an orange shape'."""
    noun = obj.shape or "shape"
    words = [obj.color] if obj.color else []
    if obj.count == 1:
        words.append(noun)
        return f"{_article(words[0])} {' '.join(words)}"
    words.append(PLURALS.get(noun, noun + "s"))
    return f"{NUMBERS[obj.count] if obj.count < len(NUMBERS) else obj.count} {' '.join(words)}"


def write_prompt(spec: SceneSpec) -> str:
    """Prompt text for a scene of one group, two groups, or two groups with a relation."""
    objs = spec.objects
    if len(objs) == 1:
        return f"a photo of {phrase(objs[0])}"
    if len(objs) != 2:
        raise ValueError(f"the world grammar writes one or two groups, not {len(objs)}")
    if spec.relations:
        r = spec.relations[0]
        return f"a photo of {phrase(objs[r.subject])} {r.relation} {phrase(objs[r.target])}"
    return f"a photo of {phrase(objs[0])} and {phrase(objs[1])}"


def _group(m: re.Match, p: str = "") -> ObjectSpec:
    det = m.group(p + "det")
    count = 1 if det in ("a", "an") else int(det) if det.isdigit() else NUMBERS.index(det)
    noun = m.group(p + "noun")
    return ObjectSpec(_SINGULAR.get(noun), m.group(p + "color"), count)


def parse_prompt(text: str) -> SceneSpec | None:
    """The scene a world prompt asks for, or None if the text is outside the grammar."""
    m = _RE.match(" ".join(text.lower().strip().rstrip(".").split()))
    if not m:
        return None
    first = _group(m)
    if not m.group("conn"):
        return SceneSpec((first,))
    second = _group(m, "b_")
    rel = () if m.group("conn") == "and" else (Relation(0, m.group("conn"), 1),)
    return SceneSpec((first, second), rel)


def geneval_row(tag: str, spec: SceneSpec) -> dict:
    """A GenEval metadata row (``tag``, ``include``, ``exclude``, ``prompt``) for ``spec``."""
    def clause(o: ObjectSpec) -> dict:
        d: dict = {"class": o.shape, "count": o.count}
        if o.color:
            d["color"] = o.color
        return d

    row: dict = {"tag": tag}
    if spec.relations:  # GenEval lists the target first and points the subject at it
        r = spec.relations[0]
        subject = clause(spec.objects[r.subject]) | {"position": [r.relation, 0]}
        row["include"] = [clause(spec.objects[r.target]), subject]
    else:
        row["include"] = [clause(o) for o in spec.objects]
    if tag == "counting":
        o = spec.objects[0]
        row["exclude"] = [{"class": o.shape, "count": o.count + 1}]
    row["prompt"] = write_prompt(spec)
    return row


def spec_from_row(row: dict) -> SceneSpec:
    """The scene a GenEval row describes (classes must be world shapes)."""
    objs = tuple(ObjectSpec(c["class"], c.get("color"), c["count"]) for c in row["include"])
    rels = tuple(
        Relation(i, c["position"][0], c["position"][1]) for i, c in enumerate(row["include"]) if "position" in c
    )
    return SceneSpec(objs, rels)
