"""GenEval's rules on hand-built detections, each number worked out by hand."""

import json

import numpy as np
import pytest

from bench.judges.detection import Detection
from bench.types import Judgment, Prompt
from suites.geneval.rules import evaluate, keep_detections, relative_position, summarize
from suites.geneval.suite import GenEvalSuite, official_row


def D(label, score, box=(0, 0, 10, 10)):
    return Detection(label, score, tuple(float(v) for v in box), None)


def no_colors(found, cls):
    raise AssertionError("colour must not be asked")


def test_threshold_is_strictly_above_0_3():
    kept = keep_detections([D("cat", 0.3), D("dog", 0.31), D("dog", 0.29)], "single_object")
    assert list(kept) == ["dog"] and len(kept["dog"]) == 1


def test_counting_threshold_is_strictly_above_0_9_for_every_class():
    dets = [D("cat", 0.9), D("cat", 0.91), D("dog", 0.5)]
    kept = keep_detections(dets, "counting")
    assert [d.score for d in kept["cat"]] == [0.91] and "dog" not in kept
    assert len(keep_detections(dets, "two_object")["cat"]) == 2


def test_at_most_16_per_class_most_confident_first():
    dets = [D("cat", 0.31 + i / 100) for i in range(20)]
    kept = keep_detections(dets, "single_object")["cat"]
    assert len(kept) == 16
    assert [d.score for d in kept] == sorted((d.score for d in dets), reverse=True)[:16]


def test_include_needs_count_objects():
    row = {"tag": "counting", "include": [{"class": "cat", "count": 3}], "exclude": [{"class": "cat", "count": 4}]}
    ok, reason = evaluate(row, {"cat": [D("cat", 1.0)] * 2}, no_colors)
    assert not ok and reason == "expected cat>=3, found 2"
    assert evaluate(row, {"cat": [D("cat", 1.0)] * 3}, no_colors) == (True, "")


def test_exclude_fails_on_count_plus_one_detections():
    row = {"tag": "counting", "include": [{"class": "cat", "count": 2}], "exclude": [{"class": "cat", "count": 3}]}
    dets = [D("cat", 0.95), D("cat", 0.95), D("cat", 0.92)]
    ok, reason = evaluate(row, keep_detections(dets, "counting"), no_colors)
    assert not ok and reason == "expected cat<3, found 3"
    dets[2] = D("cat", 0.85)  # below the counting threshold: not seen
    assert evaluate(row, keep_detections(dets, "counting"), no_colors) == (True, "")


def test_colour_counts_among_the_top_count_objects():
    row = {"tag": "colors", "include": [{"class": "cat", "count": 2, "color": "red"}]}
    asked = []

    def colors_of(found, cls):
        asked.append((len(found), cls))
        return ["red", "blue"][: len(found)]

    ok, reason = evaluate(row, {"cat": [D("cat", 0.9), D("cat", 0.8), D("cat", 0.7)]}, colors_of)
    assert asked == [(2, "cat")]  # only the two most confident are classified
    assert not ok and reason == "expected red cat>=2, found 1 red; and 1 red, 1 blue"
    ok, _ = evaluate({"include": [{"class": "cat", "count": 1, "color": "red"}]}, {"cat": [D("cat", 0.9)]}, colors_of)
    assert ok


def test_position_offsets_shrink_by_a_tenth_of_the_summed_sizes():
    # A centred at (5, 5), B at (17, 5), both 10 wide: |offset| 12 -> 12 - 0.1 * 20 = 10; dx = -10 / 12
    assert relative_position((0, 0, 10, 10), (12, 0, 22, 10)) == {"left of"}
    assert relative_position((12, 0, 22, 10), (0, 0, 10, 10)) == {"right of"}
    # |offset| 1 < margin 2 on x, 0 on y: no relation at all
    assert relative_position((0, 0, 10, 10), (1, 0, 11, 10)) == set()
    # y grows downward: a box higher up is "above"
    assert relative_position((0, 0, 10, 10), (0, 30, 10, 40)) == {"above"}
    assert relative_position((0, 30, 10, 40), (0, 0, 10, 10)) == {"below"}


def test_position_direction_cut_is_0_5():
    # 2x2 boxes (margin 0.4 per axis). Offset (-10, -17.32): dx = -(10 - 0.4) / 20 = -0.48 -> not "left of"
    a = (-1, -1, 1, 1)
    assert relative_position(a, (9, 16.32, 11, 18.32)) == {"above"}
    # Offset (-11, -17.32): dx = -(11 - 0.4) / 20.518 = -0.5166 -> "left of" too
    assert relative_position(a, (10, 16.32, 12, 18.32)) == {"left of", "above"}


