"""The Shapes world: masks, renderer determinism, grammar round trip, exact detector."""

import numpy as np
import pytest

from bench.world.detect import WorldColorClassifier, WorldDetector
from bench.world.grammar import parse_prompt, write_prompt
from bench.world.noise import ErrorRates, expected_geneval
from bench.world.render import render
from bench.world.scene import COLORS, RELATIONS, ObjectSpec, Relation, SceneSpec, world_relation
from bench.world.shapes import SHAPES, shape_mask
from suites.geneval.rules import relative_position


@pytest.mark.parametrize("shape", SHAPES)
def test_masks_fill_their_box(shape):
    for w in range(5, 31, 2):
        for h in (w - 2, w, w + 2):
            m = shape_mask(shape, w, h)
            assert m[0].any() and m[-1].any() and m[:, 0].any() and m[:, -1].any(), (shape, w, h)


def test_shapes_are_distinguishable():
    for size in (9, 13):
        for a in SHAPES:
            for b in SHAPES:
                if a != b:
                    ma, mb = shape_mask(a, size, size), shape_mask(b, size, size)
                    assert (ma & mb).sum() / (ma | mb).sum() < 0.9, (a, b)


def test_render_is_deterministic_and_seed_dependent():
    spec = SceneSpec((ObjectSpec("circle", "red", 2), ObjectSpec("square")))
    a, _ = render(spec, 7)
    b, _ = render(spec, 7)
    c, _ = render(spec, 8)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    big, _ = render(spec, 7, size=128)
    assert big.size == (128, 128)


@pytest.mark.parametrize("text", [
    "a photo of a circle", "a photo of two red squares", "a photo of an orange ring and a blue cross",
    "a photo of a triangle left of a diamond", "a photo of four semicircles", "a photo of a shape",
])
def test_grammar_round_trip(text):
    assert write_prompt(parse_prompt(text)) == text


def test_parser_rejects_text_outside_the_grammar():
    assert parse_prompt("a photo of a bench") is None
    assert parse_prompt("two circles dancing") is None


def test_detector_is_exact_on_renders():
    det, col = WorldDetector(), WorldColorClassifier()
    rng = np.random.default_rng(0)
    for seed in range(60):
        objs = tuple(
            ObjectSpec(SHAPES[rng.integers(7)], list(COLORS)[rng.integers(10)], int(rng.integers(1, 3)))
            for _ in range(2)
        )
        image, scene = render(SceneSpec(objs), seed)
        found = det.detect([image])[0]
        truth = sorted((o.shape, o.color, o.box) for o in scene.objects)
        colors = col.classify(image, found, "")
        got = sorted((d.label, c, tuple(int(v) for v in d.box)) for d, c in zip(found, colors, strict=True))
        assert got == truth, seed
        assert all(d.score == 1.0 for d in found)
        for d, o in zip(sorted(found, key=lambda d: d.box), sorted(scene.objects, key=lambda o: o.box), strict=True):
            x1, y1, x2, y2 = o.box
            assert d.mask.sum() == shape_mask(o.shape, x2 - x1, y2 - y1).sum()


def test_object_scale_enlarges_objects_that_the_detector_still_reads_exactly():
    det = WorldDetector()
    spec = SceneSpec((ObjectSpec("ring", "red"), ObjectSpec("cross", "blue")))
    plain = [render(spec, seed)[1] for seed in range(20)]
    assert [s.objects for s in plain] == [render(spec, seed, object_scale=1.0)[1].objects for seed in range(20)]
    for seed in range(20):
        image, scene = render(spec, seed, object_scale=1.8)
        widths = [o.box[2] - o.box[0] for o in scene.objects]
        assert all(0.14 * 1.8 * 64 - 1 <= w <= 32 for w in widths), widths
        found = det.detect([image])[0]
        assert sorted((d.label, tuple(int(v) for v in d.box)) for d in found) == \
            sorted((o.shape, o.box) for o in scene.objects)
    mean_w = lambda scenes: np.mean([o.box[2] - o.box[0] for s in scenes for o in s.objects])  # noqa: E731
    assert mean_w([render(spec, seed, object_scale=1.8)[1] for seed in range(20)]) > 1.5 * mean_w(plain)
    with pytest.raises(ValueError, match="object scale -1"):
        render(spec, 0, object_scale=-1)


def test_smallest_world_objects_score_one():
    det = WorldDetector()
    sides = []
    for seed in range(40):
        image, scene = render(SceneSpec((ObjectSpec(count=4),)), seed)
        found = det.detect([image])[0]
        assert len(found) == 4 and all(d.score == 1.0 for d in found), seed
        sides += [min(o.box[2] - o.box[0], o.box[3] - o.box[1]) for o in scene.objects]
    assert min(sides) == 9  # the smallest size the layout draws at 64 px (0.14 of the canvas, odd)


def test_flecks_smaller_than_any_world_object_are_not_detections():
    """Solid 4x4 flecks of every colour around one red circle: each fits the square template
    exactly, but is far smaller than anything the world draws, so none passes 0.3 and a
    single_object prompt for another shape fails."""
    from PIL import Image

    from suites.geneval.rules import keep_detections

    image, scene = render(SceneSpec((ObjectSpec("circle", "red"),)), 3)
    pix = np.asarray(image).copy()
    x1, y1, x2, y2 = scene.objects[0].box
    spots = [(x, y) for y in range(3, 58, 7) for x in range(3, 58, 7)
             if x + 4 < x1 - 1 or x > x2 or y + 4 < y1 - 1 or y > y2]
    for i, (x, y) in enumerate(spots):
        pix[y:y + 4, x:x + 4] = list(COLORS.values())[i % len(COLORS)]
    found = WorldDetector().detect([Image.fromarray(pix)])[0]
    assert found[0].label == "circle" and found[0].score == 1.0
    assert len(found) > 20 and {d.label for d in found} == {"circle", "square"}  # the flecks are found ...
    kept = keep_detections(found, "single_object")
    assert list(kept) == ["circle"] and len(kept["circle"]) == 1  # ... but none is confident enough to count


@pytest.mark.parametrize("relation", RELATIONS)
def test_world_relations_read_unambiguously_by_geneval(relation):
    spec = SceneSpec((ObjectSpec("circle"), ObjectSpec("square")), (Relation(0, relation, 1),))
    for seed in range(30):
        _, scene = render(spec, seed)
        a, b = (o.box for o in sorted(scene.objects, key=lambda o: o.group))
        assert world_relation(a, b) == relation
        assert relative_position(a, b) == {relation}


def test_error_rates_parse_and_validate():
    assert ErrorRates.parse("count=0.2, position=0.1") == ErrorRates(count=0.2, position=0.1)
    with pytest.raises(ValueError, match="colour"):
        ErrorRates.parse("colour=0.1")
    with pytest.raises(ValueError, match="outside"):
        ErrorRates.parse("count=1.5")
    exp = expected_geneval(ErrorRates(count=0.3, missing=0.1))
    assert exp["counting"] == pytest.approx(0.63) and exp["colors"] == pytest.approx(0.9)
