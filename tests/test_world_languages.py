"""The world in French and in long prompts: translation, embedding, and the two suites through the runner."""

import re

import pytest

from bench.runner import run
from bench.world import grammar
from bench.world.languages import (
    LANGUAGES,
    WORLD_WORDS,
    parse_any,
    parse_french,
    parse_prompt,
    vocabulary,
    words,
    write_prompt,
)
from bench.world.long_prompts import CLIP_CONTEXT, DISTRACTORS, LEAD_INS, _clip_tokenizer, long_prompt, scene_of
from bench.world.noise import ErrorRates, expected_geneval
from bench.world.scene import RELATIONS, ObjectSpec, Relation, SceneSpec
from suites import resolve_suite
from suites.geneval.prompts import load_world

WORLD = load_world()
C, X = ObjectSpec, SceneSpec


def canonical(spec: SceneSpec) -> SceneSpec:
    """The spec as the parsers return it: a relation's subject first."""
    if not spec.relations:
        return spec
    r = spec.relations[0]
    return X((spec.objects[r.subject], spec.objects[r.target]), (Relation(0, r.relation, 1),))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_world_prompt_round_trips(lang):
    for p in WORLD:
        spec = grammar.spec_from_row(p.meta)
        text = write_prompt(spec, lang)
        assert parse_prompt(text) == canonical(spec), (p.id, text)
        assert parse_any(text) == canonical(spec)
        assert set(words(text)) <= set(vocabulary(lang)), text
    assert write_prompt(grammar.spec_from_row(WORLD[0].meta), "en") == WORLD[0].text


@pytest.mark.parametrize(
    ("spec", "french"),
    [
        (X((C("circle", "red"),)), "une photo d'un cercle rouge"),
        (X((C("cross", "green"),)), "une photo d'une croix verte"),  # feminine noun, feminine adjective
        (X((C("cross", "white", 2),)), "une photo de deux croix blanches"),  # invariable plural noun
        (X((C("ring", "blue", 3),)), "une photo de trois anneaux bleus"),
        (X((C("circle", "purple", 2),)), "une photo de deux cercles violets"),
        (X((C("cross", "purple"),)), "une photo d'une croix violette"),
        (X((C("square", "orange", 4),)), "une photo de quatre carrés orange"),  # orange is invariable
        (X((C("semicircle", None, 6),)), "une photo de six demi-cercles"),
        (X((C(None, "black", 5),)), "une photo de cinq formes noires"),  # a free shape: "forme", feminine
        (
            X((C("square"), C("triangle", "green")), (Relation(0, "left of", 1),)),
            "une photo d'un carré à gauche d'un triangle vert",
        ),
        (
            X((C("diamond", None, 2), C("cross")), (Relation(0, "above", 1),)),
            "une photo de deux losanges au-dessus d'une croix",
        ),
        (
            X((C("ring"), C("circle", None, 2)), (Relation(0, "below", 1),)),
            "une photo d'un anneau en dessous de deux cercles",
        ),
        (X((C("square", "yellow"), C("cross", "brown"))), "une photo d'un carré jaune et d'une croix marron"),
    ],
)
def test_french_phrases(spec, french):
    assert write_prompt(spec, "fr") == french
    assert parse_french(french) == spec
    assert parse_prompt(french.upper() + ".") == spec  # case and a final stop do not matter


def test_french_parse_is_lenient_and_english_still_parses():
    assert parse_prompt("Une photo d\u2019une croix vert") == X((C("cross", "green"),))
    assert parse_prompt("un cercle sous un carré") == X((C("circle"), C("square")), (Relation(0, "below", 1),))
    assert parse_prompt("a photo of two red circles") == X((C("circle", "red", 2),))
    assert parse_prompt("une photo d'un chat") is None and parse_any("a cat on a mat") is None


def test_unknown_language_is_named():
    with pytest.raises(ValueError, match="'de'.*en, fr"):
        write_prompt(X((C("circle"),)), "de")
    with pytest.raises(ValueError, match="'de'"):
        vocabulary("de")
    with pytest.raises(ValueError, match="'de'"):
        resolve_suite("multilingual-world:lang=de")


