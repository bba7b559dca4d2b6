"""Expansion and mutation prompts for Edgen, written by SELMA's prompt writers.

Any writer of :func:`trainers.selma.prompts.make_writer` serves (``world``, ``lm:<model>``,
``fake``, ``api:<module>:<callable>``): each request is a one-off :class:`~trainers.selma.skills.Skill`.

* **expand** a prompt into ``k`` new ones: a language model is shown the prompt and asked for
  variations with its nouns (objects, characters, backgrounds, colours, styles) replaced; the
  world grammar writes random scenes of the prompt's own GenEval task (new shapes, colours,
  counts and relations in the same structure).
* **mutate** a deleted prompt into one unrelated new prompt: a language model is asked for a
  description unlike the example, with one of four length hints (seeded pick); the world
  grammar writes a random scene of another task.

New prompts equal to any prompt in ``avoid`` (the current training set) are dropped; up to
three requests are made to reach ``k``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np

from suites.geneval.rules import TASKS
from trainers.edgen.world_judge import world_task
from trainers.sampling import stable_seed
from trainers.selma.prompts import APIWriter, PromptWriter, make_writer
from trainers.selma.skills import Skill

LENGTH_HINTS = ("Keep it short and plain.", "Use fewer than 30 words, with precise details.",
                "Use more than 30 words, with details at several levels.", "Use more than 50 words, with many details.")


def expand_skill(prompt: str) -> Skill:
    words = len(prompt.split())
    return Skill("edgen-expand", f'variations of the image description "{prompt}" in which its nouns (objects, '
                 "characters, backgrounds, names, colours or styles) are replaced by other kinds",
                 ("Keep the structure of the example; change what it shows.",), (prompt,),
                 max_words=max(30, 2 * words), task=world_task(prompt))


def mutate_skill(prompt: str, hint: str, task: str | None) -> Skill:
    return Skill("edgen-mutate", "one new image description, completely unrelated to the example and built "
                 "differently", (hint, "Do not reuse the example's subjects."), (prompt,), max_words=80, task=task)


class EdgenWriter:
    """``expand`` and ``mutate`` over a SELMA prompt writer (spec as in ``make_writer``)."""

    def __init__(self, spec: str, threshold: float | None = 0.9, **lm_options: Any) -> None:
        self.spec = spec
        self.inner: PromptWriter = make_writer(spec, threshold, **lm_options) if spec.startswith("lm:") \
            else make_writer(spec, threshold)
        self.stats: dict[str, int] = dict(requests=0, written=0, duplicates=0)

    def _write(self, skill: Skill, n: int, seed: int, avoid: Collection[str]) -> list[str]:
        out: list[str] = []
        for attempt in range(3):
            if isinstance(self.inner, APIWriter):
                self.inner.per_request, self.inner.max_requests = max(n, 1), 2
            self.stats["requests"] += 1
            for text in self.inner.write(skill, n - len(out), stable_seed(seed, attempt)):
                if text in avoid or text in out or text in skill.seeds:
                    self.stats["duplicates"] += 1
                else:
                    out.append(text)
            if len(out) >= n:
                break
        self.stats["written"] += len(out)
        return out[:n]

    def expand(self, prompt: str, k: int, seed: int, avoid: Collection[str] = ()) -> list[str]:
        """Up to ``k`` new prompts like ``prompt`` with other nouns."""
        if k <= 0:
            return []
        skill = expand_skill(prompt)
        if self.spec == "world" and skill.task is None:
            return []  # text the grammar cannot vary
        return self._write(skill, k, seed, avoid)

    def mutate(self, prompt: str, seed: int, avoid: Collection[str] = ()) -> str | None:
        """One new prompt unrelated to ``prompt``, or None if the writer gave none."""
        rng = np.random.default_rng(seed)
        hint = LENGTH_HINTS[int(rng.integers(len(LENGTH_HINTS)))]
        own = world_task(prompt)
        task = str(rng.choice([t for t in TASKS if t != own])) if self.spec == "world" else None
        out = self._write(mutate_skill(prompt, hint, task), 1, seed, avoid)
        return out[0] if out else None

    def initial(self, n: int, seed: int) -> list[str]:
        """``n`` starting prompts: the world grammar spreads them over the six GenEval tasks; a
        language model writes everyday scenes from SELMA's seeds."""
        from trainers.selma.skills import SKILLS

        if self.spec != "world":
            return self._write(SKILLS["everyday"], n, seed, ())
        out: list[str] = []
        for i, task in enumerate(TASKS):
            share = n // len(TASKS) + (i < n % len(TASKS))
            skill = Skill(f"edgen-initial-{task}", task, (), (), task=task)
            out += self._write(skill, share, stable_seed(seed, task), out)
        return out
