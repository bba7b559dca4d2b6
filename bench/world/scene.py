"""Scene specs of the Shapes world and their layout on a canvas.

A :class:`SceneSpec` is what a prompt asks for (groups of objects, relations between
groups; any attribute may be left free). :func:`layout` turns it into concrete
:class:`PlacedObject` rows: sizes, positions and colours drawn from a seeded generator,
with relations that GenEval's position rule reads unambiguously.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from bench.world.shapes import SHAPES

COLORS: dict[str, tuple[int, int, int]] = {  # GenEval's ten colours, well apart in RGB
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (240, 220, 30),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "purple": (130, 50, 180),
    "pink": (245, 130, 190),
    "brown": (130, 80, 40),
    "black": (20, 20, 20),
    "white": (245, 245, 245),
}
RELATIONS = ("left of", "right of", "above", "below")
OPPOSITE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
MIN_SIZE = 0.14  # an object's box is at least this fraction of the canvas wide ...
ASPECT = (0.85, 1.18)  # ... and its height / width lies in this range


@dataclass(frozen=True)
class ObjectSpec:
    """A group of ``count`` objects; ``None`` leaves shape or colour to the candidate."""

    shape: str | None = None
    color: str | None = None
    count: int = 1


@dataclass(frozen=True)
class Relation:
    """``objects[subject]`` stands ``relation`` ``objects[target]``."""

    subject: int
    relation: str
    target: int


@dataclass(frozen=True)
class SceneSpec:
    objects: tuple[ObjectSpec, ...]
    relations: tuple[Relation, ...] = ()

    def without(self, index: int) -> SceneSpec:
        """The scene with group ``index`` removed (relations touching it dropped)."""
        keep = [i for i in range(len(self.objects)) if i != index]
        remap = {old: new for new, old in enumerate(keep)}
        rels = tuple(
            Relation(remap[r.subject], r.relation, remap[r.target])
            for r in self.relations
            if r.subject != index and r.target != index
        )
        return SceneSpec(tuple(self.objects[i] for i in keep), rels)

    def with_object(self, index: int, **changes: object) -> SceneSpec:
        objs = list(self.objects)
        objs[index] = replace(objs[index], **changes)
        return SceneSpec(tuple(objs), self.relations)


@dataclass(frozen=True)
class PlacedObject:
    shape: str
    color: str
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 (x2, y2 exclusive)
    group: int = 0


@dataclass
class Layout:
    size: int
    objects: list[PlacedObject] = field(default_factory=list)


def _odd(x: float) -> int:
    n = max(5, int(round(x)))
    return n if n % 2 else n + 1


def world_relation(a: tuple[int, ...], b: tuple[int, ...], gap: int = 2) -> str | None:
    """The one relation of box ``a`` to box ``b`` the world draws, or None if neither clear.

    Clear means separated by ``gap`` pixels along one axis and offset at most half as much
    along the other; GenEval's rule then finds exactly that relation.
    """
    cax, cay = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    cbx, cby = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    dx, dy = cax - cbx, cay - cby
    if abs(dy) <= 0.5 * abs(dx):
        if a[2] + gap <= b[0]:
            return "left of"
        if b[2] + gap <= a[0]:
            return "right of"
    if abs(dx) <= 0.5 * abs(dy):
        if a[3] + gap <= b[1]:
            return "above"
        if b[3] + gap <= a[1]:
            return "below"
    return None


def _apart(a: tuple[int, ...], b: tuple[int, ...], gap: int) -> bool:
    return a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1]


class LayoutError(RuntimeError):
    """The scene does not fit on the canvas."""


def layout(spec: SceneSpec, rng: np.random.Generator, size: int = 64, attempts: int = 400,
           scale: float = 1.0) -> Layout:
    """Draw sizes, free attributes and positions for ``spec`` (deterministic given ``rng``).

    ``scale`` multiplies the range of object sizes (the box width stays at most half the
    canvas): training data for a small model can show larger objects than the world's
    evaluation renders, whose judges accept any size."""
    if not scale > 0:
        raise ValueError(f"object scale {scale!r} must be positive")
    groups = []
    for obj in spec.objects:
        shape = obj.shape or SHAPES[rng.integers(len(SHAPES))]
        color = obj.color or list(COLORS)[rng.integers(len(COLORS))]
        groups.append((shape, color, obj.count))
    n = sum(c for _, _, c in groups)
    frac = 0.30 if n <= 2 else 0.24 if n <= 4 else 0.20
    margin, gap = max(2, size // 32), max(2, size // 32)
    lo, hi = size * min(MIN_SIZE * scale, 0.45), size * min(frac * scale, 0.5)
    for _ in range(attempts):
        placed: list[PlacedObject] = []
        ok = True
        for g, (shape, color, count) in enumerate(groups):
            for _ in range(count):
                w = _odd(rng.uniform(lo, hi))
                h = _odd(w * rng.uniform(*ASPECT))
                for _ in range(60):
                    x = int(rng.integers(margin, size - margin - w + 1))
                    y = int(rng.integers(margin, size - margin - h + 1))
                    box = (x, y, x + w, y + h)
                    if all(_apart(box, p.box, gap) for p in placed):
                        placed.append(PlacedObject(shape, color, box, g))
                        break
                else:
                    ok = False
                    break
            if not ok:
                break
        if ok and all(_relation_holds(placed, r) for r in spec.relations):
            return Layout(size, placed)
    raise LayoutError(f"could not lay out {spec} on a {size}px canvas in {attempts} attempts")


def _relation_holds(placed: list[PlacedObject], rel: Relation) -> bool:
    subs = [p.box for p in placed if p.group == rel.subject]
    tgts = [p.box for p in placed if p.group == rel.target]
    return all(world_relation(a, b) == rel.relation for a in subs for b in tgts)
