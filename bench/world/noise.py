"""Known error rates for world candidates, applied to the scene before rendering.

Each kind is a separate draw per image: ``count`` changes an explicit number by one,
``color`` recolours a group whose colour the prompt names, ``missing`` drops one group,
``position`` flips the asked relation. A kind with nothing to act on (no number, no named
colour, no relation) does nothing, so each rate hits only the GenEval tasks it concerns and
the expected scores are known in advance (:func:`expected_geneval`).

Draws come from :func:`error_draws`: per prompt and kind a random offset plus a golden-ratio
step per seed (a low-discrepancy sequence), so the images of one prompt err at close to the
set rate even at small sample sizes, while every kind stays unbiased across prompts.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from bench.world.render import stable_seed
from bench.world.scene import COLORS, OPPOSITE, Relation, SceneSpec

KINDS = ("count", "color", "missing", "position")


@dataclass(frozen=True)
class ErrorRates:
    count: float = 0.0
    color: float = 0.0
    missing: float = 0.0
    position: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"error rate {f.name}={v} is outside [0, 1]")

    @classmethod
    def parse(cls, text: str) -> ErrorRates:
        """``"count=0.2,color=0.1"`` -> rates; unnamed kinds are 0."""
        rates: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, val = part.partition("=")
            if not sep or key not in KINDS:
                raise ValueError(f"bad world:noisy option {part!r}; use KIND=RATE with KIND in {', '.join(KINDS)}")
            try:
                rates[key] = float(val)
            except ValueError:
                raise ValueError(f"bad rate in world:noisy option {part!r}: not a number") from None
        return cls(**rates)

    def __str__(self) -> str:
        return ",".join(f"{k}={getattr(self, k):g}" for k in KINDS if getattr(self, k))


GOLDEN = (5**0.5 - 1) / 2


def error_draws(text: str, seed: int) -> dict[str, float]:
    """One uniform draw in [0, 1) per error kind for image ``seed`` of prompt ``text``."""
    return {k: (stable_seed("noise", k, text) / 2**64 + seed * GOLDEN) % 1.0 for k in KINDS}


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
    return spec


def expected_geneval(rates: ErrorRates) -> dict[str, float]:
    """The GenEval-world task scores a perfect judge gives a candidate with these rates."""
    keep = 1.0 - rates.missing
    return {
        "single_object": keep,
        "two_object": keep,
        "counting": keep * (1 - rates.count),
        "colors": keep * (1 - rates.color),
        "position": keep * (1 - rates.position),
        "color_attr": keep * (1 - rates.color),
    }
