"""Skill prompts: a writer proposes prompts, a ROUGE-L filter keeps the diverse ones.

Writers (all ``write(skill, n, seed) -> list[str]``, deterministic for a given seed):

* :class:`APIWriter` takes any ``complete(text) -> str`` (an API client, or :class:`FakeCompletion`,
  a local fake for tests) and runs the SELMA-style loop: show three examples sampled from the
  seeds and the prompts accepted so far, ask for ``per_request`` more as a numbered list, parse
  the numbered lines, keep those that follow the rules and pass the filter.
* :class:`LocalLMWriter` is the same loop over a local causal LM (``AutoModelForCausalLM``
  from a hub id or a folder), greedy or sampled with a per-request seed.
* :class:`WorldWriter` lets the world grammar stand in for the LM: ``random_task_spec`` of the
  skill's GenEval task, phrased by ``write_prompt``, through the same filter.

The filter rejects a candidate whose ROUGE-L F-measure against any prompt in its pool (the
seeds and the accepted prompts) is above the threshold (0.8 as in the reference; ``None``
turns it off). World-grammar prompts share most of their words ("a photo of two circles" and
"a photo of three circles" score 0.8), so world runs use a higher threshold.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from typing import Protocol

import numpy as np

from trainers.sampling import stable_seed
from trainers.selma.skills import Skill


class PromptWriter(Protocol):
    name: str

    def write(self, skill: Skill, n: int, seed: int) -> list[str]: ...


class RougeFilter:
    """Accepts a text unless its ROUGE-L F against a pooled text is above ``threshold``."""

    def __init__(self, threshold: float | None = 0.8, pool: Iterable[str] = ()) -> None:
        from rouge_score import rouge_scorer  # imports nltk (about 2 s): only when a filter is made

        self.threshold = threshold
        self.pool = list(pool)
        self._scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)

    def max_score(self, text: str) -> float:
        return max((self._scorer.score(p, text)["rougeL"].fmeasure for p in self.pool), default=0.0)

    def accept(self, text: str) -> bool:
        """True (and ``text`` joins the pool) when no pooled text is too close to it."""
        if self.threshold is not None and self.max_score(text) > self.threshold + 1e-9:  # 4/5 may be 0.80...02
            return False
        self.pool.append(text)
        return True


_NUMBERED = re.compile(r"^\s*(\d{1,3})\s*[.):]\s*(.*?)\s*$")


def parse_numbered(reply: str) -> list[str]:
    """The items of the numbered lines of ``reply`` ("3. text", "3) text"); other lines are dropped."""
    items = []
    for line in reply.splitlines():
        m = _NUMBERED.match(line)
        if m:
            text = m.group(2).strip().strip("*_`\"'“”").strip()
            if text:
                items.append(" ".join(text.split()))
    return items


def follows_rules(text: str, skill: Skill) -> bool:
    """3 to ``skill.max_words`` words, mostly words with letters, printable, and not a heading."""
    words = text.split()
    if not 3 <= len(words) <= skill.max_words or text.endswith(":") or not text.isprintable() or "\ufffd" in text:
        return False
    return sum(bool(re.search(r"[A-Za-z]{2}", w)) for w in words) >= 0.7 * len(words)


def request_text(skill: Skill, examples: list[str], k: int, primed: bool = False) -> str:
    """The request to the writer: the skill, its rules, the examples, the wanted format."""
    rules = [*skill.rules, "Describe things a camera or an illustrator could show; vary subjects, wording and style.",
             f"Keep each description under {skill.max_words} words.", "Do not copy or lightly reword an example."]
    lines = ["You write image descriptions that a text-to-image model will be trained on.",
             f"Skill to practise: {skill.description}.", "Rules:", *[f"- {r}" for r in rules], "Examples:",
             *[f"{i}. {e}" for i, e in enumerate(examples, start=1)],
             f"Write {k} new descriptions as a numbered list, one per line, with nothing else.",
             "New descriptions:"]
    return "\n".join(lines) + ("\n1." if primed else "\n")


class APIWriter:
    """The SELMA prompt loop around any ``complete(text) -> str``."""

    name = "api"
    primed = False  # True: the request ends with "1." and the reply continues that first item

    def __init__(self, complete: Callable[[str], str], threshold: float | None = 0.8, per_request: int = 20,
                 n_examples: int = 3, max_requests: int | None = None) -> None:
        self.complete, self.threshold = complete, threshold
        self.per_request, self.n_examples, self.max_requests = per_request, n_examples, max_requests
        self.stats: dict[str, int] = {}

    def _ask(self, text: str, seed: int) -> str:
        return self.complete(text)

    def write(self, skill: Skill, n: int, seed: int) -> list[str]:
        rng = np.random.default_rng(seed)
        filt = RougeFilter(self.threshold, skill.seeds)
        accepted: list[str] = []
        stats = dict(requests=0, candidates=0, accepted=0, rejected_rules=0, rejected_rouge=0)
        max_requests = self.max_requests or 10 * (-(-n // self.per_request)) + 5
        while len(accepted) < n and stats["requests"] < max_requests:
            pool = [*skill.seeds, *accepted]
            pick = rng.choice(len(pool), min(self.n_examples, len(pool)), replace=False)
            text = request_text(skill, [pool[i] for i in pick], self.per_request, self.primed)
            reply = self._ask(text, stable_seed(seed, skill.name, stats["requests"]))
            stats["requests"] += 1
            for cand in parse_numbered(("1." + reply) if self.primed else reply):
                if len(accepted) >= n:
                    break
                stats["candidates"] += 1
                if not follows_rules(cand, skill):
                    stats["rejected_rules"] += 1
                elif not filt.accept(cand):
                    stats["rejected_rouge"] += 1
                else:
                    accepted.append(cand)
        stats["accepted"] = len(accepted)
        self.stats = stats
        return accepted


class FakeCompletion:
    """A local stand-in for an API model: rewords the request's examples by seeded word swaps and
    wraps them in the chatter real models add (a preamble, a verbatim copy, a sign-off)."""

    WORDS = ("red", "blue", "small", "large", "wooden", "old", "two", "three", "dog", "cup", "tree", "car", "chair",
             "window", "bright", "under", "beside", "garden", "kitchen", "river")

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.requests: list[str] = []

    def __call__(self, text: str) -> str:
        self.requests.append(text)
        body = text.split("Examples:\n", 1)[1].split("\nWrite ", 1)[0]
        examples = parse_numbered(body)
        k = int(re.search(r"Write (\d+) new", text).group(1))
        rng = np.random.default_rng(stable_seed("fake-api", self.seed, text))
        lines = ["Sure! Here are some new descriptions:", ""]
        for i in range(1, k + 1):
            words = examples[int(rng.integers(len(examples)))].split()
            for _ in range(3):
                words[int(rng.integers(len(words)))] = self.WORDS[int(rng.integers(len(self.WORDS)))]
            lines.append(f"{i}. {' '.join(words)}")
        lines[3:3] = [f"{k + 1}) {examples[0]}", f"{k + 2}. ok"]  # a copy and a too-short line: both rejected
        return "\n".join([*lines, "", "I hope these help!"])


class LocalLMWriter(APIWriter):
    """The prompt loop over a local causal LM (hub id or folder), sampled per request with a seed."""

    name = "lm"

    def __init__(self, model: str, temperature: float = 1.0, top_p: float = 1.0, max_new_tokens: int = 400,
                 device: str = "cpu", **kwargs: object) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.model = AutoModelForCausalLM.from_pretrained(model).to(device).eval()
        self.temperature, self.top_p, self.max_new_tokens = temperature, top_p, max_new_tokens
        self.chat = bool(getattr(self.tokenizer, "chat_template", None))
        self.primed = not self.chat  # a plain LM continues the list after "1."
        super().__init__(self.generate, **kwargs)

    def generate(self, text: str, seed: int = 0) -> str:
        """The model's continuation of ``text`` (the ``complete`` of this writer)."""
        return self._ask(text, seed)

    def _ask(self, text: str, seed: int) -> str:
        import torch

        tok = self.tokenizer
        if self.chat:
            text = tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                           add_generation_prompt=True)
        ids = tok(text, return_tensors="pt", add_special_tokens=not self.chat).input_ids
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if limit:
            ids = ids[:, -max(1, limit - self.max_new_tokens):]  # keep the end: the examples and the format
        ids = ids.to(self.model.device)
        kw: dict = dict(max_new_tokens=self.max_new_tokens, do_sample=self.temperature > 0,
                        pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        if self.temperature > 0:
            kw |= dict(temperature=self.temperature, top_p=self.top_p)
        devices = [self.model.device.index or 0] if self.model.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.inference_mode():
            torch.manual_seed(seed)
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), **kw)
        return tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


