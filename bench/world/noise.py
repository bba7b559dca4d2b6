"""Known error rates for world candidates, applied to the scene before rendering.

Each kind is a separate draw per image: ``count`` changes an explicit number by one,
``color`` recolours a group whose colour the prompt names, ``missing`` drops one group,
``position`` flips the asked relation, ``pair_missing`` drops one group of a scene with two or
more (single-group prompts stay right: it hits two objects, position and colour attribution). A
kind with nothing to act on (no number, no named colour, no relation, a single group) does
nothing, so each rate hits only the GenEval tasks it concerns and the expected scores are known in
advance (:func:`expected_geneval`).

Draws come from :func:`error_draws`: per prompt and kind a random offset plus a golden-ratio
step per seed (a low-discrepancy sequence), so the images of one prompt err at close to the
set rate even at small sample sizes, while every kind stays unbiased across prompts.

Induced bias acts on the choices a prompt leaves free (:func:`apply_free_choices`):
``bias=red:0.8`` draws red for a free colour with probability 0.8 and otherwise one of the
other colours uniformly; ``extra=0.3`` adds, with that probability (a golden-ratio draw as
above), one object of a shape the scene does not have, its colour drawn like a free one.
With either set, every free shape (uniform) and colour is drawn here, before layout, so the
scene a candidate draws is known in full. Without them free choices stay uniform.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from bench.world.render import stable_seed
from bench.world.scene import COLORS, OPPOSITE, ObjectSpec, Relation, SceneSpec
from bench.world.shapes import SHAPES

KINDS = ("count", "color", "missing", "position", "pair_missing")  # errors against what the prompt asks
FREE_KINDS = ("extra", "bias")  # bias in what the prompt leaves free


@dataclass(frozen=True)
class ErrorRates:
    count: float = 0.0
    color: float = 0.0
    missing: float = 0.0
    position: float = 0.0
    pair_missing: float = 0.0
    extra: float = 0.0             # probability of one unprompted object
    bias: str | None = None        # the colour a free colour choice favours ...
    bias_rate: float = 0.0         # ... with this probability

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name != "bias" and not 0.0 <= v <= 1.0:
                raise ValueError(f"error rate {f.name}={v} is outside [0, 1]")
        if self.bias is not None and self.bias not in COLORS:
            raise ValueError(f"bias colour {self.bias!r} is not a world colour ({', '.join(COLORS)})")
        if self.bias_rate and self.bias is None:
            raise ValueError("bias_rate needs a bias colour")

    @classmethod
    def parse(cls, text: str) -> ErrorRates:
        """``"count=0.2,color=0.1,extra=0.3,bias=red:0.8"`` -> rates; unnamed kinds are 0."""
        rates: dict[str, object] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, val = part.partition("=")
            if not sep or key not in KINDS + FREE_KINDS:
                raise ValueError(f"bad world:noisy option {part!r}; use KIND=RATE with KIND in "
                                 f"{', '.join(KINDS + ('extra',))}, or bias=COLOUR:RATE")
            if key == "bias":
                color, sep, val = val.partition(":")
                if not sep:
                    raise ValueError(f"bad world:noisy option {part!r}: use bias=COLOUR:RATE, e.g. bias=red:0.8")
                rates["bias"], key = color, "bias_rate"
            try:
                rates[key] = float(val)
            except ValueError:
                raise ValueError(f"bad rate in world:noisy option {part!r}: not a number") from None
        return cls(**rates)

    @property
    def free_choices(self) -> bool:
        """Whether free choices are biased (or objects added): then :func:`apply_free_choices` runs."""
        return bool(self.extra or self.bias_rate)

    def __str__(self) -> str:
        parts = [f"{k}={getattr(self, k):g}" for k in (*KINDS, "extra") if getattr(self, k)]
        return ",".join(parts + ([f"bias={self.bias}:{self.bias_rate:g}"] if self.bias_rate else []))


GOLDEN = (5**0.5 - 1) / 2


def error_draws(text: str, seed: int) -> dict[str, float]:
    """One uniform draw in [0, 1) per error kind for image ``seed`` of prompt ``text``."""
    return {k: (stable_seed("noise", k, text) / 2**64 + seed * GOLDEN) % 1.0 for k in KINDS}


def free_draw(text: str, seed: int) -> float:
    """The low-discrepancy draw in [0, 1) that decides the extra object of image ``seed``."""
    return (stable_seed("noise", "extra", text) / 2**64 + seed * GOLDEN) % 1.0


def color_distribution(rates: ErrorRates) -> dict[str, float]:
    """Probability of each colour for a choice the prompt leaves free."""
    if not rates.bias_rate:
        return {c: 1 / len(COLORS) for c in COLORS}
    rest = (1 - rates.bias_rate) / (len(COLORS) - 1)
    return {c: rates.bias_rate if c == rates.bias else rest for c in COLORS}


def _free_color(rates: ErrorRates, rng: np.random.Generator) -> str:
    if rates.bias_rate and rng.random() < rates.bias_rate:
        return rates.bias
    others = [c for c in COLORS if c != rates.bias] if rates.bias_rate else list(COLORS)
    return others[int(rng.integers(len(others)))]


def apply_free_choices(spec: SceneSpec, rates: ErrorRates, draw: float, rng: np.random.Generator) -> SceneSpec:
    """Fill every free shape (uniform) and colour (:func:`color_distribution`), then add one
    object of a shape not in the scene if ``draw < rates.extra``."""
    objs = [ObjectSpec(o.shape or SHAPES[int(rng.integers(len(SHAPES)))], o.color or _free_color(rates, rng), o.count)
            for o in spec.objects]
    if draw < rates.extra:
        unused = [s for s in SHAPES if s not in {o.shape for o in objs}]
        if unused:
            objs.append(ObjectSpec(unused[int(rng.integers(len(unused)))], _free_color(rates, rng), 1))
    return SceneSpec(tuple(objs), spec.relations)


def apply_errors(spec: SceneSpec, rates: ErrorRates, draws: dict[str, float], rng: np.random.Generator) -> SceneSpec:
    """The scene a noisy candidate draws instead of ``spec``; kind K errs if ``draws[K] < rate``."""
    picks = rng.random(3)
    if draws["count"] < rates.count:
        counted = [i for i, o in enumerate(spec.objects) if o.count >= 2]
        if counted:
            i = counted[int(picks[0] * len(counted))]
            step = 1 if picks[1] < 0.5 else -1
            spec = spec.with_object(i, count=spec.objects[i].count + step)
    if draws["color"] < rates.color:
        colored = [i for i, o in enumerate(spec.objects) if o.color]
        if colored:
            i = colored[int(picks[0] * len(colored))]
            others = [c for c in COLORS if c != spec.objects[i].color]
            spec = spec.with_object(i, color=others[int(picks[2] * len(others))])
    if draws["position"] < rates.position and spec.relations:
        flipped = tuple(Relation(r.subject, OPPOSITE[r.relation], r.target) for r in spec.relations)
        spec = SceneSpec(spec.objects, flipped)
    if draws["missing"] < rates.missing and spec.objects:
        spec = spec.without(int(picks[1] * len(spec.objects)))
    if draws["pair_missing"] < rates.pair_missing and len(spec.objects) >= 2:
        spec = spec.without(int(picks[1] * len(spec.objects)))
    return spec


def expected_geneval(rates: ErrorRates) -> dict[str, float]:
    """The GenEval-world task scores a perfect judge gives a candidate with these rates."""
    keep = 1.0 - rates.missing
    pair = keep * (1.0 - rates.pair_missing)  # scenes of two groups
    return {
        "single_object": keep,
        "two_object": pair,
        "counting": keep * (1 - rates.count),
        "colors": keep * (1 - rates.color),
        "position": pair * (1 - rates.position),
        "color_attr": pair * (1 - rates.color),
    }