POSITION_ROW = {"tag": "position", "include": [{"class": "dog", "count": 1},
                                                {"class": "cat", "count": 1, "position": ["left of", 0]}]}


def test_position_passes_and_fails_by_the_formula():
    left = {"dog": [D("dog", 0.9, (20, 0, 30, 10))], "cat": [D("cat", 0.9, (0, 0, 10, 10))]}
    assert evaluate(POSITION_ROW, left, no_colors) == (True, "")
    right = {"dog": [D("dog", 0.9, (0, 0, 10, 10))], "cat": [D("cat", 0.9, (20, 0, 30, 10))]}
    ok, reason = evaluate(POSITION_ROW, right, no_colors)
    assert not ok and reason == "expected cat left of target, found right of target"


def test_position_without_target_fails_with_no_target():
    ok, reason = evaluate(POSITION_ROW, {"cat": [D("cat", 0.9)]}, no_colors)
    assert not ok
    assert reason.split("\n") == ["expected dog>=1, found 0", "no target for cat to be left of"]


def test_position_checks_every_pair_with_the_target_group():
    row = {"include": [{"class": "dog", "count": 2}, {"class": "cat", "count": 1, "position": ["left of", 0]}]}
    cat = D("cat", 0.9, (20, 0, 30, 10))
    one_left_one_right = {"dog": [D("dog", 0.9, (40, 0, 50, 10)), D("dog", 0.8, (0, 0, 10, 10))], "cat": [cat]}
    assert not evaluate(row, one_left_one_right, no_colors)[0]
    both_right = {"dog": [D("dog", 0.9, (40, 0, 50, 10)), D("dog", 0.8, (60, 0, 70, 10))], "cat": [cat]}
    assert evaluate(row, both_right, no_colors)[0]


def test_position_is_skipped_when_colour_already_failed():
    row = {"include": [{"class": "dog", "count": 1},
                       {"class": "cat", "count": 1, "color": "red", "position": ["left of", 0]}]}
    dets = {"dog": [D("dog", 0.9, (0, 0, 10, 10))], "cat": [D("cat", 0.9, (20, 0, 30, 10))]}
    ok, reason = evaluate(row, dets, lambda found, cls: ["blue"])
    assert not ok and "left of" not in reason


def test_summary_is_the_unweighted_mean_of_task_means():
    rows = []
    for tag, correct in [("single_object", [1, 1, 1, 0]), ("counting", [1, 0]), ("position", [0, 0, 0, 1, 1, 1])]:
        for i, c in enumerate(correct):
            rows.append({"tag": tag, "correct": bool(c), "metadata": json.dumps({"tag": tag, "p": i // 2})})
    s = summarize(rows)
    assert s["single_object"] == 0.75 and s["counting"] == 0.5 and s["position"] == 0.5
    assert s["overall"] == pytest.approx((0.75 + 0.5 + 0.5) / 3)
    assert s["correct_images"] == pytest.approx(7 / 12)
    # a prompt (grouped by metadata) counts if any image is correct: single 2/2, counting 1/1, position 2/3
    assert s["correct_prompts"] == pytest.approx(5 / 6)


def test_suite_aggregate_equals_the_official_summary():
    rng = np.random.default_rng(3)
    prompts, judgments = {}, []
    for k, tag in enumerate(["single_object", "two_object", "counting", "colors", "position", "color_attr"]):
        for p in range(5 + k):
            pid = f"{k}{p:03d}"
            prompts[pid] = Prompt(pid, f"prompt {pid}", tag, {"tag": tag, "prompt": f"prompt {pid}", "include": []})
            for seed in range(4):
                ok = bool(rng.random() < 0.3 + 0.1 * k)
                judgments.append(Judgment(pid, seed, f"h{pid}{seed}", tag, float(ok),
                                          {"correct": ok, "reason": "", "details": {}}))
    suite = GenEvalSuite("geneval-world", list(prompts.values()), None, None)
    ours = suite.aggregate(judgments)
    official = summarize([official_row(j, prompts[j.prompt_id], None) for j in judgments])
    assert ours.overall == pytest.approx(official["overall"])
    for tag, est in ours.categories.items():
        assert est.score == pytest.approx(official[tag])
    assert ours.extras["correct_prompts"] == pytest.approx(official["correct_prompts"])
    assert ours.ci[0] <= ours.overall <= ours.ci[1]