class WorldWriter:
    """The world grammar in the LM's place: random scenes of the skill's GenEval task, as text."""

    name = "world"

    def __init__(self, threshold: float | None = 0.8, tries_per_prompt: int = 50) -> None:
        self.threshold, self.tries_per_prompt = threshold, tries_per_prompt
        self.stats: dict[str, int] = {}

    def write(self, skill: Skill, n: int, seed: int) -> list[str]:
        from bench.world.grammar import write_prompt
        from suites.geneval.prompts import random_task_spec

        if skill.task is None:
            raise ValueError(f"skill {skill.name!r} has no world task; the world writer covers counting, colors, "
                             "position and color_attr")
        rng = np.random.default_rng(seed)
        filt = RougeFilter(self.threshold)
        accepted: list[str] = []
        tries = 0
        while len(accepted) < n and tries < n * self.tries_per_prompt:
            tries += 1
            text = write_prompt(random_task_spec(skill.task, rng))
            if filt.accept(text):
                accepted.append(text)
        self.stats = dict(candidates=tries, accepted=len(accepted), rejected_rouge=tries - len(accepted))
        return accepted


def make_writer(spec: str, threshold: float | None = 0.8, **lm_options: object) -> PromptWriter:
    """``world``, ``fake`` (the local fake API), ``lm:<hub id or folder>`` or ``api:<module>:<callable>``
    (a ``complete(text) -> str``, or a class whose no-argument instance is one)."""
    if spec == "world":
        return WorldWriter(threshold)
    if spec == "fake":
        return APIWriter(FakeCompletion(), threshold)
    kind, _, rest = spec.partition(":")
    if kind == "lm" and rest:
        return LocalLMWriter(rest, threshold=threshold, **lm_options)
    if kind == "api" and ":" in rest:
        module, attr = rest.rsplit(":", 1)
        obj = getattr(importlib.import_module(module), attr)
        return APIWriter(obj() if isinstance(obj, type) else obj, threshold)
    raise ValueError(f"unknown prompt writer {spec!r}; use world, fake, lm:<model> or api:<module>:<callable>")
