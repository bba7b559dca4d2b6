"""DSG's scoring (j-min/DSG), as pure functions.

A proposition scores 1.0 when the VQA answer is exactly ``yes``. With dependencies, it is
set to 0 when any parent's *raw* score is 0: parents are read from the raw scores, so a
zeroed question does not zero its own children (no cascade). An item scores the mean over
its answered propositions; the benchmark is the mean over items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def raw_score(answer: str) -> float:
    return 1.0 if answer == "yes" else 0.0


def apply_dependencies(raw: Mapping[int, float], parents: Mapping[int, Sequence[int]]) -> dict[int, float]:
    """Scores after zeroing every proposition with a parent whose raw score is 0.

    A parent id that was not answered (absent from ``raw``) does not zero its child.
    """
    return {pid: 0.0 if any(raw.get(p, 1.0) == 0.0 for p in parents.get(pid, ())) else s
            for pid, s in raw.items()}


def score_item(answers: Mapping[int, str], parents: Mapping[int, Sequence[int]]) -> tuple[float, float, dict]:
    """(score with dependencies, score without, per-proposition scores) for one item."""
    raw = {pid: raw_score(a) for pid, a in answers.items()}
    dep = apply_dependencies(raw, parents)
    n = len(raw)
    return sum(dep.values()) / n, sum(raw.values()) / n, {"raw": raw, "with_dependency": dep}
