"""The world CLIP makes clipscore-world, pickscore-world and hps-world meaningful: drawing what
the prompt asks beats drawing wrong colours half the time, which beats pure noise."""

import pytest

from bench.runner import run

SUITES = ["clipscore-world", "pickscore-world", "hps-world"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return {c: run(c, SUITES, out, images_per_prompt=1).results
            for c in ("world:oracle", "world:noisy:color=0.5", "world:noise")}


@pytest.mark.parametrize("suite", SUITES)
def test_oracle_beats_wrong_colours_beats_noise(results, suite):
    oracle, wrong, noise = (results[c][suite] for c in ("world:oracle", "world:noisy:color=0.5", "world:noise"))
    assert oracle.ci[0] > wrong.ci[1], (oracle, wrong)
    assert wrong.ci[0] > noise.ci[1], (wrong, noise)
    assert oracle.higher_is_better and oracle.scale


def test_wrong_colours_cost_only_where_colours_are_asked(results):
    oracle, wrong = results["world:oracle"]["hps-world"], results["world:noisy:color=0.5"]["hps-world"]
    assert wrong.categories["counting"].score == pytest.approx(oracle.categories["counting"].score)
    assert wrong.categories["colors"].ci[1] < oracle.categories["colors"].ci[0]
