"""GenEval-world in other words: translated prompts and prompts longer than CLIP's window.

Both suites keep geneval-world's 319 prompts, ids, categories and GenEval metadata, and score
them with the same exact world judges; only the text a candidate sees changes. They test a
model that reads prompts through an LLM: ``multilingual-world`` asks in another language,
``longprompt-world`` buries the scene past the 77th CLIP token.
"""

from __future__ import annotations

from dataclasses import replace

from bench.spec import reject_unknown, take
from bench.types import Prompt
from bench.world.grammar import spec_from_row
from bench.world.languages import LANGUAGES, write_prompt
from bench.world.long_prompts import long_prompt
from bench.world.render import stable_seed
from suites import register_suite
from suites.geneval.prompts import load_world
from suites.geneval.suite import GenEvalSuite


def translated_prompts(lang: str) -> list[Prompt]:
    """geneval-world's prompts, written in ``lang``."""
    return [replace(p, text=write_prompt(spec_from_row(p.meta), lang)) for p in load_world()]


def long_prompts(seed: int) -> list[Prompt]:
    """geneval-world's prompts, each buried in distractor sentences (seeded per prompt)."""
    return [
        replace(p, text=long_prompt(p.text, stable_seed("longprompt-world", seed, i)))
        for i, p in enumerate(load_world())
    ]


def _world_suite(name: str, prompts: list[Prompt]) -> GenEvalSuite:
    from bench.world.detect import WorldColorClassifier, WorldDetector

    return GenEvalSuite(name, prompts, WorldDetector(), WorldColorClassifier())


@register_suite(
    "multilingual-world",
    f"geneval-world's 319 prompts translated, exact world judges (options: lang={'|'.join(LANGUAGES)}, default fr)",
)
def _multilingual_world(opts: dict[str, str]) -> GenEvalSuite:
    where = "suite multilingual-world"
    lang = take(opts, "lang", str, "fr", where)
    reject_unknown(opts, where, "lang")
    return _world_suite("multilingual-world", translated_prompts(lang))


@register_suite(
    "longprompt-world",
    "geneval-world's 319 prompts past CLIP's 77 tokens, exact world judges (options: seed, default 0)",
)
def _longprompt_world(opts: dict[str, str]) -> GenEvalSuite:
    where = "suite longprompt-world"
    seed = take(opts, "seed", int, 0, where)
    reject_unknown(opts, where, "seed")
    return _world_suite("longprompt-world", long_prompts(seed))
