"""DSG (Cho et al. 2024): Davidsonian scene graphs, yes/no propositions with dependencies.

``dsg``: DSG-1k (1,060 prompts, 8,182 questions) answered by a transformers VQA model.
``dsg-world``: DSG-style propositions written from each Shapes-world scene (entity ->
attribute, count; both entities -> relation), answered by the exact world VQA judge.
"""

from __future__ import annotations

from bench.spec import reject_unknown, take
from bench.types import Prompt
from suites import register_suite
from suites.dsg.official import DSG_1K, load_dsg
from suites.dsg.suite import DsgSuite

DEFAULT_VQA = "blip:Salesforce/blip-vqa-base"
_OPTS = "prompts (a dsg-1k-anns.csv), vqa, device, batch"


@register_suite("dsg", "DSG-1k yes/no propositions with dependencies; BLIP VQA (options: " + _OPTS + ")")
def _dsg(opts: dict[str, str]) -> DsgSuite:
    where = "suite dsg"
    path = take(opts, "prompts", str, DSG_1K, where)
    vqa_spec = take(opts, "vqa", str, DEFAULT_VQA, where)
    device = take(opts, "device", str, "auto", where)
    batch = take(opts, "batch", int, 16, where)
    reject_unknown(opts, where, _OPTS)
    prompts = load_dsg(path)

    from bench.judges.vqa_hf import make_vqa

    return DsgSuite("dsg", prompts, make_vqa(vqa_spec, device, batch))


def world_prompts() -> list[Prompt]:
    """GenEval-world's scenes with DSG-style propositions written from each scene."""
    from bench.world.grammar import spec_from_row
    from bench.world.questions import dsg_propositions
    from suites.geneval.prompts import load_world

    return [Prompt(p.id, p.text, p.category, {"propositions": dsg_propositions(spec_from_row(p.meta)),
                                              "scene": p.meta}) for p in load_world()]


@register_suite("dsg-world", "DSG-style propositions on Shapes-world scenes (319 prompts), exact world VQA "
                "(options: vqa_error)")
def _dsg_world(opts: dict[str, str]) -> DsgSuite:
    from bench.world.vqa import WorldVQA

    error = take(opts, "vqa_error", float, 0.0, "suite dsg-world")
    reject_unknown(opts, "suite dsg-world", "vqa_error")
    return DsgSuite("dsg-world", world_prompts(), WorldVQA(error))
