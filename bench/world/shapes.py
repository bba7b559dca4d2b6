"""Shape masks of the Shapes world.

Every shape is drawn into a ``w x h`` box (both odd, so a centre pixel exists) by testing
pixel centres against the shape's analytic outline. The mask touches all four sides of its
box, so the detector, which sees only the mask's bounding box, can redraw the same template
and compare pixel for pixel.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "cross", "ring", "semicircle")
PLURALS: dict[str, str] = {s: s + ("es" if s.endswith(("s", "x")) else "s") for s in SHAPES}
RING_INNER = 0.55  # inner radius of a ring, as a fraction of the outer one
CROSS_ARM = 1 / 6  # half width of a cross arm, as a fraction of the box


@lru_cache(maxsize=4096)
def shape_mask(shape: str, w: int, h: int) -> np.ndarray:
    """Boolean ``(h, w)`` mask of ``shape`` filling a ``w x h`` box (read-only, cached)."""
    u = (np.arange(w) + 0.5) / w  # pixel centres in [0, 1]
    v = (np.arange(h) + 0.5) / h
    uu, vv = np.meshgrid(u, v)
    x, y = (uu - 0.5) * 2, (vv - 0.5) * 2  # in [-1, 1]
    if shape == "square":
        m = np.ones((h, w), bool)
    elif shape == "circle":
        m = x**2 + y**2 <= 1.0
    elif shape == "ring":
        r2 = x**2 + y**2
        m = (r2 <= 1.0) & (r2 >= RING_INNER**2)
    elif shape == "semicircle":  # flat side down
        m = x**2 + (vv - 1.0) ** 2 <= 1.0
    elif shape == "triangle":  # apex up; a row's half width grows to the row's lower edge
        bottom = (np.arange(h)[:, None] + 1.0) / h
        m = np.abs(uu - 0.5) <= 0.5 * bottom + 1e-9
    elif shape == "diamond":
        m = np.abs(x) + np.abs(y) <= 1.0
    elif shape == "cross":
        m = (np.abs(uu - 0.5) <= CROSS_ARM) | (np.abs(vv - 0.5) <= CROSS_ARM)
    else:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    m.setflags(write=False)
    return m
