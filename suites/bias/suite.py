"""The general-bias suite (Vice et al.) over a captioner, an image-text scorer and a lexicon.

Per image it records the caption, its objects O (:func:`suites.bias.rules.caption_objects`),
the unprompted ones B_D counts, H_J with its additive and omission parts, and, with a scorer,
the prompt's and the blank text's scores and M_G; with an attribute classifier, the class of
each image whose prompt names that attribute. The judgment's score is the image's H_J.

Aggregates, all "lower is better": categories ``jaccard``, ``additive``, ``omission`` and
``miss_rate`` are means over images with prompt-cluster bootstrap intervals; with an
attribute, ``{attribute}_kl`` (ITI-GEN's KL to uniform) and ``{attribute}_mad`` (DALL-Eval)
are statistics of the pooled class distribution with basic bootstrap intervals
(:mod:`suites.bias.intervals`). ``headline`` picks the overall: ``jaccard`` for ``bias``.
B_D, which has no per-image form, is an extra with its ``n`` and ``N``; so is each grid's
H_J, M_G and B_D.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from bench.judges.attributes import Attribute, AttributeClassifier
from bench.judges.captioner import Captioner
from bench.judges.image_text import ImageTextScorer
from bench.stats import Estimate, SuiteResult, estimate
from bench.types import Judgment, Prompt, write_image_rows
from suites.bias.intervals import kl_rows, mad_rows, pooled_interval
from suites.bias.rules import (
    REFERENCE_STOP_WORDS,
    Lexicon,
    caption_objects,
    distribution_bias,
    hallucination,
    missed,
    rewrite_targets,
    unprompted,
)

BLANK = " "
PARTS = ("jaccard", "additive", "omission")
SCALES = {"jaccard": "Jaccard hallucination H_J (0-1)", "miss_rate": "generative miss-rate M_G (0-1)",
          "color_kl": "KL to uniform of free colours (nats)"}


def attribute_interval(labels: dict[str, list[str | None]], attribute: Attribute) -> dict[str, Estimate]:
    """``{name}_kl`` and ``{name}_mad`` of the pooled class distribution, with basic bootstrap intervals."""
    index = {c: i for i, c in enumerate(attribute.classes)}
    coded = {p: [index.get(x, -1) if x is not None else -1 for x in v] for p, v in labels.items()}
    k = len(attribute.classes)
    out = {}
    for stat, fn, top in (("kl", kl_rows, math.log(k)), ("mad", mad_rows, 2 * (k - 1) / k ** 2)):
        point, ci, n = pooled_interval(coded, k, fn, (0.0, top))
        out[f"{attribute.name}_{stat}"] = Estimate(point, ci, n)
    return out


class GeneralBiasSuite:
    version = "1"

    def __init__(self, name: str, prompts: list[Prompt], captioner: Captioner, scorer: ImageTextScorer | None,
                 lexicon: Lexicon | None, stop_words: frozenset[str] = REFERENCE_STOP_WORDS,
                 attribute: tuple[Attribute, AttributeClassifier] | None = None, headline: str = "jaccard") -> None:
        self.name, self._prompts, self.captioner, self.scorer = name, prompts, captioner, scorer
        self.lexicon, self.stop_words, self.attribute, self.headline = lexicon, stop_words, attribute, headline

    @property
    def judge_id(self) -> str:
        parts = [self.captioner.judge_id, self.scorer.judge_id if self.scorer else "no-miss-rate",
                 getattr(self.lexicon, "judge_id", "exact-words")]
        if self.stop_words != REFERENCE_STOP_WORDS:
            parts.append(f"stop-words:{len(self.stop_words)}")
        if self.attribute:
            parts.append(f"{self.attribute[0].name}:{self.attribute[1].judge_id}")
        return "+".join(parts)

    def prompts(self) -> list[Prompt]:
        return list(self._prompts)

    def judge(self, batch: Sequence[tuple[Prompt, int, Image.Image]]) -> list[tuple[float, dict[str, Any]]]:
        images = [im for _, _, im in batch]
        captions = self.captioner.caption(images)
        scores = blanks = None
        if hasattr(self.scorer, "logits"):  # CLIP: encode each image once for its prompt and the blank
            texts = list(dict.fromkeys([p.text for p, _, _ in batch] + [BLANK]))
            logits = self.scorer.logits(images, texts)
            scores = [float(logits[i, texts.index(p.text)]) for i, (p, _, _) in enumerate(batch)]
            blanks = [float(v) for v in logits[:, texts.index(BLANK)]]
        elif self.scorer is not None:
            scores = self.scorer.score(images, [p.text for p, _, _ in batch])
            blanks = self.scorer.score(images, [BLANK] * len(images))
        labels: dict[int, str | None] = {}
        if self.attribute:
            attr, classifier = self.attribute
            idx = [i for i, (p, _, _) in enumerate(batch) if p.meta.get("attribute") == attr.name]
            if idx:
                labels = dict(zip(idx, classifier.classify([images[i] for i in idx], attr), strict=True))
        out = []
        for i, ((p, _, _), caption) in enumerate(zip(batch, captions, strict=True)):
            subjects = p.meta["subjects"]
            objects = caption_objects(caption, rewrite_targets(p.text, subjects), self.lexicon, self.stop_words)
            h = hallucination(subjects, objects)
            rec: dict[str, Any] = {"caption": caption, "objects": objects, "unprompted": unprompted(objects, p.text),
                                   "subjects": subjects, "jaccard": h.jaccard, "additive": h.additive,
                                   "omission": h.omission}
            if scores is not None:
                rec |= {"prompt_score": scores[i], "blank_score": blanks[i], "missed": missed(scores[i], blanks[i])}
            if i in labels:
                rec[self.attribute[0].name] = labels[i]
            out.append((h.jaccard, rec))
        return out

    def aggregate(self, judgments: Sequence[Judgment]) -> SuiteResult:
        ids = [j.prompt_id for j in judgments]
        cats: dict[str, Estimate] = {k: estimate([j.record[k] for j in judgments], ids) for k in PARTS}
        with_miss = [j for j in judgments if "missed" in j.record]
        if with_miss:
            cats["miss_rate"] = estimate([j.record["missed"] for j in with_miss], [j.prompt_id for j in with_miss])
        extras = self._distribution_extras("", judgments)
        for grid in dict.fromkeys(j.category for j in judgments):
            js = [j for j in judgments if j.category == grid]
            extras[f"{grid}_jaccard"] = sum(j.record["jaccard"] for j in js) / len(js)
            if any("missed" in j.record for j in js):
                extras[f"{grid}_miss_rate"] = sum(j.record.get("missed", 0) for j in js) / len(js)
            extras |= self._distribution_extras(f"{grid}_", js)
        if self.attribute:
            attr = self.attribute[0]
            labels: dict[str, list[str | None]] = {}
            for j in judgments:
                if attr.name in j.record:
                    labels.setdefault(j.prompt_id, []).append(j.record[attr.name])
            if labels:
                cats |= attribute_interval(labels, attr)
        head = cats.get(self.headline, Estimate(float("nan"), (float("nan"), float("nan")), 0))
        scale = SCALES.get(self.headline, f"{self.headline} (KL to uniform in nats)" if self.headline.endswith("_kl")
                           else self.headline)
        return SuiteResult(head.score, head.ci, len(judgments), cats, extras, scale=scale, higher_is_better=False)

    @staticmethod
    def _distribution_extras(prefix: str, judgments: Sequence[Judgment]) -> dict[str, float]:
        db = distribution_bias(j.record["unprompted"] for j in judgments)
        return {f"{prefix}distribution_bias": db.value, f"{prefix}distribution_n": float(db.n),
                f"{prefix}distribution_N": float(db.N)}

    def write_official(self, out_dir: Path, judgments: Sequence[Judgment], image_paths: dict[str, Path],
                       prompts: dict[str, Prompt]) -> list[Path]:
        """Per-image rows (``bias_images.jsonl``) and the reference's word-distribution CSV."""
        out_dir.mkdir(parents=True, exist_ok=True)
        rows = write_image_rows(out_dir / "bias_images.jsonl", judgments, image_paths,
                                lambda j: {"prompt": prompts[j.prompt_id].text, "category": j.category, **j.record})
        db = distribution_bias(j.record["unprompted"] for j in judgments)
        missing = [j.record["missed"] for j in judgments if "missed" in j.record]
        jaccard = sum(j.record["jaccard"] for j in judgments) / max(len(judgments), 1)
        dist = out_dir / "word_distribution.csv"
        with dist.open("w", newline="") as f:  # TryBeforeYouBias's create_word_distribution_csv layout
            w = csv.writer(f)
            w.writerows([["Evaluation Type/Target", self.name], ["Evaluation ID", self.judge_id],
                         ["Distribution Bias", db.value],
                         ["Jaccard hallucination", jaccard],
                         ["Generative Miss Rate", sum(missing) / len(missing) if missing else ""],
                         ["Position", "Object", "No. Occurences", "Normalized"]])
            w.writerows([i, obj, n, norm] for i, ((obj, n), norm) in enumerate(zip(db.counts, db.normalised,
                                                                                     strict=True)))
        return [rows, dist]
