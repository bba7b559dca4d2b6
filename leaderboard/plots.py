"""Plots as inline SVG, drawn with matplotlib (Agg, no pyplot state).

Text is drawn as paths (``svg.fonttype = path``): no user string reaches the SVG as markup,
and mathtext is off so a ``$`` in a candidate spec is just a character.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from typing import Any

import matplotlib
from matplotlib.figure import Figure

RC = {"svg.fonttype": "path", "text.parse_math": False, "font.size": 9, "axes.spines.top": False,
      "axes.spines.right": False}
MAX_LABEL = 48


def _label(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[:MAX_LABEL - 1] + "…"


def _num(x: Any) -> float:
    return float(x) if isinstance(x, int | float) and not (isinstance(x, float) and math.isnan(x)) else math.nan


def _svg(fig: Figure, salt: str) -> str:
    """The figure as an SVG element to inline: no XML prolog, no metadata, ids salted per plot."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None,
                                                                      "Format": None, "Type": None})
    text = buf.getvalue()
    text = re.sub(r"<\?xml.*?\?>|<!DOCTYPE.*?>|<metadata>.*?</metadata>", "", text, flags=re.S)
    return text.replace("<svg ", '<svg role="img" class="plot" ', 1).strip()


def category_chart(suite: str, rows: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """Per-category bars (with their 95% intervals) for each candidate: ``rows`` = (label, SuiteResult JSON)."""
    cats = list(dict.fromkeys(c for _, r in rows for c in (r.get("categories") or {})))
    names = ["overall", *cats]
    scaled = any(r.get("scale") for _, r in rows)
    with matplotlib.rc_context(RC):
        height = 0.6 + 0.22 * len(names) * max(len(rows), 1) + 0.25 * len(rows)
        fig = Figure(figsize=(7.5, min(max(height, 2.2), 40)))
        ax = fig.subplots()
        width = 0.8 / max(len(rows), 1)
        for i, (label, r) in enumerate(rows):
            cat = r.get("categories") or {}
            vals = [_num(r.get("overall"))] + [_num((cat.get(c) or {}).get("score")) for c in cats]
            cis = [r.get("ci") or [None, None]] + [(cat.get(c) or {}).get("ci") or [None, None] for c in cats]
            lo = [v - _num(ci[0]) if not math.isnan(_num(ci[0])) else 0 for v, ci in zip(vals, cis, strict=True)]
            hi = [_num(ci[1]) - v if not math.isnan(_num(ci[1])) else 0 for v, ci in zip(vals, cis, strict=True)]
            ys = [k + i * width for k in range(len(names))]
            ax.barh(ys, [0 if math.isnan(v) else v for v in vals], height=width * 0.9, label=_label(label),
                    xerr=[[max(v, 0) for v in lo], [max(v, 0) for v in hi]], error_kw={"elinewidth": 0.8,
                                                                                     "capsize": 2})
        ax.set_yticks([k + width * (len(rows) - 1) / 2 for k in range(len(names))], names)
        ax.invert_yaxis()
        if not scaled:
            ax.set_xlim(0, 1.05)
        ax.set_xlabel(f"{suite} score" + (" (95% interval)" if rows else ""))
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 if len(names) > 3 else -0.3), fontsize=8,
                  frameon=False, ncols=1)
        return _svg(fig, f"cat-{suite}")


Point = tuple[float, float, float, float, str]  # x, overall, interval low, interval high, decision


def _points(baseline: dict[str, Any] | None, rounds: Sequence[dict[str, Any]],
            x_key: str | None) -> dict[str, list[Point]]:
    """Per suite, one point per round (round 0: the initial checkpoint, at x = 0)."""
    points: dict[str, list[Point]] = {}
    for idx, scores, decision, manifest in [(0, baseline, "promote", {})] + [
            (r.get("idx"), r.get("scores"), r.get("decision"), r.get("manifest") or {}) for r in rounds]:
        x = _num(manifest.get(x_key, 0 if idx == 0 else None)) if x_key else float(idx)
        for suite, res in (scores or {}).items():
            ci = res.get("ci") or [None, None]
            points.setdefault(suite, []).append((x, _num(res.get("overall")), _num(ci[0]), _num(ci[1]),
                                                 str(decision or "")))
    return points


def _curve(ax: Any, pts: list[Point], color: str, label: str) -> None:
    """One line with 95% error bars; rejected rounds get a red x."""
    err = [[max(p[1] - p[2], 0) if not math.isnan(p[2]) else 0 for p in pts],
           [max(p[3] - p[1], 0) if not math.isnan(p[3]) else 0 for p in pts]]
    ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=err, color=color, marker="o", capsize=3,
                label=_label(label), linewidth=1.2)
    bad = [p for p in pts if p[4] == "reject"]
    if bad:
        ax.scatter([p[0] for p in bad], [p[1] for p in bad], marker="x", s=80, color="crimson", zorder=3)


def rounds_chart(baseline: dict[str, Any] | None, rounds: Sequence[dict[str, Any]], salt: str,
                 x_key: str | None = None, x_label: str = "") -> str:
    """Overall score per suite over rounds (round 0: the initial checkpoint); rejected rounds marked x.
    With ``x_key``, the x axis is that field of each round's data manifest (round 0 at 0), e.g.
    Edgen's ``advanced_images``: the score against the advanced-model images used so far."""
    points = _points(baseline, rounds, x_key)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(7.5, 3.4))
        ax = fig.subplots()
        for k, (suite, pts) in enumerate(points.items()):
            _curve(ax, pts, f"C{k % 10}", suite)
        ax.set_xlabel(x_label or "round (0 = initial checkpoint; x = rejected)")
        ax.set_ylabel("overall (95% interval)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        if points:
            ax.legend(fontsize=8, frameon=False)
        return _svg(fig, salt)


def loops_chart(loops: Sequence[tuple[str, dict[str, Any] | None, Sequence[dict[str, Any]]]], suite: str,
                salt: str, x_key: str, x_label: str) -> str:
    """Several loops on one axis: ``suite``'s overall score of each (label, baseline, rounds) against
    ``x_key`` of its round manifests, e.g. Edgen with its director against the uncurated baseline,
    both against the advanced-model images used."""
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(7.5, 3.8))
        ax = fig.subplots()
        for k, (label, baseline, rounds) in enumerate(loops):
            pts = _points(baseline, rounds, x_key).get(suite)
            if pts:
                _curve(ax, pts, f"C{k % 10}", label)
        ax.set_xlabel(x_label)
        ax.set_ylabel(f"{suite} overall (95% interval)")
        ax.legend(fontsize=8, frameon=False)
        return _svg(fig, salt)
