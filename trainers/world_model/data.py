"""Random Shapes-world training pairs: a prompt from the world grammar and a render of it.

Scenes cover what GenEval-world asks (single objects, pairs, counts 2-4, colours, relations,
coloured pairs) and more: colours and counts are mixed freely into every kind, so the model
sees the words in many combinations rather than only the 319 evaluation prompts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import numpy as np
import torch
from PIL import Image

from bench.world.detect import foreground as detect_foreground
from bench.world.grammar import write_prompt
from bench.world.render import render
from bench.world.scene import COLORS, RELATIONS, Layout, LayoutError, ObjectSpec, Relation, SceneSpec
from bench.world.shapes import SHAPES, shape_mask

# kind -> weight; roughly the mix of the evaluation's skills, single objects oversampled
KINDS = {"single": 0.30, "count": 0.15, "pair": 0.30, "relation": 0.25}
COLOR_P = 0.6      # a group names its colour with this probability
FREE_P = 0.03      # a group says "shape"/"object" instead of a shape name


def _group(rng: np.random.Generator, count: int = 1, free_ok: bool = True) -> ObjectSpec:
    shape = None if free_ok and rng.random() < FREE_P else SHAPES[rng.integers(len(SHAPES))]
    color = list(COLORS)[rng.integers(len(COLORS))] if rng.random() < COLOR_P else None
    return ObjectSpec(shape, color, count)


def parse_kinds(text: str) -> dict[str, float]:
    """``"single=0.55,pair=0.2,..."`` -> a scene-kind mix; kinds left out get weight 0.
    An unknown kind, a bad number or a mix without weight is an error that names it."""
    mix = dict.fromkeys(KINDS, 0.0)
    for item in filter(None, (x.strip() for x in text.split(","))):
        kind, _, value = item.partition("=")
        if kind not in KINDS:
            raise ValueError(f"scene kind {kind!r} in {text!r}: known kinds are {', '.join(KINDS)}")
        try:
            mix[kind] = float(value)
        except ValueError:
            raise ValueError(f"scene kind {kind!r} in {text!r}: weight {value!r} is not a number") from None
        if not mix[kind] >= 0:
            raise ValueError(f"scene kind {kind!r} in {text!r}: weight must be >= 0")
    if sum(mix.values()) <= 0:
        raise ValueError(f"scene kinds {text!r}: give at least one kind a positive weight")
    return mix


def sample_spec(rng: np.random.Generator, kinds: Mapping[str, float] = KINDS) -> SceneSpec:
    """A random scene of a kind drawn from ``kinds`` (weights, see :data:`KINDS`)."""
    kind = rng.choice(list(kinds), p=np.array(list(kinds.values())) / sum(kinds.values()))
    if kind == "single":
        return SceneSpec((_group(rng),))
    if kind == "count":
        return SceneSpec((_group(rng, int(rng.integers(2, 5))),))
    # two groups; mostly one object each, sometimes a small count
    counts = [1, 1]
    if rng.random() < 0.15:
        counts[int(rng.integers(2))] = int(rng.integers(2, 4))
    a, b = _group(rng, counts[0], False), _group(rng, counts[1], False)
    while (b.shape, b.color) == (a.shape, a.color):
        b = _group(rng, counts[1], False)
    if kind == "pair":
        return SceneSpec((a, b))
    return SceneSpec((a, b), (Relation(0, RELATIONS[rng.integers(len(RELATIONS))], 1),))


def object_mask(scene: Layout) -> np.ndarray:
    """(H, W) bool: the pixels the scene's objects cover."""
    mask = np.zeros((scene.size, scene.size), bool)
    for obj in scene.objects:
        x1, y1, x2, y2 = obj.box
        mask[y1:y2, x1:x2] |= shape_mask(obj.shape, x2 - x1, y2 - y1)
    return mask


