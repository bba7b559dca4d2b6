"""The DSG suite over any VQA judge: yes/no propositions with dependencies."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from bench.judges.vqa import Question, VQAModel
from bench.stats import Estimate, SuiteResult, estimate
from bench.types import Judgment, Prompt, write_image_rows
from suites.dsg.rules import score_item


class DsgSuite:
    version = "1"

    def __init__(self, name: str, prompts: list[Prompt], vqa: VQAModel) -> None:
        self.name, self._prompts, self.vqa = name, prompts, vqa

    @property
    def judge_id(self) -> str:
        return self.vqa.judge_id

    def prompts(self) -> list[Prompt]:
        return list(self._prompts)

    def judge(self, batch: Sequence[tuple[Prompt, int, Image.Image]]) -> list[tuple[float, dict[str, Any]]]:
        props = [p.meta["propositions"] for p, _, _ in batch]
        answers = self.vqa.answer([im for _, _, im in batch], [[Question(r["question"]) for r in rs] for rs in props])
        out = []
        for rs, ans in zip(props, answers, strict=True):
            ids = [r["proposition_id"] for r in rs]
            with_dep, without, per = score_item(dict(zip(ids, ans, strict=True)),
                                                {r["proposition_id"]: r["dependency"] for r in rs})
            qs = [{"id": r["proposition_id"], "question": r["question"], "category": r["category_broad"],
                   "answer": a, "raw": per["raw"][r["proposition_id"]],
                   "score": per["with_dependency"][r["proposition_id"]]} for r, a in zip(rs, ans, strict=True)]
            out.append((with_dep, {"score_without_dependency": without, "questions": qs}))
        return out

    def aggregate(self, judgments: Sequence[Judgment]) -> SuiteResult:
        """Overall and per category: mean over items (prompts) of the item score."""
        per_item: dict[str, list[tuple[float, float]]] = {}
        category: dict[str, str] = {}
        by_question: dict[str, tuple[list[float], list[str]]] = {}
        for j in judgments:
            per_item.setdefault(j.prompt_id, []).append((j.score, j.record["score_without_dependency"]))
            category[j.prompt_id] = j.category
            for q in j.record["questions"]:
                vals, clusters = by_question.setdefault(q["category"], ([], []))
                vals.append(q["score"])
                clusters.append(j.prompt_id)
        ids = list(per_item)
        with_dep = [sum(s for s, _ in v) / len(v) for v in per_item.values()]
        without = [sum(s for _, s in v) / len(v) for v in per_item.values()]
        overall = estimate(with_dep, ids)
        cats: dict[str, Estimate] = {}
        extras: dict[str, float] = {"without_dependency": sum(without) / len(without)} if ids else {}
        for cat in dict.fromkeys(category[i] for i in ids):
            sel = [k for k, i in enumerate(ids) if category[i] == cat]
            cats[cat] = estimate([with_dep[k] for k in sel], [ids[k] for k in sel])
            extras[f"{cat}_without_dependency"] = sum(without[k] for k in sel) / len(sel)
        extras |= {f"question_{c}": sum(v) / len(v) for c, (v, _) in by_question.items() if c}
        return SuiteResult(overall.score, overall.ci, len(judgments), cats, extras,
                           shown={"without_dependency": "no deps"})

    def write_official(self, out_dir: Path, judgments: Sequence[Judgment], image_paths: dict[str, Path],
                       prompts: dict[str, Prompt]) -> list[Path]:
        """One JSON row per image: item id, seed, image, both item scores, each question's answer."""
        row = lambda j: {"category": j.category, "score": j.score, **j.record}  # noqa: E731
        return [write_image_rows(out_dir / "dsg_results.jsonl", judgments, image_paths, row, id_key="item_id")]
