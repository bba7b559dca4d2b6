"""Seeded, deterministic renderer of Shapes-world scenes.

Backgrounds are muted greys with a tint, a gradient and pixel noise; objects are flat
colours with a per-object shade shift and light noise. The detector must therefore model
the background and classify colours rather than read exact values.
"""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image

from bench.world.scene import COLORS, Layout, SceneSpec, layout
from bench.world.shapes import shape_mask


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from any printable parts, stable across processes and platforms."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def paint(scene: Layout, rng: np.random.Generator) -> Image.Image:
    """Paint a laid-out scene to an RGB image."""
    s = scene.size
    base = rng.uniform(135, 165) + rng.uniform(-8, 8, size=3)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:s, 0:s] / max(s - 1, 1) - 0.5
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy) * rng.uniform(0, 12)
    img = base[None, None, :] + ramp[..., None] + rng.uniform(-3, 3, size=(s, s, 3))
    for obj in scene.objects:
        x1, y1, x2, y2 = obj.box
        m = shape_mask(obj.shape, x2 - x1, y2 - y1)
        rgb = np.asarray(COLORS[obj.color], float) + rng.uniform(-12, 12, size=3)
        patch = rgb + rng.uniform(-4, 4, size=(*m.shape, 3))
        region = img[y1:y2, x1:x2]
        region[m] = patch[m]
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")


def render(spec: SceneSpec, seed: int, size: int = 64, object_scale: float = 1.0) -> tuple[Image.Image, Layout]:
    """Render ``spec`` with ``seed``: the same inputs give the same pixels (``object_scale``:
    see :func:`bench.world.scene.layout`)."""
    rng = np.random.default_rng(seed)
    scene = layout(spec, rng, size, scale=object_scale)
    return paint(scene, rng), scene
