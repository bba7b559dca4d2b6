"""DSG: scoring on hand-made graphs, the official loader, and dsg-world against scene truth."""

import json
import warnings
from pathlib import Path

import pytest

from bench.candidates.world import WorldCandidate
from bench.runner import run
from bench.stats import SuiteResult
from bench.store import Store
from bench.world.grammar import spec_from_row
from bench.world.noise import ErrorRates
from bench.world.questions import dsg_propositions
from suites import resolve_suite
from suites.dsg import world_prompts
from suites.dsg.official import DSG_1K, MalformedDependencyWarning, category_of, load_dsg, parse_dependency
from suites.dsg.rules import apply_dependencies, score_item

# 1 entity; 2 attribute of 1; 3 relation of 1 and 4; 4 entity; 5 attribute of 2 (a grandchild)
PARENTS = {1: [], 2: [1], 3: [1, 4], 4: [], 5: [2]}


def test_yes_only_scores_and_dependencies_zero_children():
    answers = {1: "no", 2: "yes", 3: "yes", 4: "yes", 5: "yes"}
    with_dep, without, per = score_item(answers, PARENTS)
    assert per["raw"] == {1: 0.0, 2: 1.0, 3: 1.0, 4: 1.0, 5: 1.0}
    # 2 and 3 have the failed parent 1; 5's parent 2 was zeroed but its *raw* score is 1: no cascade
    assert per["with_dependency"] == {1: 0.0, 2: 0.0, 3: 0.0, 4: 1.0, 5: 1.0}
    assert without == pytest.approx(4 / 5)
    assert with_dep == pytest.approx(2 / 5)


def test_raw_score_needs_exactly_yes():
    _, without, _ = score_item({1: "Yes", 2: "yes ", 3: "yes", 4: "y", 5: "no"}, {})
    assert without == pytest.approx(1 / 5)


def test_a_failed_raw_parent_zeroes_even_a_yes_child_but_not_grandchildren():
    raw = {1: 1.0, 2: 0.0, 5: 1.0, 6: 1.0}
    assert apply_dependencies(raw, {5: [2], 6: [5]}) == {1: 1.0, 2: 0.0, 5: 0.0, 6: 1.0}


def test_parse_dependency():
    assert parse_dependency("0") == []
    assert parse_dependency("1,2") == [1, 2]
    assert parse_dependency("1, 3") == [1, 3]
    assert parse_dependency("5, right") is None


def test_malformed_dependency_row_drops_the_items_dependencies_with_a_warning(tmp_path):
    csv = tmp_path / "anns.csv"
    csv.write_text(
        "item_id,text,keywords,proposition_id,dependency,category_broad,category_detailed,tuple,"
        "question_natural_language\n"
        "vrd_1,a cat on a mat,cat,1,0,entity,whole,x,Is there a cat?\n"
        "vrd_1,a cat on a mat,mat,2,0,entity,whole,x,Is there a mat?\n"
        'vrd_1,a cat on a mat,x,3,"1,2",relation,spatial,x,Is the cat on the mat?\n'
        'posescript_9,a person,x,1,0,entity,whole,x,Is there a person?\n'
        'posescript_9,a person,x,2,"1, right",attribute,x,x,Is the arm raised to the right?\n'
    )
    with pytest.warns(MalformedDependencyWarning, match="posescript_9") as record:
        prompts = {p.id: p for p in load_dsg(csv)}
    assert len(record) == 1 and "vrd_1" not in str(record[0].message)
    assert [r["dependency"] for r in prompts["posescript_9"].meta["propositions"]] == [[], []]
    assert [r["dependency"] for r in prompts["vrd_1"].meta["propositions"]] == [[], [], [1, 2]]
    assert prompts["vrd_1"].category == "relation" and prompts["posescript_9"].category == "pose"


