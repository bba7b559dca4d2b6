"""One suite class for every image-text scorer (HPS v2, PickScore, ImageReward, CLIPScore).

Each image is judged by ``scorer.score`` against its prompt and recorded as ``{"score": x}``.
The aggregate averages each prompt's images first, then the prompts (ImageReward's benchmark
rule; with equal images per prompt it is the plain mean), with a bootstrap over prompts;
categories come from ``prompt.category`` when there are several. The result names the scorer's
scale and direction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from bench.judges.image_text import ImageTextScorer
from bench.stats import Estimate, SuiteResult, estimate
from bench.types import Judgment, Prompt

IMAGEREWARD_PROMPTS = Path(__file__).parent / "imagereward" / "data" / "benchmark-prompts.json"


def load_prompt_file(path: str | Path, default_category: str = "all") -> list[Prompt]:
    """Prompts from a JSON list of ``{id, prompt[, category]}`` rows or a .txt file, one prompt per line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"prompt file {path}: {e}") from None
    if path.suffix.lower() == ".txt":
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        width = max(4, len(str(len(lines))))
        return [Prompt(f"{i:0{width}d}", line, default_category) for i, line in enumerate(lines)]
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"prompt file {path} is not JSON ({e}); use a JSON list of {{id, prompt}} or a .txt") from None
    if not isinstance(rows, list):
        raise ValueError(f"prompt file {path}: expected a JSON list of {{id, prompt}} rows")
    out, seen = [], set()
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str) or "id" not in row:
            raise ValueError(f"prompt file {path}: row {i} is not an object with 'id' and 'prompt'")
        pid = str(row["id"])
        if pid in seen:
            raise ValueError(f"prompt file {path}: duplicate id {pid!r} (row {i})")
        seen.add(pid)
        out.append(Prompt(pid, row["prompt"], str(row.get("category", default_category))))
    if not out:
        raise ValueError(f"prompt file {path} holds no prompts")
    return out


def per_prompt_means(judgments: Sequence[Judgment]) -> dict[str, tuple[float, int, str]]:
    """prompt id -> (mean score of its images, number of images, category), in first-seen order."""
    sums: dict[str, list] = {}
    for j in judgments:
        acc = sums.setdefault(j.prompt_id, [0.0, 0, j.category])
        acc[0] += j.score
        acc[1] += 1
    return {k: (s / n, n, c) for k, (s, n, c) in sums.items()}


class ScorerSuite:
    version = "1"
    overall_mode = "prompt_means"  # for gates: the overall is the mean over prompts of their images' mean

    def __init__(self, name: str, prompts: list[Prompt], scorer: ImageTextScorer, scale: str | None = None) -> None:
        """``scale`` overrides the scorer's own name for the suite's numbers."""
        self.name, self._prompts, self.scorer = name, prompts, scorer
        self.scale = scorer.scale if scale is None else scale
        self.higher_is_better = scorer.higher_is_better

    @property
    def judge_id(self) -> str:
        return self.scorer.judge_id

    def prompts(self) -> list[Prompt]:
        return list(self._prompts)

    def judge(self, batch: Sequence[tuple[Prompt, int, Image.Image]]) -> list[tuple[float, dict[str, Any]]]:
        scores = self.scorer.score([im for _, _, im in batch], [p.text for p, _, _ in batch])
        return [(float(s), {"score": float(s)}) for s in scores]

    def result(self, overall: Estimate, categories: dict[str, Estimate], extras: dict[str, float] | None = None
               ) -> SuiteResult:
        return SuiteResult(overall.score, overall.ci, overall.n, categories, extras or {}, scale=self.scale,
                           higher_is_better=self.higher_is_better)

    def aggregate(self, judgments: Sequence[Judgment]) -> SuiteResult:
        means = per_prompt_means(judgments)
        ids = list(means)
        overall = estimate([means[k][0] for k in ids], ids)
        cats: dict[str, Estimate] = {}
        names = sorted({c for _, _, c in means.values()})
        if len(names) > 1:
            for c in names:
                mine = [k for k in ids if means[k][2] == c]
                e = estimate([means[k][0] for k in mine], mine)
                cats[c] = Estimate(e.score, e.ci, sum(means[k][1] for k in mine))
        return self.result(Estimate(overall.score, overall.ci, len(judgments)), cats)

    def write_official(self, out_dir: Path, judgments: Sequence[Judgment], image_paths: dict[str, Path],
                       prompts: dict[str, Prompt]) -> list[Path]:
        """``scores.jsonl`` (one row per image) and ``results.json`` (per prompt, ImageReward's benchmark layout)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        rows = [{"prompt_id": j.prompt_id, "prompt": prompts[j.prompt_id].text, "category": j.category,
                 "seed": j.seed, "filename": str(image_paths[j.image_hash]), "score": j.score,
                 "scale": self.scale, "judge": self.judge_id} for j in judgments]
        scores = out_dir / "scores.jsonl"
        scores.write_text("".join(json.dumps(r) + "\n" for r in rows))
        per_prompt: dict[str, list[float]] = {}
        for j in judgments:
            per_prompt.setdefault(j.prompt_id, []).append(j.score)
        summary = [{"id": k, "prompt": prompts[k].text, "mean_score": sum(v) / len(v), "rewards": v}
                   for k, v in per_prompt.items()]
        results = out_dir / "results.json"
        results.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        return [scores, results]
