"""A tiny StableDiffusionPipeline built from configs, saved, and loaded by path as a candidate."""

import numpy as np
import pytest

from bench.candidates import resolve_candidate
from bench.runner import run
from bench.types import Prompt
from tests.tiny_models import build_tiny_sd


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    return build_tiny_sd(tmp_path_factory.mktemp("tiny_sd") / "pipe")


def test_generates_seeded_batch_independent_images(tiny_sd):
    cand = resolve_candidate(f"diffusers:{tiny_sd}:steps=2,guidance=3.0,batch=3,height=64,width=64")
    assert (cand.steps, cand.guidance, cand.batch_size) == (2, 3.0, 3)
    p, q = Prompt("p", "a photo of a red circle", "x"), Prompt("q", "a photo of a square", "x")
    batch = cand.generate([(p, 0), (q, 0), (p, 1)])
    assert all(im.size == (64, 64) and im.mode == "RGB" for im in batch)
    alone = cand.generate([(p, 1)])[0]
    a, b = np.asarray(batch[2], float), np.asarray(alone, float)
    assert np.abs(a - b).max() <= 1  # the image depends on its seed, not on its batch
    assert np.abs(np.asarray(batch[0], float) - a).mean() > 1  # another seed, another image


def test_runs_through_the_harness(tiny_sd, tmp_path):
    outcome = run(f"diffusers:{tiny_sd}:steps=2,batch=4", ["geneval-world"], tmp_path, images_per_prompt=1, limit=1)
    assert outcome.results["geneval-world"].n == 6 and not outcome.failures
    assert outcome.counters.generated == 6


def test_new_weights_at_the_same_path_make_new_images(tmp_path):
    """The store keys a local pipeline's images by its weights too: retraining into the same
    folder and running into the same --out must not reuse the old model's images."""
    import json

    path = build_tiny_sd(tmp_path / "pipe", seed=0)
    spec = f"diffusers:{path}:steps=2,batch=6"
    first = run(spec, ["geneval-world"], tmp_path / "runs", images_per_prompt=1, limit=1)
    again = run(spec, ["geneval-world"], tmp_path / "runs", images_per_prompt=1, limit=1)
    assert (first.counters.generated, again.counters.generated, again.counters.reused_images) == (6, 0, 0)
    build_tiny_sd(path, seed=1)  # other weights, same folder
    third = run(spec, ["geneval-world"], tmp_path / "runs", images_per_prompt=1, limit=1)
    assert third.counters.generated == 6
    manifest = json.loads((third.run_dir / "manifest.json").read_text())
    assert manifest["run_spec"]["weights_id"] == resolve_candidate(spec).weights_id != ""

    from leaderboard.data import load_run, load_samples

    samples = load_samples(load_run(third.run_dir, third.run_dir.name), "geneval-world")
    assert len(samples) == 6 and all(s.prompt.startswith("a photo of") for s in samples)  # texts found


def test_bad_options_and_paths_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown option"):
        resolve_candidate(f"diffusers:{tmp_path}:stpes=3")
    cand = resolve_candidate(f"diffusers:{tmp_path}/missing")
    with pytest.raises(ValueError, match="cannot load diffusers pipeline"):
        cand.generate([(Prompt("p", "x", "x"), 0)])
