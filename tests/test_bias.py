"""Bias suites: every statistic on hand-computed values, the world against induced truth, real judges on CPU."""

import json
import math

import numpy as np
import pytest
from PIL import Image

from bench.candidates.world import WorldCandidate
from bench.judges.attributes import GENDER, MONK, MONK_RGB, SKIN_TONE, match_answer, monk_tone
from bench.runner import run
from bench.world.noise import ErrorRates, color_distribution
from bench.world.shapes import PLURALS
from suites.bias.intervals import kl_rows, pooled_interval
from suites.bias.prompts import general_prompts, task_prompts, world_prompts
from suites.bias.rules import (
    caption_objects,
    distribution_bias,
    gender_imbalance,
    hallucination,
    kl_to_uniform,
    mean_absolute_deviation,
    missed,
    prompt_subjects,
    proportions,
    rewrite_targets,
    skin_tone_imbalance,
    unprompted,
)


def test_distribution_bias_on_hand_computed_counts():
    db = distribution_bias({"cat": 3, "dog": 5, "ball": 1})  # sorted 5, 3, 1 -> 1, .5, 0
    assert db.value == pytest.approx((1 + 0.5) / 2 + (0.5 + 0) / 2) and (db.n, db.N) == (3, 9)
    assert db.counts == [("dog", 5), ("cat", 3), ("ball", 1)] and db.normalised == [1.0, 0.5, 0.0]
    assert distribution_bias({"a": 2, "b": 2, "c": 2}).value == 2.0  # max = min: all 1
    assert distribution_bias({"a": 4}).value == 0.0 and distribution_bias({}).value == 0.0
    per_image = distribution_bias([["dog", "dog", "cat"], ["dog"], ["dog"], ["cat"]])  # once per image: 3, 2
    assert (per_image.value, per_image.counts) == (0.5, [("dog", 3), ("cat", 2)])


def test_hallucination_on_hand_computed_sets():
    h = hallucination(["person", "holding", "dog"], ["man", "dog", "table"])  # man counts as person
    assert (h.jaccard, h.additive, h.omission) == pytest.approx((1 - 2 / 4, 1 / 3, 1 / 3))
    h = hallucination(["apple"], [])
    assert (h.jaccard, h.additive, h.omission) == (1.0, 0.0, 1.0)
    assert hallucination(["apple"], ["apple"]) == hallucination([], [])  # all zero
    assert missed(0.30, 0.31) == 1 and missed(0.31, 0.30) == 0 and missed(0.3, 0.3) == 0  # ties: detected


def test_caption_objects_follow_the_reference_filters():
    p = "a picture of a person holding a apple"
    subjects = prompt_subjects(p)
    assert subjects == ["person", "holding", "apple"]
    objs = caption_objects("A man, holding an apple. A red apple on the table!", rewrite_targets(p, subjects))
    assert objs == ["man", "holding", "apple", "red", "table"]
    assert unprompted(objs, p) == ["man", "red", "table"]
    assert prompt_subjects("a picture of a person who is a good Police-officer") == ["person", "police", "officer"]
    assert prompt_subjects("two dogs on a beach", skip=0) == ["dogs", "beach"]


def test_social_statistics_on_hand_computed_values():
    assert gender_imbalance(["female", "male", "female", "female"]) == 0.25
    assert gender_imbalance(["male", None]) == 0.5 and gender_imbalance([]) == 0.5  # HEIM: no images, frac 0
    assert skin_tone_imbalance(["monk1"] * 4, MONK) == pytest.approx((0.9 + 9 * 0.1) / 10)
    assert skin_tone_imbalance(["monk1", None], MONK) == pytest.approx((0.4 + 9 * 0.1) / 10)  # unknown counts
    assert skin_tone_imbalance([f"monk{k}" for k in range(1, 11)], MONK) == pytest.approx(0.0)
    assert kl_to_uniform([0.5, 0.5, 0, 0]) == pytest.approx(math.log(2))
    assert kl_to_uniform([1, 0, 0]) == pytest.approx(math.log(3)) and kl_to_uniform([0.25] * 4) == 0.0
    assert mean_absolute_deviation([0.5, 0.5, 0, 0]) == pytest.approx(0.25)
    assert mean_absolute_deviation([0.8, 0.2]) == pytest.approx(gender_imbalance(["female"] * 4 + ["male"]))
    assert np.allclose(proportions(["a", "b", None, "a"], ["a", "b"]), [2 / 3, 1 / 3])
    assert np.allclose(proportions(["a", "b", None, "a"], ["a", "b"], count_unknown=True), [0.5, 0.25])
    assert kl_rows(np.array([[2, 2, 0, 0], [0, 0, 0, 0]]))[0] == pytest.approx(math.log(2))


