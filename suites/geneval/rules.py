"""GenEval's per-image rules (djghosh13/geneval, evaluation/evaluate_images.py), as pure functions.

Detections are kept above a confidence threshold (0.3; 0.9 on counting prompts), sorted by
confidence, at most 16 per class, no NMS. ``include`` clauses must all hold, any holding
``exclude`` clause fails the image. Colour and position are judged on the most confident
``count`` objects of a class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bench.judges.detection import COLORS, Detection, relative_position

TASKS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")


@dataclass(frozen=True)
class Thresholds:
    threshold: float = 0.3
    counting_threshold: float = 0.9
    max_objects: int = 16
    position_margin: float = 0.1


def keep_detections(
    detections: Sequence[Detection], tag: str, th: Thresholds = Thresholds()
) -> dict[str, list[Detection]]:
    """Per class, detections strictly above the tag's threshold, most confident first."""
    cut = th.counting_threshold if tag == "counting" else th.threshold
    by_class: dict[str, list[Detection]] = {}
    for det in sorted(detections, key=lambda d: -d.score):
        if det.score > cut:
            kept = by_class.setdefault(det.label, [])
            if len(kept) < th.max_objects:
                kept.append(det)
    return by_class


ColorsOf = Callable[[list[Detection], str], list[str]]


def evaluate(
    row: dict, detected: dict[str, list[Detection]], colors_of: ColorsOf, margin: float = 0.1
) -> tuple[bool, str]:
    """Is the image correct for the GenEval ``row``, and if not, why (one reason per line)."""
    correct = True
    reasons: list[str] = []
    groups: list[list[Detection] | None] = []
    for req in row.get("include", []):
        cls, count = req["class"], req["count"]
        found = detected.get(cls, [])[:count]
        ok = True
        if len(found) < count:
            ok = False
            reasons.append(f"expected {cls}>={count}, found {len(found)}")
        else:
            if "color" in req:
                colors = colors_of(found, cls)
                hits = colors.count(req["color"])
                if hits < count:
                    ok = False
                    seen = ", ".join(f"{colors.count(c)} {c}" for c in COLORS if c in colors)
                    reasons.append(f"expected {req['color']} {cls}>={count}, found {hits} {req['color']}; and {seen}")
            if "position" in req and ok:
                relation, target = req["position"]
                targets = groups[target]
                if targets is None:
                    ok = False
                    reasons.append(f"no target for {cls} to be {relation}")
                else:
                    ok = _all_pairs(found, targets, cls, relation, margin, reasons)
        correct &= ok
        groups.append(found if ok else None)
    for req in row.get("exclude", []):
        cls = req["class"]
        if len(detected.get(cls, [])) >= req["count"]:
            correct = False
            reasons.append(f"expected {cls}<{req['count']}, found {len(detected[cls])}")
    return correct, "\n".join(reasons)


def _all_pairs(found: list[Detection], targets: list[Detection], cls: str, relation: str, margin: float,
               reasons: list[str]) -> bool:
    for obj in found:
        for tgt in targets:
            rels = relative_position(obj.box, tgt.box, margin)
            if relation not in rels:
                reasons.append(f"expected {cls} {relation} target, found {' and '.join(sorted(rels))} target")
                return False
    return True


def summarize(rows: Sequence[dict]) -> dict[str, float]:
    """The official summary of per-image results (``tag``, ``correct``, ``metadata``); empty without rows."""
    if not rows:
        return {}
    tasks: dict[str, list[bool]] = {}
    prompts: dict[str, bool] = {}
    for r in rows:
        tasks.setdefault(r["tag"], []).append(bool(r["correct"]))
        prompts[r["metadata"]] = prompts.get(r["metadata"], False) or bool(r["correct"])
    out = {tag: float(np.mean(v)) for tag, v in tasks.items()}
    out["overall"] = float(np.mean([out[t] for t in tasks]))
    out["correct_images"] = float(np.mean([bool(r["correct"]) for r in rows]))
    out["correct_prompts"] = float(np.mean(list(prompts.values())))
    return out