def foreground_masks(images: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) bool object masks of world images in [-1, 1] (B, 3, H, W), as the world
    detector sees them: for images that come without their scene (a model's samples, an image
    folder), so fine-tuning can weigh objects as ``world:base`` was trained (``fg_weight``)."""
    pixels = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1).numpy()
    return torch.from_numpy(np.stack([detect_foreground(Image.fromarray(p.round().astype(np.uint8)))
                                      for p in pixels]))[:, None]


def render_pair(rng: np.random.Generator, spec_fn: Callable[[np.random.Generator], SceneSpec] = sample_spec,
                caption_fn: Callable[[SceneSpec, np.random.Generator], str] | None = None,
                size: int = 64, object_scale: float = 1.0) -> tuple[str, np.ndarray, np.ndarray]:
    """(caption, uint8 HxWx3 image, HxW object mask) for a scene from ``spec_fn`` (scenes that do
    not fit are redrawn); the caption is the world grammar's prompt unless ``caption_fn`` writes one.
    ``object_scale`` enlarges the objects (see :func:`bench.world.scene.layout`)."""
    while True:
        spec = spec_fn(rng)
        try:
            img, scene = render(spec, int(rng.integers(2**63)), size, object_scale)
        except LayoutError:
            continue
        text = caption_fn(spec, rng) if caption_fn else write_prompt(spec)
        return text, np.asarray(img), object_mask(scene)


def sample_pair(rng: np.random.Generator, size: int = 64) -> tuple[str, np.ndarray, np.ndarray]:
    """(prompt, uint8 HxWx3 image, HxW object mask) for a random scene."""
    return render_pair(rng, size=size)


def render_batch(rng: np.random.Generator, n: int,
                 spec_fn: Callable[[np.random.Generator], SceneSpec] = sample_spec,
                 caption_fn: Callable[[SceneSpec, np.random.Generator], str] | None = None,
                 size: int = 64, object_scale: float = 1.0) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """``n`` captions, images as a float tensor (n, 3, H, W) in [-1, 1] and object masks as a
    float tensor (n, 1, H, W), from :func:`render_pair`."""
    captions, imgs, masks = zip(*(render_pair(rng, spec_fn, caption_fn, size, object_scale) for _ in range(n)),
                                strict=True)
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return list(captions), x, torch.from_numpy(np.stack(masks)).float()[:, None]


def sample_batch(rng: np.random.Generator, n: int, size: int = 64, with_masks: bool = False,
                 object_scale: float = 1.0, kinds: Mapping[str, float] | None = None) -> tuple:
    """``n`` prompts and images as a float tensor (n, 3, H, W) in [-1, 1] (and, with
    ``with_masks``, the object masks as a float tensor (n, 1, H, W)); ``kinds`` re-weights the
    scene kinds (default :data:`KINDS`)."""
    spec_fn = partial(sample_spec, kinds=kinds) if kinds else sample_spec
    prompts, x, masks = render_batch(rng, n, spec_fn, size=size, object_scale=object_scale)
    return (prompts, x, masks) if with_masks else (prompts, x)


class SceneBatches(torch.utils.data.IterableDataset):
    """Endless training batches from :func:`sample_batch`, for rendering in DataLoader worker
    processes (a GPU step outruns one CPU's renders). Worker ``i`` draws from its own stream seeded
    by ``(seed, start, i)``, so a run with the same worker count and start step is reproducible."""

    def __init__(self, batch: int, seed: int = 0, start: int = 0, object_scale: float = 1.0,
                 kinds: Mapping[str, float] | None = None):
        self.batch, self.seed, self.start, self.object_scale, self.kinds = batch, seed, start, object_scale, kinds

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        torch.set_num_threads(1)
        rng = np.random.default_rng([self.seed, self.start, info.id if info else 0])
        while True:
            yield sample_batch(rng, self.batch, with_masks=True, object_scale=self.object_scale, kinds=self.kinds)


def batch_loader(dataset: SceneBatches, workers: int, pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """Batches of ``dataset`` rendered by ``workers`` processes, a few batches ahead."""
    return torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers, prefetch_factor=4,
                                       pin_memory=pin_memory, persistent_workers=True)


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    for _ in range(20):
        print(sample_pair(rng)[0])