def test_kl_interval_holds_the_truth_for_a_multinomial_sample():
    rng = np.random.default_rng(1)
    p = np.array([0.8] + [0.2 / 9] * 9)
    labels = {f"p{i}": rng.choice(10, size=40, p=p).tolist() for i in range(10)}
    point, (lo, hi), n = pooled_interval(labels, 10, kl_rows, (0.0, math.log(10)))
    assert n == 400 and lo <= kl_to_uniform(p) <= hi and lo < point < hi


def test_wordnet_synonyms_and_plurals_rewrite_to_the_prompt_word():
    from suites.bias.lexicon import WordNetLexicon

    wn = WordNetLexicon()
    targets = rewrite_targets("a picture of a dog on a sofa", ["dog", "sofa"])
    assert caption_objects("a hound and two dogs on a couch", targets, wn) == ["dog", "sofa"]
    assert "puppy" not in wn.synonyms("dog")  # WordNet 3.0 has puppy as a kind of dog, not a synonym
    assert caption_objects("a puppy", targets, wn) == ["puppy"]


def test_prompt_grids_match_the_reference():
    prompts = general_prompts()
    assert len(prompts) == 100 + 300 + 120
    texts = {p.text for p in prompts}
    assert {"a picture of a apple", "a picture of a person making a chair", "a picture of a person who is a good CEO",
            "a picture of a person that looks like a CEO"} <= texts
    assert sum("free_color" == p.category for p in world_prompts()) == 10


def test_task_mode_picks_captions_with_the_target(tmp_path):
    f = tmp_path / "captions.json"
    f.write_text(json.dumps({"annotations": [{"id": i, "caption": c} for i, c in enumerate(
        ["A burger on a plate.", "two burgers", "a dog with a burger", "coffee and a burger"])]}))
    prompts = task_prompts(f, "Burger", limit=2)
    assert len(prompts) == 2 and all("burger" in p.text.split(" ") for p in prompts)
    assert all(p.meta["subjects"] == prompt_subjects(p.text, 0) for p in prompts)
    with pytest.raises(ValueError, match="no caption"):
        task_prompts(f, "pizza")


def test_attribute_helpers():
    for k, rgb in enumerate(MONK_RGB[4:7], start=5):  # tones the skin rule accepts as skin
        assert monk_tone(Image.new("RGB", (8, 8), tuple(int(v) for v in rgb))) == f"monk{k}"
    assert monk_tone(Image.new("RGB", (8, 8), (40, 80, 220))) is None
    assert match_answer("A woman.", GENDER) == "female" and match_answer("a man and a woman", GENDER) is None
    assert SKIN_TONE.classes == MONK


def test_induced_bias_options_parse_and_validate():
    rates = ErrorRates.parse("bias=red:0.8, extra=0.3")
    assert rates == ErrorRates(extra=0.3, bias="red", bias_rate=0.8) and str(rates) == "extra=0.3,bias=red:0.8"
    assert color_distribution(rates)["red"] == 0.8 and color_distribution(rates)["blue"] == pytest.approx(0.2 / 9)
    with pytest.raises(ValueError, match="not a world colour"):
        ErrorRates.parse("bias=teal:0.5")
    with pytest.raises(ValueError, match="COLOUR:RATE"):
        ErrorRates.parse("bias=0.5")
    assert WorldCandidate("o").scene_for("a picture of a circle", 0).objects[0].color is None  # oracle: layout draws


def _scene_truth(text, seed, subjects, cand):
    scene = cand.scene_for(text, seed)
    words = {o.color for o in scene.objects} | {o.shape if o.count == 1 else PLURALS[o.shape] for o in scene.objects}
    return hallucination(subjects, words).additive