def test_vocabulary():
    fr = vocabulary("fr")
    assert {"croix", "verte", "violettes", "d'", "au-dessus", "zéro"} <= set(fr) and "d'un" not in fr
    assert set(vocabulary("en")) >= {"a", "photo", "of", "left", "semicircles", "purple"}


def _tokens(text):
    return _clip_tokenizer().encode(text)


def test_distractors_name_no_world_word():
    for sentence in DISTRACTORS + LEAD_INS:
        found = [w for w in re.findall(r"[^\W\d_]+|\d", sentence.lower()) if w in WORLD_WORDS or w.isdigit()]
        assert not found, (sentence, found)
        assert parse_any(sentence) is None


@pytest.mark.parametrize("lang", LANGUAGES)
def test_long_prompts_hide_the_scene_from_clip(lang):
    for i, p in enumerate(WORLD[::7]):
        spec = grammar.spec_from_row(p.meta)
        scene_text = write_prompt(spec, lang)
        text = long_prompt(scene_text, i)
        assert text == long_prompt(scene_text, i)  # deterministic
        tokens = _tokens(text)
        assert len(tokens) + 2 > CLIP_CONTEXT
        lead = next(lead for lead in LEAD_INS if lead in text)
        start = 1 + len(_tokens(text[: text.index(lead)]))  # the start token comes first
        assert start >= CLIP_CONTEXT, (start, text)
        assert tokens[start - 1 : start - 1 + len(_tokens(lead))] == _tokens(lead)  # the prefix tokenizes alone
        seen = _clip_tokenizer().decode(tokens[: CLIP_CONTEXT - 2])
        assert parse_any(seen) is None and lead.lower().split(":")[0] not in seen
        assert scene_of(text) == parse_any(text) == canonical(spec)


def test_long_prompts_vary_with_the_seed():
    texts = {long_prompt("a photo of a red circle", s) for s in range(20)}
    assert len(texts) == 20
    assert len({t.split(":")[0].split(". ")[-1] for t in texts}) > 1  # lead-ins vary too


def _same_prompts(suite):
    prompts = resolve_suite(suite).prompts()
    assert [(p.id, p.category, p.meta) for p in prompts] == [(p.id, p.category, p.meta) for p in WORLD]
    return prompts


def test_suites_keep_geneval_world_ids_and_metadata():
    fr, long0, long1 = (
        _same_prompts("multilingual-world"),
        _same_prompts("longprompt-world"),
        _same_prompts("longprompt-world:seed=1"),
    )
    assert fr[0].text.startswith("une photo d") and long0[0].text != long1[0].text
    assert [p.text for p in _same_prompts("multilingual-world:lang=en")] == [p.text for p in WORLD]
    with pytest.raises(ValueError, match="unknown option.*known: lang"):
        resolve_suite("multilingual-world:seed=1")
    with pytest.raises(ValueError, match="unknown option.*known: seed"):
        resolve_suite("longprompt-world:lang=fr")


@pytest.mark.parametrize("suite", ["multilingual-world", "longprompt-world"])
def test_oracle_is_perfect(tmp_path, suite):
    result = run("world:oracle", [suite], tmp_path, images_per_prompt=2).results[suite]
    assert result.overall == 1.0 and result.n == 319 * 2


@pytest.mark.parametrize("suite", ["multilingual-world", "longprompt-world"])
def test_noisy_counting(tmp_path, suite):
    rate = 0.2
    outcome = run(f"world:noisy:count={rate}", [suite], tmp_path, images_per_prompt=20, limit=21)
    result = outcome.results[suite]
    counting = result.categories["counting"]
    assert counting.n == 21 * 20
    assert counting.ci[0] <= expected_geneval(ErrorRates(count=rate))["counting"] <= counting.ci[1], counting
    assert abs(counting.score - (1 - rate)) < 0.06, counting
    assert all(est.score == 1.0 for task, est in result.categories.items() if task != "counting")


def test_relations_covered():
    assert {r for p in WORLD for r in [p.meta["include"][-1].get("position", [None])[0]]} - {None} == set(RELATIONS)
