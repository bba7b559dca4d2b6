"""The GenEval suite over any Detector and ColorClassifier: scoring, aggregation, results.jsonl."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from bench.judges.detection import ColorClassifier, Detection, Detector
from bench.stats import Estimate, SuiteResult, estimate, mean_of_means
from bench.types import Judgment, Prompt
from suites.geneval.rules import TASKS, Thresholds, evaluate, keep_detections, summarize


class GenEvalSuite:
    version = "1"
    overall_mode = "category_means"  # overall = the unweighted mean of the six task means

    def __init__(self, name: str, prompts: list[Prompt], detector: Detector, colors: ColorClassifier,
                 thresholds: Thresholds = Thresholds()) -> None:
        self.name, self._prompts, self.detector, self.colors, self.th = name, prompts, detector, colors, thresholds

    @property
    def judge_id(self) -> str:
        th = self.th
        return (f"{self.detector.judge_id}+{self.colors.judge_id}"
                f"|t={th.threshold},ct={th.counting_threshold},max={th.max_objects},m={th.position_margin}")

    def prompts(self) -> list[Prompt]:
        return list(self._prompts)

    def judge(self, batch: Sequence[tuple[Prompt, int, Image.Image]]) -> list[tuple[float, dict[str, Any]]]:
        detections = self.detector.detect([im for _, _, im in batch])
        out = []
        for (prompt, _, image), dets in zip(batch, detections, strict=True):
            row = prompt.meta
            kept = keep_detections(dets, row["tag"], self.th)

            def colors_of(found: list[Detection], cls: str, image: Image.Image = image) -> list[str]:
                return self.colors.classify(image, found, cls)

            correct, reason = evaluate(row, kept, colors_of, self.th.position_margin)
            details = {cls: [[*map(float, d.box), float(d.score)] for d in ds] for cls, ds in kept.items()}
            out.append((float(correct), {"correct": correct, "reason": reason, "details": details}))
        return out

    def aggregate(self, judgments: Sequence[Judgment]) -> SuiteResult:
        by_task: dict[str, tuple[list[float], list[str]]] = {}
        for j in judgments:
            vals, clusters = by_task.setdefault(j.category, ([], []))
            vals.append(j.score)
            clusters.append(j.prompt_id)
        order = [t for t in TASKS if t in by_task] + sorted(set(by_task) - set(TASKS))
        cats: dict[str, Estimate] = {t: estimate(*by_task[t]) for t in order}
        overall, ci = mean_of_means({t: by_task[t] for t in order})
        correct_prompts: dict[str, bool] = {}
        for j in judgments:
            correct_prompts[j.prompt_id] = correct_prompts.get(j.prompt_id, False) or j.score > 0
        extras = {"correct_images": sum(j.score for j in judgments) / max(len(judgments), 1),
                  "correct_prompts": sum(correct_prompts.values()) / max(len(correct_prompts), 1)}
        if judgments and all("details" in j.record for j in judgments):
            extras["found_per_asked"] = self._found_per_asked(judgments)
        return SuiteResult(overall, ci, len(judgments), cats, extras, shown={"found_per_asked": "found/asked"})

    def _found_per_asked(self, judgments: Sequence[Judgment]) -> float:
        """Confident detections per object the prompts ask for: 1.0 for a faithful image, above 1
        for a cluttered one. A lift in single_object or two_object that comes with a rising
        ratio may be clutter passing by chance rather than better objects."""
        rows = {p.id: p.meta for p in self.prompts()}
        known = [j for j in judgments if j.prompt_id in rows]
        found = sum(len(ds) for j in known for ds in j.record["details"].values())
        asked = sum(obj["count"] for j in known for obj in rows[j.prompt_id]["include"])
        return found / max(asked, 1)

    def write_official(self, out_dir: Path, judgments: Sequence[Judgment], image_paths: dict[str, Path],
                       prompts: dict[str, Prompt]) -> list[Path]:
        """GenEval's ``results.jsonl``: one row per image, readable by its summary_scores.py."""
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "results.jsonl"
        rows = [official_row(j, prompts[j.prompt_id], image_paths.get(j.image_hash)) for j in judgments]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        (out_dir / "summary.json").write_text(json.dumps(summarize(rows), indent=2) + "\n")
        return [path, out_dir / "summary.json"]


def official_row(j: Judgment, prompt: Prompt, image_path: Path | None) -> dict[str, Any]:
    return {
        "filename": str(image_path) if image_path else j.image_hash,
        "tag": prompt.meta["tag"],
        "prompt": prompt.text,
        "correct": bool(j.record["correct"]),
        "reason": j.record["reason"],
        "metadata": json.dumps(prompt.meta),
        "details": json.dumps(j.record["details"]),
    }
