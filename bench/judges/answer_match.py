"""TIFA's mapping of free-form VQA answers onto multiple choices, with sentence-transformers.

An answer that is exactly one of its choices (raw string equality, as TIFA compares) is kept;
any other answer becomes the choice whose SBERT embedding (mean-pooled, L2-normalised) has
the largest dot product, i.e. cosine similarity, with the answer's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.device import resolve_device


class ChoiceMatcher:
    """Maps answers to choices; the SBERT model loads only when some answer is not a choice."""

    DEFAULT = "sentence-transformers/all-mpnet-base-v2"

    def __init__(self, model: str = DEFAULT, device: str = "cpu") -> None:
        self.model, self.device_name = model, device
        self._model: Any = None

    @property
    def judge_id(self) -> str:
        return f"sbert-match:{self.model}"

    def _load(self) -> None:
        from sentence_transformers import SentenceTransformer

        try:
            self._model = SentenceTransformer(self.model, device=resolve_device(self.device_name))
        except OSError as e:
            raise ValueError(f"cannot load sentence-transformers model {self.model!r}: {e}") from e

    def match(self, answers: Sequence[str], choices: Sequence[Sequence[str]]) -> list[str]:
        """One choice per answer: ``out[i]`` is in ``choices[i]``.

        All texts that need an embedding (deduplicated) go through one ``encode`` call.
        """
        if len(answers) != len(choices):
            raise ValueError(f"{len(answers)} answers but {len(choices)} choice lists")
        for i, cs in enumerate(choices):
            if not cs:
                raise ValueError(f"answer {i} ({answers[i]!r}) has no choices to map onto")
        out: list[str | None] = [a if a in cs else None for a, cs in zip(answers, choices, strict=True)]
        todo = [i for i, o in enumerate(out) if o is None]
        if todo:
            texts = list(dict.fromkeys(t for i in todo for t in (answers[i], *choices[i])))
            if self._model is None:
                self._load()
            emb = self._model.encode(texts, normalize_embeddings=True, convert_to_tensor=True)
            row = {t: k for k, t in enumerate(texts)}
            for i in todo:
                scores = emb[[row[c] for c in choices[i]]] @ emb[row[answers[i]]]
                out[i] = choices[i][int(scores.argmax())]
        return [o for o in out if o is not None]
