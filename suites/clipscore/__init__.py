"""CLIPScore (torchmetrics ``CLIPScore``): 100 x cosine of CLIP ViT-L/14 embeddings.

``clipscore``: by default the ImageReward benchmark prompts, or ``prompts=PATH`` (a JSON list
of ``{id, prompt}`` or a .txt, one prompt per line). Images keep their unclamped ``100 * cos``;
as torchmetrics' ``compute()``, every mean (overall, categories, interval bounds) is then
clamped at 0 (``clamp=mean``). ``clamp=image`` clamps each image instead (what ``clip_score``
returns for a single image, and Hessel et al.'s CLIP-S without its 2.5 weight).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from bench.judges.image_text import ImageTextScorer
from bench.spec import reject_unknown, take
from bench.stats import Estimate, SuiteResult, estimate
from bench.types import Judgment, Prompt
from suites import register_suite
from suites.scorer_suite import IMAGEREWARD_PROMPTS, ScorerSuite, load_prompt_file

_OPTS = "model, prompts, device, batch, clamp (mean|image)"


def _floor(e: Estimate) -> Estimate:
    return Estimate(max(e.score, 0.0), (max(e.ci[0], 0.0), max(e.ci[1], 0.0)), e.n)


class CLIPScoreSuite(ScorerSuite):
    """torchmetrics' rule: the mean over images, then ``max(mean, 0)``; or a clamp per image."""

    def __init__(self, name: str, prompts: list[Prompt], scorer: ImageTextScorer, clamp: str = "mean") -> None:
        if clamp not in ("mean", "image"):
            raise ValueError(f"clamp={clamp!r}: use 'mean' (torchmetrics) or 'image'")
        where = "mean" if clamp == "mean" else "each image"
        super().__init__(name, prompts, scorer, f"{scorer.scale}, {where} clamped at 0")
        self.clamp = clamp

    @property
    def judge_id(self) -> str:
        return self.scorer.judge_id + ("|clamp=image" if self.clamp == "image" else "")

    def judge(self, batch: Sequence[tuple[Prompt, int, Image.Image]]) -> list[tuple[float, dict[str, Any]]]:
        out = super().judge(batch)
        if self.clamp == "image":
            out = [(max(s, 0.0), {**r, "score": max(s, 0.0), "raw": s}) for s, r in out]
        return out

    def aggregate(self, judgments: Sequence[Judgment]) -> SuiteResult:
        """Image-level means (torchmetrics averages samples, not prompts), clustered by prompt, floored at 0."""
        overall = _floor(estimate([j.score for j in judgments], [j.prompt_id for j in judgments]))
        names = sorted({j.category for j in judgments})
        cats = {}
        if len(names) > 1:
            for c in names:
                mine = [j for j in judgments if j.category == c]
                cats[c] = _floor(estimate([j.score for j in mine], [j.prompt_id for j in mine]))
        return self.result(overall, cats)


@register_suite("clipscore", "CLIPScore (torchmetrics) with CLIP ViT-L/14 on the ImageReward benchmark prompts, "
                "100 x cosine (options: " + _OPTS + ")")
def _clipscore(opts: dict[str, str]) -> CLIPScoreSuite:
    from bench.judges.clipscore import CLIPScoreScorer

    where = "suite clipscore"
    model = take(opts, "model", str, CLIPScoreScorer.DEFAULT, where)
    prompts = load_prompt_file(take(opts, "prompts", str, IMAGEREWARD_PROMPTS, where))
    device = take(opts, "device", str, "auto", where)
    batch = take(opts, "batch", int, 16, where)
    clamp = take(opts, "clamp", str, "mean", where)
    reject_unknown(opts, where, _OPTS)
    return CLIPScoreSuite("clipscore", prompts, CLIPScoreScorer(model, device, batch), clamp)


@register_suite("clipscore-world", "CLIPScore's rule with the world CLIP on geneval-world's 319 prompts: image-caption "
                "alignment in the Shapes world, not human judgement (options: batch, clamp)")
def _clipscore_world(opts: dict[str, str]) -> CLIPScoreSuite:
    from bench.judges.clipscore import CLIPScoreScorer
    from bench.world.assets import world_clip
    from suites.geneval.prompts import load_world

    where = "suite clipscore-world"
    batch = take(opts, "batch", int, 64, where)
    clamp = take(opts, "clamp", str, "mean", where)
    reject_unknown(opts, where, "batch, clamp")
    return CLIPScoreSuite("clipscore-world", load_world(), CLIPScoreScorer(world_clip(), "cpu", batch), clamp)
