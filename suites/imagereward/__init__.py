"""ImageReward benchmark (Xu et al. 2023): 100 DiffusionDB prompts, z-normalised ImageReward v1.0 rewards.

``imagereward``: the benchmark prompts shipped in ``data/`` (THUDM/ImageReward, Apache-2.0) or
``prompts=PATH``, scored by :class:`bench.judges.imagereward.ImageRewardScorer`. The score is the
mean over prompts of each prompt's mean reward, as the reference's ``test-benchmark.py``.
"""

from __future__ import annotations

from bench.spec import reject_unknown, take
from suites import register_suite
from suites.scorer_suite import IMAGEREWARD_PROMPTS, ScorerSuite, load_prompt_file

_OPTS = "checkpoint, tokenizer, arch (a JSON of model sizes), prompts, device, batch"


@register_suite("imagereward", "ImageReward benchmark, 100 prompts; BLIP + MLP reward model, z-normalised "
                "(options: " + _OPTS + ")")
def _imagereward(opts: dict[str, str]) -> ScorerSuite:
    from bench.judges.imagereward import ImageRewardScorer

    where = "suite imagereward"
    checkpoint = take(opts, "checkpoint", str, None, where)
    tokenizer = take(opts, "tokenizer", str, "bert-base-uncased", where)
    arch = take(opts, "arch", str, None, where)
    prompts = load_prompt_file(take(opts, "prompts", str, IMAGEREWARD_PROMPTS, where))
    device = take(opts, "device", str, "auto", where)
    batch = take(opts, "batch", int, 16, where)
    reject_unknown(opts, where, _OPTS)
    return ScorerSuite("imagereward", prompts, ImageRewardScorer(checkpoint, tokenizer, arch, device, batch))
