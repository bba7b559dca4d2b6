"""The visual-question-answering judge protocol that TIFA- and DSG-style suites share.

A VQA model gets images and, per image, a list of questions (each with optional multiple
choices) and returns one free-form answer string per question. Suites map answers to
choices or to yes/no themselves, so one backend serves every question-based suite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from PIL import Image


@dataclass(frozen=True)
class Question:
    """One question about an image; ``choices`` are shown only to backends that take them."""

    text: str
    choices: tuple[str, ...] = ()


class VQAModel(Protocol):
    judge_id: str

    def answer(self, images: Sequence[Image.Image], questions: Sequence[Sequence[Question]]) -> list[list[str]]:
        """Free-form answers: ``out[i][j]`` answers ``questions[i][j]`` about ``images[i]``.

        Backends batch across images and questions (all (image, question) pairs are one stream).
        """
        ...


def flatten(images: Sequence[Image.Image], questions: Sequence[Sequence[Question]]
            ) -> tuple[list[Image.Image], list[Question], list[int]]:
    """All (image, question) pairs as two parallel lists, plus the question count per image."""
    if len(images) != len(questions):
        raise ValueError(f"{len(images)} images but {len(questions)} question lists")
    flat_images = [im for im, qs in zip(images, questions, strict=True) for _ in qs]
    flat_questions = [q for qs in questions for q in qs]
    return flat_images, flat_questions, [len(qs) for qs in questions]


def unflatten(answers: Sequence[str], counts: Sequence[int]) -> list[list[str]]:
    """Inverse of :func:`flatten` for the answers."""
    out, i = [], 0
    for n in counts:
        out.append(list(answers[i:i + n]))
        i += n
    return out
