"""HPS v2 / v2.1 benchmark (Wu et al. 2023): human-preference score on 4 x 800 styled prompts.

``hps``: the benchmark prompts (``prompts=DIR`` holding anime/concept-art/paintings/photo.json,
or the hub dataset ``zhwang/HPDv2``), scored by :class:`bench.judges.hps.HPSv2Scorer`
(100 x cosine). Per style the mean of chunk means of 80 consecutive prompts, overall the
average over the styles, as the reference's evaluation code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from bench.judges.image_text import ImageTextScorer
from bench.spec import reject_unknown, take
from bench.stats import Estimate, SuiteResult, mean_of_means
from bench.types import Judgment, Prompt
from suites import register_suite
from suites.hps.benchmark import STYLES, benchmark_score, chunk_means, fetch_prompt_files, load_prompts
from suites.scorer_suite import ScorerSuite, per_prompt_means

_OPTS = "version (v2.0|v2.1), checkpoint, arch, prompts, device, batch, chunks"


class HPSSuite(ScorerSuite):
    """A scorer suite whose aggregate is the HPS benchmark's chunk-mean rule."""

    overall_mode = "category_means"  # for gates: the average over styles (chunk means = style means at 800)

    def __init__(self, name: str, prompts: list[Prompt], scorer: ImageTextScorer, n_chunks: int | None = None) -> None:
        """``n_chunks``: None takes every chunk of 80 (see :func:`chunk_means`), 10 is the reference literally."""
        super().__init__(name, prompts, scorer)
        self.n_chunks = n_chunks
        self._order = {p.id: i for i, p in enumerate(prompts)}

    @property
    def judge_id(self) -> str:  # the runner caches aggregates by judge id: a non-default rule must show in it
        return self.scorer.judge_id + ("" if self.n_chunks is None else f"|chunks={self.n_chunks}")

    def _per_style(self, judgments: Sequence[Judgment]) -> tuple[dict[str, list[str]], dict]:
        means = per_prompt_means(judgments)
        ids = sorted(means, key=lambda k: self._order.get(k, len(self._order)))
        styles = [s for s in STYLES if any(means[k][2] == s for k in ids)]
        styles += sorted({means[k][2] for k in ids} - set(styles))
        return {s: [k for k in ids if means[k][2] == s] for s in styles}, means

    def aggregate(self, judgments: Sequence[Judgment]) -> SuiteResult:
        by_style, means = self._per_style(judgments)
        overall, per_style = benchmark_score({s: [means[k][0] for k in ks] for s, ks in by_style.items()},
                                             n_chunks=self.n_chunks)
        # the interval: a bootstrap over prompts of the mean over styles, widened to hold the chunk-mean point
        groups = {s: ([means[k][0] for k in ks], ks) for s, ks in by_style.items()}
        _, (lo, hi) = mean_of_means(groups)
        cats: dict[str, Estimate] = {}
        for s, ks in by_style.items():
            _, (clo, chi) = mean_of_means({s: groups[s]})
            score = per_style[s][0]
            cats[s] = Estimate(score, (min(clo, score), max(chi, score)), sum(means[k][1] for k in ks))
        extras = {f"chunk_std_{s}": std for s, (_, std) in per_style.items()}
        return self.result(Estimate(overall, (min(lo, overall), max(hi, overall)), len(judgments)), cats, extras)

    def write_official(self, out_dir: Path, judgments: Sequence[Judgment], image_paths: dict[str, Path],
                       prompts: dict[str, Prompt]) -> list[Path]:
        """The per-image files plus ``benchmark.json``: what the reference prints, per style and overall."""
        files = super().write_official(out_dir, judgments, image_paths, prompts)
        by_style, means = self._per_style(judgments)
        overall, per_style = benchmark_score({s: [means[k][0] for k in ks] for s, ks in by_style.items()},
                                             n_chunks=self.n_chunks)
        summary = {"scale": self.scale, "judge": self.judge_id, "overall": overall,
                   "styles": {s: {"score": m, "chunk_std": sd, "prompts": len(by_style[s]),
                                  "chunk_means": chunk_means([means[k][0] for k in by_style[s]],
                                                             n_chunks=self.n_chunks)}
                              for s, (m, sd) in per_style.items()}}
        path = out_dir / "benchmark.json"
        path.write_text(json.dumps(summary, indent=2) + "\n")
        return [*files, path]


@register_suite("hps", "HPS v2.1 benchmark, 4 styles x 800 prompts; open_clip ViT-H-14 + HPS checkpoint, "
                "100 x cosine (options: " + _OPTS + ")")
def _hps(opts: dict[str, str]) -> HPSSuite:
    from bench.judges.hps import HPSv2Scorer

    where = "suite hps"
    version = take(opts, "version", str, "v2.1", where)
    checkpoint = take(opts, "checkpoint", str, None, where)
    arch = take(opts, "arch", str, "ViT-H-14", where)
    folder = take(opts, "prompts", str, None, where)
    device = take(opts, "device", str, "auto", where)
    batch = take(opts, "batch", int, 16, where)
    chunks = take(opts, "chunks", str, "all", where)
    reject_unknown(opts, where, _OPTS)
    if chunks != "all" and not chunks.isdigit():
        raise ValueError(f"option chunks={chunks!r} in {where}: use 'all' or a number (10 = the reference's)")
    prompts = load_prompts(folder if folder is not None else fetch_prompt_files())
    scorer = HPSv2Scorer(version, checkpoint, arch, device, batch)
    return HPSSuite("hps", prompts, scorer, None if chunks == "all" else int(chunks))


@register_suite("hps-world", "HPS's score (100 x cosine, no logit scale) with the world CLIP on geneval-world's "
                "319 prompts: alignment in the Shapes world, not human preference (options: batch)")
def _hps_world(opts: dict[str, str]) -> ScorerSuite:
    from bench.judges.clipscore import CLIPScoreScorer
    from bench.world.assets import world_clip
    from suites.geneval.prompts import load_world

    batch = take(opts, "batch", int, 64, "suite hps-world")
    reject_unknown(opts, "suite hps-world", "batch")
    # HPS's number is 100 x cosine of normalised features: the CLIPScore scorer's unclamped
    # per-image value, here over the world CLIP (an open_clip HPS checkpoint has no world twin)
    return ScorerSuite("hps-world", load_world(), CLIPScoreScorer(world_clip(), "cpu", batch), "100 x cosine")