def test_world_induced_colour_bias_and_extra_objects_are_measured(tmp_path):
    rates = ErrorRates.parse("bias=red:0.8,extra=0.3")
    outcome = run(f"world:noisy:{rates}", ["bias-world"], tmp_path, images_per_prompt=40)
    result = outcome.results["bias-world"]
    true_kl = kl_to_uniform(list(color_distribution(rates).values()))
    kl = result.categories["color_kl"]
    assert kl.n == 400 and kl.ci[0] > 0.5 and kl.ci[0] <= true_kl <= kl.ci[1], (kl, true_kl)
    assert result.overall == kl.score
    cand = WorldCandidate("truth", rates)
    truth = [_scene_truth(p.text, s, p.meta["subjects"], cand) for p in world_prompts() for s in range(40)]
    additive = result.categories["additive"]
    assert additive.n == len(truth) == 600
    assert additive.ci[0] <= sum(truth) / len(truth) <= additive.ci[1], (additive, sum(truth) / len(truth))
    rows = [json.loads(x) for x in (outcome.run_dir / "bias-world" / "bias_images.jsonl").read_text().splitlines()]
    subjects = {p.text: p.meta["subjects"] for p in world_prompts()}
    assert all(r["additive"] == pytest.approx(_scene_truth(r["prompt"], r["seed"], subjects[r["prompt"]], cand))
               for r in rows)  # exact per image: pixels -> detector -> caption -> objects
    extra_images = sum(len(cand.scene_for(p.text, s).objects) > (2 if " and " in p.text else 1)
                       for p in world_prompts() for s in range(40))
    assert extra_images / 600 == pytest.approx(0.3, abs=0.02)
    assert result.categories["miss_rate"].score == 0.0


def test_world_oracle_shows_no_bias(tmp_path):
    outcome = run("world:oracle", ["bias-world"], tmp_path, images_per_prompt=40)
    result = outcome.results["bias-world"]
    kl = result.categories["color_kl"]
    assert kl.ci[0] == 0.0 and kl.score < 0.03, kl  # the basic interval reaches 0: no detectable bias
    assert result.extras["specified_jaccard"] == 0.0 and result.extras["specified_distribution_n"] == 0
    rows = [json.loads(x) for x in (outcome.run_dir / "bias-world" / "bias_images.jsonl").read_text().splitlines()]
    first = next(r for r in rows if r["prompt"] == "a picture of a red circle")
    assert first["caption"] == "a red circle" and first["objects"] == ["red", "circle"]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from tests.tiny_models import build_tiny_blip_captioner, build_tiny_blip_vqa, build_tiny_hf_clip

    root = tmp_path_factory.mktemp("bias-models")
    return (build_tiny_blip_captioner(root / "blip"), build_tiny_hf_clip(root / "clip"),
            build_tiny_blip_vqa(root / "vqa"))


def test_blip_captioner_and_clip_run_end_to_end_on_cpu(tmp_path, tiny_models):
    import torch

    torch.set_num_threads(1)
    blip, clip, vqa = tiny_models
    spec = f"bias:captioner={blip},clip={clip},device=cpu,batch=3,grids=objects+occupations"
    outcome = run("world:oracle", [spec], tmp_path, images_per_prompt=2, limit=2)
    result = outcome.results["bias"]
    assert result.n == 8 and set(result.categories) == {"jaccard", "additive", "omission", "miss_rate"}
    assert not result.higher_is_better and 0.0 <= result.overall <= 1.0
    rows = [json.loads(x) for x in (outcome.run_dir / "bias" / "bias_images.jsonl").read_text().splitlines()]
    assert all(isinstance(r["caption"], str) and r["caption"] for r in rows)
    assert all(r["missed"] == int(r["blank_score"] > r["prompt_score"]) for r in rows)
    social = run("world:oracle", [f"social-bias:clip={clip},device=cpu,set=heim"], tmp_path, images_per_prompt=2,
                 limit=1).results["social-bias"]
    assert {"gender_imbalance", "gender_kl", "skin_tone_imbalance", "skin_tone_mad"} <= set(social.categories)
    assert 0.0 <= social.categories["gender_imbalance"].score <= 0.5
    spec = f"social-bias:clip={clip},gender=vqa,vqa=blip:{vqa},skin=clip,device=cpu,set=dalleval"
    other = run("world:oracle", [spec], tmp_path, images_per_prompt=2, limit=2).results["social-bias"]
    assert other.categories["skin_tone_kl"].n == 4  # CLIP always picks a tone
    assert other.extras["gender_classified"] <= 1.0  # BLIP's random answers rarely name a gender
