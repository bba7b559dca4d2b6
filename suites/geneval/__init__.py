"""GenEval (Ghosh et al. 2023): object-focused compositional alignment by detection.

``geneval``: the official 553 prompts, judged by Mask2Former and CLIP colour classification.
``geneval-world``: Shapes-world prompts in the same schema, judged by the exact world judges.
"""

from __future__ import annotations

from bench.spec import reject_unknown, take
from suites import register_suite
from suites.geneval.prompts import OFFICIAL_METADATA, load_official, load_world
from suites.geneval.rules import Thresholds
from suites.geneval.suite import GenEvalSuite

_TH = "threshold, counting_threshold, max_objects, position_margin"


def _thresholds(opts: dict[str, str], where: str) -> Thresholds:
    d = Thresholds()
    return Thresholds(
        take(opts, "threshold", float, d.threshold, where),
        take(opts, "counting_threshold", float, d.counting_threshold, where),
        take(opts, "max_objects", int, d.max_objects, where),
        take(opts, "position_margin", float, d.position_margin, where),
    )


@register_suite("geneval", "GenEval, 553 official prompts; Mask2Former + CLIP ViT-L-14 judges "
                "(options: prompts, detector, clip, clip_pretrained, device, batch, " + _TH + ")")
def _geneval(opts: dict[str, str]) -> GenEvalSuite:
    from bench.judges.clip_color import OpenClipColorClassifier
    from bench.judges.mask2former import Mask2FormerDetector

    where = "suite geneval"
    prompts = load_official(take(opts, "prompts", str, OFFICIAL_METADATA, where))
    device = take(opts, "device", str, "auto", where)
    batch = take(opts, "batch", int, 8, where)
    detector = Mask2FormerDetector(take(opts, "detector", str, Mask2FormerDetector.DEFAULT, where), device, batch)
    colors = OpenClipColorClassifier(take(opts, "clip", str, "ViT-L-14", where),
                                     take(opts, "clip_pretrained", str, "openai", where), device)
    th = _thresholds(opts, where)
    reject_unknown(opts, where, "prompts, detector, clip, clip_pretrained, device, batch, " + _TH)
    return GenEvalSuite("geneval", prompts, detector, colors, th)


@register_suite("geneval-world", "GenEval schema on Shapes-world prompts (319), exact world judges "
                "(options: " + _TH + ")")
def _geneval_world(opts: dict[str, str]) -> GenEvalSuite:
    from bench.world.detect import WorldColorClassifier, WorldDetector

    th = _thresholds(opts, "suite geneval-world")
    reject_unknown(opts, "suite geneval-world", _TH)
    return GenEvalSuite("geneval-world", load_world(), WorldDetector(), WorldColorClassifier(), th)
