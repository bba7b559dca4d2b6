"""The world's language in other tongues: a deterministic French translation of the grammar, and back.

A model that reads prompts through an LLM should follow them in another language. French
needs agreement: nouns carry a gender ("une croix verte", "un cercle vert"), adjectives and
nouns a number ("deux croix vertes", "deux anneaux bleus"), and "de" elides before a vowel
("une photo d'un carré à gauche de deux triangles"). Colours follow the noun; "orange" and
"marron" are invariable, as in standard French. Counts above six are written as digits, in
both languages. The parser is lenient about agreement, so that it reads what a person writes.
"""

from __future__ import annotations

import re
import unicodedata

from bench.world import grammar
from bench.world.scene import COLORS, RELATIONS, ObjectSpec, Relation, SceneSpec
from bench.world.shapes import PLURALS, SHAPES

LANGUAGES = ("en", "fr")

# shape (None: a free shape) -> singular, plural, gender
FR_NOUNS: dict[str | None, tuple[str, str, str]] = {
    "circle": ("cercle", "cercles", "m"),
    "square": ("carré", "carrés", "m"),
    "triangle": ("triangle", "triangles", "m"),
    "diamond": ("losange", "losanges", "m"),
    "cross": ("croix", "croix", "f"),
    "ring": ("anneau", "anneaux", "m"),
    "semicircle": ("demi-cercle", "demi-cercles", "m"),
    None: ("forme", "formes", "f"),
}
_FR_FREE_EXTRA = {"objet": None, "objets": None}  # "object", read but never written
# colour -> masculine singular, feminine singular, masculine plural, feminine plural
FR_COLORS: dict[str, tuple[str, str, str, str]] = {
    "red": ("rouge", "rouge", "rouges", "rouges"),
    "orange": ("orange", "orange", "orange", "orange"),
    "yellow": ("jaune", "jaune", "jaunes", "jaunes"),
    "green": ("vert", "verte", "verts", "vertes"),
    "blue": ("bleu", "bleue", "bleus", "bleues"),
    "purple": ("violet", "violette", "violets", "violettes"),
    "pink": ("rose", "rose", "roses", "roses"),
    "brown": ("marron", "marron", "marron", "marron"),
    "black": ("noir", "noire", "noirs", "noires"),
    "white": ("blanc", "blanche", "blancs", "blanches"),
}
FR_NUMBERS = ["zéro", None, "deux", "trois", "quatre", "cinq", "six"]  # one is the article un/une
FR_RELATIONS = {"left of": "à gauche", "right of": "à droite", "above": "au-dessus", "below": "en dessous"}
_FR_READ_ONLY = {
    "au-dessous": "below",
    "sous": "below",
    "a gauche": "left of",
    "a droite": "right of",
}  # read, never written

if set(FR_NOUNS) - {None} != set(SHAPES) or set(FR_COLORS) != set(COLORS) or set(FR_RELATIONS) != set(RELATIONS):
    raise RuntimeError("bench.world.languages is out of step with the world's shapes, colours or relations")


