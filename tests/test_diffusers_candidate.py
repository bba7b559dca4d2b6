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


def test_bad_options_and_paths_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown option"):
        resolve_candidate(f"diffusers:{tmp_path}:stpes=3")
    cand = resolve_candidate(f"diffusers:{tmp_path}/missing")
    with pytest.raises(ValueError, match="cannot load diffusers pipeline"):
        cand.generate([(Prompt("p", "x", "x"), 0)])
