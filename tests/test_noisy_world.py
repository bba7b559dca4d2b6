"""World candidates score what their error rates imply, through the normal runner."""

import numpy as np
import pytest

from bench.candidates import resolve_candidate
from bench.runner import run
from bench.types import Prompt
from bench.world.detect import foreground
from bench.world.noise import ErrorRates, expected_geneval

TARGETS = {
    "count": {"counting"},
    "color": {"colors", "color_attr"},
    "position": {"position"},
    "missing": {"single_object", "two_object", "counting", "colors", "position", "color_attr"},
    "pair_missing": {"two_object", "position", "color_attr"},
}


def test_oracle_is_perfect(tmp_path):
    result = run("world:oracle", ["geneval-world"], tmp_path).results["geneval-world"]
    assert result.overall >= 0.97
    assert result.n == 319 * 4
    assert result.extras["found_per_asked"] == pytest.approx(1.0, abs=0.005)  # no clutter, nothing missing


def test_missing_objects_lower_found_per_asked(tmp_path):
    result = run("world:noisy:missing=0.5", ["geneval-world"], tmp_path, images_per_prompt=4,
                 limit=10).results["geneval-world"]
    assert 0.55 < result.extras["found_per_asked"] < 0.95


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_each_error_kind_hits_exactly_its_tasks(tmp_path, kind):
    rate = 0.3
    # 21 prompts per category (all of counting) x 20 images: at least 400 samples where it matters
    outcome = run(f"world:noisy:{kind}={rate}", ["geneval-world"], tmp_path, images_per_prompt=20, limit=21)
    result = outcome.results["geneval-world"]
    expected = expected_geneval(ErrorRates(**{kind: rate}))
    for task, est in result.categories.items():
        if task in TARGETS[kind]:
            assert est.ci[0] <= expected[task] <= est.ci[1], (task, est)
            assert est.ci[1] < 1.0, (task, est)
        else:
            assert est.score == 1.0, (task, est)
    assert result.categories["counting"].n >= 400


def test_rates_combine_independently(tmp_path):
    rates = ErrorRates(count=0.2, color=0.1, missing=0.05, position=0.1)
    outcome = run(f"world:noisy:{rates}", ["geneval-world"], tmp_path, images_per_prompt=12)
    expected = expected_geneval(rates)
    for task, est in outcome.results["geneval-world"].categories.items():
        assert est.ci[0] <= expected[task] <= est.ci[1], (task, est, expected[task])


def test_object_scale_draws_larger_objects_that_still_score(tmp_path):
    """``object_scale`` (world:base's training renders) enlarges objects; the judges still accept them."""
    requests = [(Prompt(f"p{i}", "a photo of a red circle", "colors"), i) for i in range(16)]

    def object_share(spec: str) -> float:  # share of the canvas the detector finds as object
        images = resolve_candidate(spec).generate(requests)
        return float(np.mean([foreground(im).mean() for im in images]))

    assert object_share("world:oracle:object_scale=1.8") > 2.0 * object_share("world:oracle")
    result = run("world:noisy:count=0.5,object_scale=1.8", ["geneval-world"], tmp_path, images_per_prompt=4,
                 limit=20).results["geneval-world"]
    assert result.categories["single_object"].score == 1.0 and result.categories["colors"].score == 1.0
    assert result.categories["counting"].score < 0.8
    with pytest.raises(ValueError, match="object_scale"):
        resolve_candidate("world:oracle:object_scale=big")
