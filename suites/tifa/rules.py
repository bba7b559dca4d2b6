"""TIFA's scoring (Yushi-Hu/tifa), as pure functions.

A free-form VQA answer that is exactly one of the question's choices is taken as is;
otherwise it maps to the nearest choice by sentence-embedding similarity. A question scores
1 when the mapped answer equals the gold answer. A caption's score is the mean over its
questions, ``tifa_average`` the mean over captions, ``accuracy_by_type`` the pooled
accuracy per element type, ``tifa_stdev`` the sample standard deviation of caption scores.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

# (answers, choice lists) -> the nearest choice for each answer
NearestChoice = Callable[[Sequence[str], Sequence[Sequence[str]]], list[str]]


def map_answers(answers: Sequence[str], choices: Sequence[Sequence[str]], nearest: NearestChoice | None
                ) -> list[str | None]:
    """Exact match first; the rest in one batched call to ``nearest`` (None: left unmatched)."""
    out: list[str | None] = [a if a in c else None for a, c in zip(answers, choices, strict=True)]
    todo = [i for i, m in enumerate(out) if m is None]
    if todo and nearest is not None:
        for i, m in zip(todo, nearest([answers[i] for i in todo], [choices[i] for i in todo]), strict=True):
            out[i] = m
    return out


def question_score(mapped: str | None, gold: str) -> int:
    return int(mapped == gold)


def tifa_summary(question_details: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """TIFA's result file from ``{caption id: {question: row}}``, each row holding the gold
    ``answer``, its ``element_type`` and the mapped ``multiple_choice_vqa``."""
    caption_scores: dict[str, float] = {}
    by_type: dict[str, list[int]] = {}
    details: dict[str, dict[str, dict[str, Any]]] = {}
    for cid, questions in question_details.items():
        scores = []
        details[cid] = {}
        for q, row in questions.items():
            s = question_score(row["multiple_choice_vqa"], row["answer"])
            details[cid][q] = {**row, "scores": s}
            scores.append(s)
            by_type.setdefault(row["element_type"], []).append(s)
        caption_scores[cid] = sum(scores) / len(scores)
    values = list(caption_scores.values())
    return {
        "tifa_average": sum(values) / len(values),
        "tifa_stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
        "accuracy_by_type": {t: sum(v) / len(v) for t, v in by_type.items()},
        "question_details": details,
        "caption_scores": caption_scores,
    }
