"""TIFA (Hu et al. 2023): faithfulness as accuracy on generated questions answered by a VQA model.

``tifa``: TIFA v1.0 (4,081 prompts, 25,829 questions; the question file comes from
``questions=PATH`` or a one-time download), or ``set=sample`` (the official 2-prompt sample),
answered by a transformers VQA model; free-form answers map to choices by sentence embeddings.
``tifa-world``: TIFA-style questions written from each Shapes-world scene, answered by the
exact world VQA judge (``vqa_error=P`` simulates a weaker one).
"""

from __future__ import annotations

from bench.spec import reject_unknown, take
from bench.types import Prompt
from suites import register_suite
from suites.tifa.official import (
    SAMPLE_QUESTIONS,
    SAMPLE_TEXT_INPUTS,
    V1_TEXT_INPUTS,
    fetch_v1_questions,
    load_prompts,
    load_questions,
)
from suites.tifa.suite import TifaSuite

DEFAULT_VQA = "blip:Salesforce/blip-vqa-base"
DEFAULT_MATCHER = "sentence-transformers/all-mpnet-base-v2"
_OPTS = "set (v1.0|sample), prompts, questions, vqa, matcher (a sentence-transformers model or 'exact'), device, batch"


@register_suite("tifa", "TIFA v1.0 question answering; BLIP VQA + SBERT choice matching (options: " + _OPTS + ")")
def _tifa(opts: dict[str, str]) -> TifaSuite:
    where = "suite tifa"
    which = take(opts, "set", str, "v1.0", where)
    if which not in ("v1.0", "sample"):
        raise ValueError(f"option set={which!r} in {where}: use v1.0 or sample")
    text_inputs = take(opts, "prompts", str, V1_TEXT_INPUTS if which == "v1.0" else SAMPLE_TEXT_INPUTS, where)
    questions = take(opts, "questions", str, None, where)
    vqa_spec = take(opts, "vqa", str, DEFAULT_VQA, where)
    matcher = take(opts, "matcher", str, DEFAULT_MATCHER, where)
    device = take(opts, "device", str, "auto", where)
    batch = take(opts, "batch", int, 16, where)
    reject_unknown(opts, where, _OPTS)
    if questions is None:
        questions = SAMPLE_QUESTIONS if which == "sample" else fetch_v1_questions()
    prompts = load_prompts(text_inputs, load_questions(questions))

    from bench.judges.vqa_hf import make_vqa

    vqa = make_vqa(vqa_spec, device, batch)
    if matcher == "exact":
        return TifaSuite("tifa", prompts, vqa, None)

    def make_matcher():  # loaded only when an answer is not one of its choices
        from bench.judges.answer_match import ChoiceMatcher

        return ChoiceMatcher(matcher, "cpu" if device == "auto" else device).match

    return TifaSuite("tifa", prompts, vqa, make_matcher, f"sbert:{matcher}")


def world_prompts() -> list[Prompt]:
    """GenEval-world's scenes with TIFA-style questions written from each scene."""
    from bench.world.grammar import spec_from_row
    from bench.world.questions import tifa_questions
    from suites.geneval.prompts import load_world

    out = []
    for p in load_world():
        rows = [{"id": p.id, "caption": p.text, **r} for r in tifa_questions(spec_from_row(p.meta))]
        out.append(Prompt(p.id, p.text, p.category, {"questions": rows, "scene": p.meta}))
    return out


@register_suite("tifa-world", "TIFA-style questions on Shapes-world scenes (319 prompts), exact world VQA "
                "(options: vqa_error)")
def _tifa_world(opts: dict[str, str]) -> TifaSuite:
    from bench.world.vqa import WorldVQA

    error = take(opts, "vqa_error", float, 0.0, "suite tifa-world")
    reject_unknown(opts, "suite tifa-world", "vqa_error")
    return TifaSuite("tifa-world", world_prompts(), WorldVQA(error), None)
