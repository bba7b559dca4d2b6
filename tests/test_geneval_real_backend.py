"""The real GenEval judges (transformers Mask2Former + open_clip) end to end on tiny random models."""

import json

import numpy as np
import pytest
from PIL import Image

from bench.judges.clip_color import OpenClipColorClassifier
from bench.judges.detection import Detection
from bench.judges.mask2former import Mask2FormerDetector, masks_to_boxes
from bench.runner import run
from suites.geneval.prompts import OBJECT_NAMES
from suites.geneval.rules import COLORS, summarize
from tests.tiny_models import build_tiny_mask2former, build_tiny_open_clip

CLASSES = OBJECT_NAMES.read_text().split("\n")[:80]


@pytest.fixture(scope="module")
def judges(tmp_path_factory):
    root = tmp_path_factory.mktemp("judges")
    det = build_tiny_mask2former(root / "m2f", CLASSES, favour="bench")
    clip = build_tiny_open_clip(root / "clip")
    return det, clip


def test_masks_to_boxes_matches_the_reference_convention():
    m = np.zeros((2, 8, 8), bool)
    m[0, 2:5, 1:7] = True  # rows 2..4, cols 1..6
    assert masks_to_boxes(m).tolist() == [[1, 2, 7, 5], [0, 0, 0, 0]]


def test_detector_loads_by_path_and_returns_detections(judges):
    det = Mask2FormerDetector(str(judges[0]), device="cpu", batch_size=2)
    images = [Image.new("RGB", (48, 40), c) for c in ("red", "blue", "white")]
    out = det.detect(images)
    assert len(out) == 3
    for dets in out:
        assert len(dets) == 100  # the top 100 of 10 queries x 80 classes, as the reference keeps
        top = max(dets, key=lambda d: d.score)
        assert top.label == "bench" and top.score > 0.3  # the favoured class head
        for d in dets:
            assert d.mask.shape == (40, 48)
            if d.mask.any():
                assert list(d.box) == masks_to_boxes(d.mask[None])[0].tolist()


def test_colour_classifier_follows_the_reference_recipe(judges):
    import open_clip
    import torch

    clf = OpenClipColorClassifier(f"local-dir:{judges[1]}", device="cpu")
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8))
    mask = np.zeros((40, 48), bool)
    mask[5:20, 10:30] = True
    det = Detection("bench", 0.9, (10.0, 5.0, 30.0, 20.0), mask)
    got = clf.classify(image, [det], "bench")
    # independent computation of the same rule
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{judges[1]}")
    tok = open_clip.get_tokenizer(f"local-dir:{judges[1]}")
    crop = Image.composite(image, Image.new("RGB", image.size, "#999"), Image.fromarray(mask)).crop((10, 5, 30, 20))
    with torch.no_grad():
        img = model.encode_image(preprocess(crop)[None], normalize=True)
        cls = []
        for c in COLORS:
            t = model.encode_text(tok([f"a photo of a {c} bench", f"a photo of a {c}-colored bench",
                                       f"a photo of a {c} object"]), normalize=True).mean(0)
            cls.append(t / t.norm())
        expected = COLORS[int((img @ torch.stack(cls, 1)).argmax())]
    assert got == [expected]


def test_geneval_end_to_end_writes_official_results(judges, tmp_path):
    det, clip = judges
    suite = f"geneval:detector={det},clip=local-dir:{clip},device=cpu,batch=4"
    outcome = run("world:oracle", [suite], tmp_path, images_per_prompt=1, limit=2)
    result = outcome.results["geneval"]
    assert result.n == 12 and set(result.categories) == {
        "single_object", "two_object", "counting", "colors", "position", "color_attr"}
    rows = [json.loads(x) for x in (outcome.run_dir / "geneval" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 12
    assert set(rows[0]) == {"filename", "tag", "prompt", "correct", "reason", "metadata", "details"}
    assert json.loads(rows[0]["metadata"])["prompt"] == rows[0]["prompt"] == "a photo of a bench"
    # the favoured class is detected confidently, so "a photo of a bench" passes and a colour gets judged
    assert rows[0]["correct"] is True and "bench" in json.loads(rows[0]["details"])
    assert any("expected" in r["reason"] for r in rows if not r["correct"])
    assert summarize(rows)["overall"] == pytest.approx(result.overall)
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert f"mask2former:{det}" in manifest["run_spec"]["suites"][0]["judge_id"]
