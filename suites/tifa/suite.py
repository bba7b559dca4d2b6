"""The TIFA suite over any VQA judge: per-image answers, aggregation, TIFA's result file."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from bench.judges.vqa import Question, VQAModel
from bench.stats import Estimate, SuiteResult, estimate
from bench.types import Judgment, Prompt
from suites.tifa.rules import NearestChoice, map_answers, tifa_summary


class TifaSuite:
    version = "1"

    def __init__(self, name: str, prompts: list[Prompt], vqa: VQAModel,
                 matcher: Callable[[], NearestChoice] | None, matcher_id: str = "exact") -> None:
        """``matcher`` builds the nearest-choice function on first need (None: exact match only,
        an answer outside the choices scores 0)."""
        self.name, self._prompts, self.vqa = name, prompts, vqa
        self._make_matcher, self._nearest, self.matcher_id = matcher, None, matcher_id

    @property
    def judge_id(self) -> str:
        return f"{self.vqa.judge_id}+{self.matcher_id}"

    def prompts(self) -> list[Prompt]:
        return list(self._prompts)

    def _nearest_choice(self, answers: Sequence[str], choices: Sequence[Sequence[str]]) -> list[str]:
        if self._nearest is None:
            self._nearest = self._make_matcher()
        return self._nearest(answers, choices)

    def judge(self, batch: Sequence[tuple[Prompt, int, Image.Image]]) -> list[tuple[float, dict[str, Any]]]:
        rows = [p.meta["questions"] for p, _, _ in batch]
        questions = [[Question(r["question"], tuple(r["choices"])) for r in rs] for rs in rows]
        answers = self.vqa.answer([im for _, _, im in batch], questions)
        flat_rows = [r for rs in rows for r in rs]
        flat_answers = [a for ans in answers for a in ans]
        mapped = map_answers(flat_answers, [r["choices"] for r in flat_rows],
                             self._nearest_choice if self._make_matcher else None)
        out, i = [], 0
        for rs in rows:
            qs = []
            for r in rs:
                qs.append({"question": r["question"], "element_type": r["element_type"], "answer": r["answer"],
                           "free_form_vqa": flat_answers[i], "multiple_choice_vqa": mapped[i],
                           "score": int(mapped[i] == r["answer"])})
                i += 1
            out.append((sum(q["score"] for q in qs) / len(qs), {"questions": qs}))
        return out

    def aggregate(self, judgments: Sequence[Judgment]) -> SuiteResult:
        per_prompt: dict[str, list[float]] = {}
        by_type: dict[str, tuple[list[float], list[str]]] = {}
        for j in judgments:
            per_prompt.setdefault(j.prompt_id, []).append(j.score)
            for q in j.record.get("questions", []):
                vals, clusters = by_type.setdefault(q["element_type"], ([], []))
                vals.append(q["score"])
                clusters.append(j.prompt_id)
        ids = list(per_prompt)
        caption = estimate([sum(v) / len(v) for v in per_prompt.values()], ids)  # mean over captions
        cats: dict[str, Estimate] = {t: estimate(*by_type[t]) for t in sorted(by_type)}
        means = [sum(v) / len(v) for v in per_prompt.values()]
        extras = {"tifa_stdev": statistics.stdev(means)} if len(means) > 1 else {}
        return SuiteResult(caption.score, caption.ci, len(judgments), cats, extras)

    def write_official(self, out_dir: Path, judgments: Sequence[Judgment], image_paths: dict[str, Path],
                       prompts: dict[str, Prompt]) -> list[Path]:
        """TIFA's result file, one per seed (TIFA judges one image per caption)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        by_seed: dict[int, list[Judgment]] = {}
        for j in judgments:
            by_seed.setdefault(j.seed, []).append(j)
        paths = []
        for seed, js in sorted(by_seed.items()):
            details: dict[str, dict[str, dict[str, Any]]] = {}
            for j in js:
                gold = {r["question"]: r for r in prompts[j.prompt_id].meta["questions"]}
                details[j.prompt_id] = {
                    q["question"]: {**gold[q["question"]], "free_form_vqa": q["free_form_vqa"],
                                    "multiple_choice_vqa": q["multiple_choice_vqa"]}
                    for q in j.record["questions"]}
            path = out_dir / f"tifa_result_seed{seed}.json"
            path.write_text(json.dumps(tifa_summary(details), indent=2) + "\n")
            paths.append(path)
        return paths
