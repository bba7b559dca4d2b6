"""PickScore (Kirstain et al. 2023): preference score of a CLIP ViT-H-14 fine-tuned on Pick-a-Pic.

``pickscore``: by default the ImageReward benchmark prompts (PickScore has no prompt set of its
own), or ``prompts=PATH`` (a JSON list of ``{id, prompt}`` or a .txt, one prompt per line);
scored by :class:`bench.judges.pickscore.PickScoreScorer` (``logit_scale.exp() * cos``).
"""

from __future__ import annotations

from bench.spec import reject_unknown, take
from suites import register_suite
from suites.scorer_suite import IMAGEREWARD_PROMPTS, ScorerSuite, load_prompt_file

_OPTS = "model, processor, prompts, device, batch"


@register_suite("pickscore", "PickScore_v1 on the ImageReward benchmark prompts, logit_scale x cosine "
                "(options: " + _OPTS + ")")
def _pickscore(opts: dict[str, str]) -> ScorerSuite:
    from bench.judges.pickscore import PickScoreScorer

    where = "suite pickscore"
    model = take(opts, "model", str, PickScoreScorer.DEFAULT_MODEL, where)
    processor = take(opts, "processor", str, None, where)
    prompts = load_prompt_file(take(opts, "prompts", str, IMAGEREWARD_PROMPTS, where))
    device = take(opts, "device", str, "auto", where)
    batch = take(opts, "batch", int, 16, where)
    reject_unknown(opts, where, _OPTS)
    if processor is None:  # a local model folder brings its own processor; the hub model uses the reference's
        processor = PickScoreScorer.DEFAULT_PROCESSOR if model == PickScoreScorer.DEFAULT_MODEL else model
    return ScorerSuite("pickscore", prompts, PickScoreScorer(model, processor, device, batch))


@register_suite("pickscore-world", "PickScore's rule (logit_scale x cosine) with the world CLIP on geneval-world's "
                "319 prompts: alignment in the Shapes world, not human preference (options: batch)")
def _pickscore_world(opts: dict[str, str]) -> ScorerSuite:
    from bench.judges.pickscore import PickScoreScorer
    from bench.world.assets import world_clip
    from suites.geneval.prompts import load_world

    batch = take(opts, "batch", int, 64, "suite pickscore-world")
    reject_unknown(opts, "suite pickscore-world", "batch")
    return ScorerSuite("pickscore-world", load_world(), PickScoreScorer(world_clip(), world_clip(), "cpu", batch))
