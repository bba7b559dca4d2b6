"""Per-image judge evidence, recognised by the shape of its record, ready for the templates.

GenEval: ``{"correct", "reason", "details": {class: [[x1, y1, x2, y2, score], ...]}}``;
TIFA: ``{"questions": [{"question", "element_type", "answer", "free_form_vqa", ...}]}``;
DSG: ``{"score_without_dependency", "questions": [{"id", "question", "category", "answer", ...}]}``;
scorers: ``{"score": x}``. Anything else is shown as JSON (escaped like every other string).
"""

from __future__ import annotations

import json
from typing import Any


def kind_of(record: Any) -> str:
    """``geneval``, ``tifa``, ``dsg``, ``score`` or ``json``."""
    if not isinstance(record, dict):
        return "json"
    questions = record.get("questions")
    if "correct" in record and isinstance(record.get("details", {}), dict):
        return "geneval"
    if isinstance(questions, list) and all(isinstance(q, dict) for q in questions):
        if "score_without_dependency" in record or any("raw" in q or "id" in q for q in questions):
            return "dsg"
        return "tifa"
    if set(record) == {"score"} and isinstance(record["score"], int | float):
        return "score"
    return "json"


def _boxes(details: Any) -> list[dict[str, Any]]:
    """Detected objects: class, box and confidence, from GenEval's details."""
    out = []
    if not isinstance(details, dict):
        return out
    for cls, dets in details.items():
        for d in dets if isinstance(dets, list) else []:
            if isinstance(d, list | tuple) and len(d) >= 4 and all(isinstance(v, int | float) for v in d[:5]):
                x1, y1, x2, y2 = (float(v) for v in d[:4])
                out.append({"cls": str(cls), "x": x1, "y": y1, "w": max(x2 - x1, 0.0), "h": max(y2 - y1, 0.0),
                            "conf": float(d[4]) if len(d) > 4 else None})
    return out


def evidence(record: Any) -> dict[str, Any]:
    """A template-ready view of one record: ``{"kind", ...}`` (never pre-rendered HTML)."""
    kind = kind_of(record)
    if kind == "geneval":
        boxes = _boxes(record.get("details"))
        counts: dict[str, list[float | None]] = {}
        for b in boxes:
            counts.setdefault(b["cls"], []).append(b["conf"])
        extra = {k: v for k, v in record.items() if k not in ("correct", "reason", "details")}
        return {"kind": kind, "correct": bool(record.get("correct")), "reason": str(record.get("reason") or ""),
                "objects": [{"cls": c, "n": len(v), "conf": v} for c, v in counts.items()], "boxes": boxes,
                "extra": _json(extra) if extra else ""}
    if kind in ("tifa", "dsg"):
        qs = []
        for q in record["questions"]:
            qs.append({"id": q.get("id", ""), "question": str(q.get("question", "")),
                       "type": str(q.get("element_type", q.get("category", ""))),
                       "gold": q.get("answer", "") if kind == "tifa" else "",
                       "answer": q.get("free_form_vqa", "") if kind == "tifa" else q.get("answer", ""),
                       "choice": q.get("multiple_choice_vqa", "") if kind == "tifa" else "",
                       "score": q.get("score")})
        return {"kind": kind, "questions": qs, "without_dependency": record.get("score_without_dependency")}
    if kind == "score":
        return {"kind": kind, "score": record["score"]}
    return {"kind": "json", "text": _json(record)}


def _json(value: Any) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False, default=str, sort_keys=True)