def _check(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown prompt language {lang!r}; known: {', '.join(LANGUAGES)}")


def _de(phrase: str) -> str:
    """'de' + phrase, elided before a vowel: "d'un cercle", "de deux cercles"."""
    return f"d'{phrase}" if phrase[0] in "aeiouéèêàâîôûh" else f"de {phrase}"


def phrase_fr(obj: ObjectSpec) -> str:
    """'un cercle rouge', 'une croix verte', 'deux anneaux bleus', 'une forme orange'."""
    singular, plural, gender = FR_NOUNS[obj.shape]
    plural_form = obj.count not in (0, 1)  # French counts zero in the singular
    parts = [singular if not plural_form else plural]
    if obj.color:
        parts.append(FR_COLORS[obj.color][(gender == "f") + 2 * plural_form])
    if obj.count == 1:
        det = "une" if gender == "f" else "un"
    else:
        det = FR_NUMBERS[obj.count] if obj.count < len(FR_NUMBERS) else str(obj.count)
    return " ".join([det, *parts])


def _write_fr(spec: SceneSpec) -> str:
    objs = spec.objects
    if len(objs) == 1:
        return f"une photo {_de(phrase_fr(objs[0]))}"
    if len(objs) != 2:
        raise ValueError(f"the world grammar writes one or two groups, not {len(objs)}")
    if spec.relations:
        r = spec.relations[0]
        subject, target = _de(phrase_fr(objs[r.subject])), _de(phrase_fr(objs[r.target]))
        return f"une photo {subject} {FR_RELATIONS[r.relation]} {target}"
    return f"une photo {_de(phrase_fr(objs[0]))} et {_de(phrase_fr(objs[1]))}"


def write_prompt(spec: SceneSpec, lang: str) -> str:
    """Prompt text for ``spec`` in ``lang`` ("en": the world grammar; "fr": its French translation)."""
    _check(lang)
    return grammar.write_prompt(spec) if lang == "en" else _write_fr(spec)


_FR_NOUN_FORMS = {form: s for s, (sg, pl, _) in FR_NOUNS.items() for form in (sg, pl)} | _FR_FREE_EXTRA
_FR_COLOR_FORMS = {form: c for c, forms in FR_COLORS.items() for form in forms}
_FR_REL_FORMS = {v: k for k, v in FR_RELATIONS.items()} | _FR_READ_ONLY
_FR_DETS = ["un", "une", *(n for n in FR_NUMBERS if n)]


def _alt(words: object) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_DET, _NOUN, _COLOR, _REL = _alt(_FR_DETS), _alt(_FR_NOUN_FORMS), _alt(_FR_COLOR_FORMS), _alt(_FR_REL_FORMS)
_FR_GROUP = rf"(?P<det>{_DET}|\d+) (?P<noun>{_NOUN})(?: (?P<color>{_COLOR}))?(?= |$)"
_FR_RE = re.compile(
    r"^(?:(?:une photo|une image|un dessin|une illustration) (?:de |d'))?"
    + _FR_GROUP
    + rf"(?: (?P<conn>et|{_REL}) (?:de |d')?"
    + _FR_GROUP.replace("?P<", "?P<b_")
    + r")?$"
)


def _fr_group(m: re.Match, p: str = "") -> ObjectSpec:
    det = m.group(p + "det")
    count = 1 if det in ("un", "une") else int(det) if det.isdigit() else FR_NUMBERS.index(det)
    color = m.group(p + "color")
    return ObjectSpec(_FR_NOUN_FORMS[m.group(p + "noun")], _FR_COLOR_FORMS[color] if color else None, count)


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\u2019", "'").replace("\u00a0", " ")
    return " ".join(text.lower().strip().rstrip(".").split())


def parse_french(text: str) -> SceneSpec | None:
    """The scene a French world prompt asks for, or None if the text is outside the grammar."""
    m = _FR_RE.match(_normalize(text))
    if not m:
        return None
    first = _fr_group(m)
    if not m.group("conn"):
        return SceneSpec((first,))
    second = _fr_group(m, "b_")
    rel = () if m.group("conn") == "et" else (Relation(0, _FR_REL_FORMS[m.group("conn")], 1),)
    return SceneSpec((first, second), rel)


def parse_prompt(text: str) -> SceneSpec | None:
    """The scene a world prompt in any of :data:`LANGUAGES` asks for, or None."""
    return grammar.parse_prompt(text) or parse_french(text)


def parse_any(text: str) -> SceneSpec | None:
    """What world candidates read: a plain prompt in any language, or one embedded in a long prompt."""
    from bench.world.long_prompts import scene_of  # long_prompts builds on this module

    return parse_prompt(text) or scene_of(text)


_WORD = re.compile(r"[^\s']+'?")


def words(text: str) -> list[str]:
    """Words as :func:`vocabulary` counts them: split at spaces and after an elision ("d'un" -> "d'", "un")."""
    return _WORD.findall(text)


def vocabulary(lang: str) -> list[str]:
    """Every word :func:`write_prompt` can emit in ``lang`` (counts above six, written as digits, aside)."""
    _check(lang)
    specs = [SceneSpec((ObjectSpec(s, c, n),)) for s in (*SHAPES, None) for c in (*COLORS, None) for n in range(7)]
    for second in (ObjectSpec("circle"), ObjectSpec("cross"), ObjectSpec("circle", None, 2)):
        specs.append(SceneSpec((ObjectSpec("square"), second)))
        specs += [SceneSpec((ObjectSpec("square"), second), (Relation(0, r, 1),)) for r in RELATIONS]
    return sorted({w for spec in specs for w in words(write_prompt(spec, lang))})


def _world_words() -> frozenset[str]:
    en = {*COLORS, *SHAPES, *PLURALS.values(), "shape", "shapes", "object", "objects", *grammar.NUMBERS}
    en |= {w for r in RELATIONS for w in r.split() if w != "of"}
    fr = {*_FR_NOUN_FORMS, *_FR_COLOR_FORMS, *_FR_DETS, "zéro", "gauche", "droite", "dessus", "dessous"}
    return frozenset(part for w in en | fr for part in w.split("-") if part not in ("au", "en"))


# words that name a world shape, colour, number or relation, in any language (hyphenated words split)
WORLD_WORDS = _world_words()
