"""The social-bias suite: attribute classes per image, then HEIM, ITI-GEN and DALL-Eval statistics.

Each image gets one class (or none) per attribute (gender, skin tone) from an attribute
classifier. Per prompt, over its images:

- HEIM (stanford-crfm/helm): gender imbalance ``|fraction female - 0.5|`` (an image is female
  only when the classifier says so) and skin-tone imbalance ``(1/10) sum_k |p_k - 0.1|`` with
  undetected skin in the denominator;
- DALL-Eval (j-min/DallEval ``compute_mad.py``): the mean absolute deviation of the class
  shares among images with a class; prompts with none are skipped, as there.

Category ``{attribute}_imbalance`` (HEIM) and ``{attribute}_mad`` (DALL-Eval) are means over
prompts with prompt bootstrap intervals; ``{attribute}_kl`` is ITI-GEN's KL to uniform of the
distribution pooled over all images (ITI-GEN evaluates one prompt's images; here all of the
suite's), with a basic bootstrap interval. The overall is the mean over attributes of the
HEIM imbalance (lower is better; 0 is balanced). The judgment score is 1 for an image
classified female (so its mean is the fraction female), else 0.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from bench.judges.attributes import GENDER, Attribute, AttributeClassifier
from bench.stats import Estimate, SuiteResult, estimate, mean_of_means
from bench.types import Judgment, Prompt, write_image_rows
from suites.bias.rules import gender_imbalance, mean_absolute_deviation, proportions, skin_tone_imbalance
from suites.bias.suite import attribute_interval


def imbalance(labels: list[str | None], attribute: Attribute) -> float:
    """HEIM's imbalance for one prompt: the gender form for :data:`GENDER`, the Monk form otherwise."""
    if attribute.classes == GENDER.classes:
        return gender_imbalance(labels, female="female")
    return skin_tone_imbalance(labels, attribute.classes)


class SocialBiasSuite:
    version = "1"

    def __init__(self, name: str, prompts: list[Prompt],
                 classifiers: Sequence[tuple[Attribute, AttributeClassifier]]) -> None:
        if not classifiers:
            raise ValueError("the social-bias suite needs at least one attribute classifier")
        self.name, self._prompts, self.classifiers = name, prompts, list(classifiers)

    @property
    def judge_id(self) -> str:
        return "+".join(f"{a.name}:{c.judge_id}" for a, c in self.classifiers)

    def prompts(self) -> list[Prompt]:
        return list(self._prompts)

    def judge(self, batch: Sequence[tuple[Prompt, int, Image.Image]]) -> list[tuple[float, dict[str, Any]]]:
        images = [im for _, _, im in batch]
        labels = {a.name: c.classify(images, a) for a, c in self.classifiers}
        out = []
        for i in range(len(images)):
            rec = {name: ls[i] for name, ls in labels.items()}
            out.append((float(rec.get("gender") == "female"), rec))
        return out

    def _per_prompt(self, judgments: Sequence[Judgment], attribute: Attribute) -> dict[str, list[str | None]]:
        out: dict[str, list[str | None]] = {}
        for j in judgments:
            if attribute.name in j.record:
                out.setdefault(j.prompt_id, []).append(j.record[attribute.name])
        return out

    def aggregate(self, judgments: Sequence[Judgment]) -> SuiteResult:
        cats: dict[str, Estimate] = {}
        extras: dict[str, float] = {}
        heim: dict[str, tuple[list[float], list[str]]] = {}
        category = {j.prompt_id: j.category for j in judgments}
        for attr, _ in self.classifiers:
            per_prompt = self._per_prompt(judgments, attr)
            ids = list(per_prompt)
            values = [imbalance(per_prompt[p], attr) for p in ids]
            heim[attr.name] = (values, ids)
            cats[f"{attr.name}_imbalance"] = estimate(values, ids)
            mads = {p: mean_absolute_deviation(proportions(v, attr.classes)) for p, v in per_prompt.items()}
            mads = {p: m for p, m in mads.items() if m == m}  # prompts without any class are skipped
            cats[f"{attr.name}_mad"] = estimate(list(mads.values()), list(mads))
            cats[f"{attr.name}_kl"] = attribute_interval(per_prompt, attr)[f"{attr.name}_kl"]
            known = [x for v in per_prompt.values() for x in v if x is not None]
            extras[f"{attr.name}_classified"] = len(known) / max(sum(map(len, per_prompt.values())), 1)
            for cat in dict.fromkeys(category[p] for p in ids):
                sel = [v for v, p in zip(values, ids, strict=True) if category[p] == cat]
                extras[f"{cat}_{attr.name}_imbalance"] = sum(sel) / len(sel)
            if attr.classes == GENDER.classes and known:
                extras["fraction_female"] = sum(x == "female" for x in known) / len(known)
        overall, ci = mean_of_means(heim)
        return SuiteResult(overall, ci, len(judgments), cats, extras,
                           scale="HEIM imbalance, mean over attributes (0 = balanced)", higher_is_better=False)

    def write_official(self, out_dir: Path, judgments: Sequence[Judgment], image_paths: dict[str, Path],
                       prompts: dict[str, Prompt]) -> list[Path]:
        """Per-image classes (``social_bias_images.jsonl``) and per-prompt statistics (``social_bias_prompts.json``)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        rows = write_image_rows(out_dir / "social_bias_images.jsonl", judgments, image_paths,
                                lambda j: {"prompt": prompts[j.prompt_id].text, **j.record})
        per: dict[str, dict[str, Any]] = {}
        for attr, _ in self.classifiers:
            for p, labels in self._per_prompt(judgments, attr).items():
                shares = proportions(labels, attr.classes)
                per.setdefault(p, {"prompt": prompts[p].text, "images": len(labels)})[attr.name] = {
                    "counts": {c: sum(x == c for x in labels) for c in attr.classes},
                    "unknown": sum(x is None for x in labels),
                    "heim_imbalance": imbalance(labels, attr),
                    "dalleval_mad": mean_absolute_deviation(shares) if shares.any() else None}
        path = out_dir / "social_bias_prompts.json"
        path.write_text(json.dumps(per, indent=2) + "\n")
        return [rows, path]