def test_bad_files_are_named(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_dsg(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,text\nx,y\n")
    with pytest.raises(ValueError, match=r"bad\.csv lacks column\(s\) proposition_id"):
        load_dsg(bad)


def test_official_dsg_1k_loads_with_its_eight_malformed_items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prompts = load_dsg(DSG_1K)
    named = sorted(str(w.message).split()[2].rstrip(":") for w in caught
                   if issubclass(w.category, MalformedDependencyWarning))
    assert named == sorted(["posescript_69", "posescript_41", "posescript_55", "stanford_paragraph_54",
                            "tifa160_67", "stanford_paragraph_55", "stanford_paragraph_72", "posescript_19"])
    assert len(prompts) == 1060
    assert sum(len(p.meta["propositions"]) for p in prompts) == 8182
    assert {p.category for p in prompts} == {"tifa", "paragraph", "count", "relation", "real_user", "pose",
                                             "defying", "text"}
    assert category_of("midjourney_3") == "real_user"


def _truth_answers(scene, present, drawn_colors, props):
    """What the world VQA must answer, from the scene a candidate actually drew. An absent
    subject's attribute or relation is accepted ("yes"), as the world VQA documents."""
    out = []
    for r in props:
        gi = next(i for i, o in enumerate(scene.objects) if o.shape in r["question"])
        kind = r["category_broad"]
        if kind in ("entity", "count"):
            out.append("yes" if present[gi] else "no")
        elif kind == "attribute":
            out.append("yes" if not present[gi] or drawn_colors[gi] == scene.objects[gi].color else "no")
        else:
            out.append("yes")
    return out


def test_dsg_world_zeroes_attributes_of_missing_objects_as_the_truth_says(tmp_path):
    rates = ErrorRates(missing=0.3)
    outcome = run(f"world:noisy:{rates}", ["dsg-world"], tmp_path, images_per_prompt=4)
    result = outcome.results["dsg-world"]
    cand = WorldCandidate("truth", rates)
    with_dep, without = [], []
    for p in world_prompts():
        scene, props = spec_from_row(p.meta["scene"]), p.meta["propositions"]
        for seed in range(4):
            drawn = cand.scene_for(p.text, seed).objects
            present = [o in drawn for o in scene.objects]
            answers = _truth_answers(scene, present, [o.color for o in scene.objects], props)
            w, wo, _ = score_item(dict(zip([r["proposition_id"] for r in props], answers, strict=True)),
                                  {r["proposition_id"]: r["dependency"] for r in props})
            with_dep.append(w)
            without.append(wo)
    truth_with, truth_without = sum(with_dep) / len(with_dep), sum(without) / len(without)
    assert result.n == 319 * 4
    assert result.ci[0] <= truth_with <= result.ci[1]
    assert result.overall == pytest.approx(truth_with, abs=0.01)
    assert result.extras["without_dependency"] == pytest.approx(truth_without, abs=0.01)
    assert truth_without - truth_with > 0.05  # missing objects' attributes were answered "yes"
    assert result.shown == {"without_dependency": "no deps"}  # a column of the run's table
    assert SuiteResult.from_json(result.to_json()).shown == result.shown

    # the evidence shows it: a missing object's colour question answered yes, zeroed by its entity
    store = Store(outcome.run_dir)
    judge_id = resolve_suite("dsg-world").judge_id
    zeroed = [q for j in store.judgments("dsg-world", "1", judge_id).values() for q in j.record["questions"]
              if q["category"] == "attribute" and q["raw"] == 1.0 and q["score"] == 0.0]
    store.close()
    assert len(zeroed) > 50
    # the reference-style per-image rows: one per image, keyed by DSG's item_id
    rows = [json.loads(line) for line in next(outcome.run_dir.rglob("dsg_results.jsonl")).read_text().splitlines()]
    assert len(rows) == 319 * 4 and {"item_id", "seed", "image", "score", "questions"} <= set(rows[0])
    assert Path(rows[0]["image"]).exists()


def test_dsg_world_propositions_have_entity_parents():
    from bench.world.scene import ObjectSpec, Relation, SceneSpec

    scene = SceneSpec((ObjectSpec("circle", "red", 2), ObjectSpec("square", "blue")), (Relation(0, "left of", 1),))
    rows = dsg_propositions(scene)
    assert [(r["question"], r["dependency"]) for r in rows] == [
        ("are there circles?", []), ("are there two circles?", [1]), ("are the circles red?", [1]),
        ("is there a square?", []), ("is the square blue?", [4]),
        ("are the circles left of the square?", [1, 4]),
    ]
