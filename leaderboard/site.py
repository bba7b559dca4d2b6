"""Build the static leaderboard site: Jinja2 pages, copied CSS/JS, downscaled thumbnails.

Layout of ``SITE_DIR``: ``index.html`` (candidates x suites, sortable), ``suite-*.html``
(per-category bars), ``candidate-*.html`` (scores, gate decisions, image grid with judge
evidence), ``training-*.html`` (round-over-round curves), ``static/`` and ``thumbs/``.
Every link is relative and nothing is fetched from elsewhere, so it works from file://.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from PIL import Image

from bench.store import stored_image_path
from leaderboard.data import Run, Sample, Training, discover, load_samples, page_name
from leaderboard.evidence import evidence
from leaderboard.plots import category_chart, loops_chart, rounds_chart

THUMB_SIZE = 192
PAGE_PROMPTS = 200  # prompts per evidence page: a TIFA-size run would make one page of 4,000
_OURS = re.compile(r"^(candidate|suite|training)-.*-[0-9a-f]{8}\.html$")


@dataclass
class BuildSummary:
    site_dir: Path
    pages: list[str]
    thumbnails: int
    runs: int
    trainings: int


def fmt(x: Any, digits: int = 3) -> str:
    """A number for a cell; an en dash for a missing one."""
    if not isinstance(x, int | float) or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def fmt_ci(ci: Any, digits: int = 2) -> str:
    if not isinstance(ci, list | tuple) or len(ci) != 2 or not all(isinstance(v, int | float) for v in ci):
        return "–"
    return f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def sort_value(x: Any) -> str:
    """``data-value`` for a sortable cell: the number, or empty (sorted last) when missing."""
    return repr(float(x)) if isinstance(x, int | float) and not math.isnan(float(x)) else ""


def _env() -> Environment:
    env = Environment(loader=PackageLoader("leaderboard", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(fmt=fmt, fmt_ci=fmt_ci, sv=sort_value)
    return env


class Thumbnails:
    """Downscaled copies of run images under ``SITE/thumbs/``, one per image hash."""

    def __init__(self, site_dir: Path, size: int) -> None:
        self.root, self.size = site_dir / "thumbs", size
        self.made: dict[str, dict[str, Any] | None] = {}

    def get(self, run: Run, digest: str) -> dict[str, Any] | None:
        """``{"src", "w", "h"}`` (``w``/``h``: the original's size, for box overlays), or None if missing."""
        if digest not in self.made:
            self.made[digest] = self._make(run, digest)
        return self.made[digest]

    def _make(self, run: Run, digest: str) -> dict[str, Any] | None:
        if not re.fullmatch(r"[0-9a-f]{8,128}", digest):
            return None
        src = stored_image_path(run.dir, digest)
        dst = self.root / digest[:2] / f"{digest}.png"
        try:
            with Image.open(src) as im:
                w, h = im.size
                if not dst.exists():
                    im = im.convert("RGB")
                    im.thumbnail((self.size, self.size), Image.Resampling.LANCZOS)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    tmp = dst.with_suffix(".tmp")
                    im.save(tmp, format="PNG", optimize=True)
                    tmp.replace(dst)
        except (OSError, ValueError):
            return None
        return {"src": f"thumbs/{digest[:2]}/{digest}.png", "w": w, "h": h}


def _suites(runs: list[Run]) -> list[dict[str, Any]]:
    names = list(dict.fromkeys(s for r in runs for s in r.results))
    out = []
    for name in names:
        res = next((r.results[name] for r in runs if name in r.results and r.results[name].get("scale")), {})
        out.append({"name": name, "page": page_name("suite", name), "scale": res.get("scale", ""),
                    "lower": res.get("higher_is_better", True) is False})
    return out


def _prompt_groups(run: Run, suite: str, samples: list[Sample], thumbs: Thumbnails,
                   accuracy: bool) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for s in samples:
        g = groups.setdefault(s.prompt_id, {"id": s.prompt_id, "prompt": s.prompt, "category": s.category,
                                            "images": []})
        tone = ("good" if s.score >= 1 else "bad" if s.score <= 0 else "mid") if accuracy else "plain"
        g["images"].append({"seed": s.seed, "hash": s.image_hash, "thumb": thumbs.get(run, s.image_hash),
                            "score": s.score, "tone": tone, "ev": evidence(s.record)})
    return list(groups.values())


def _paged(run: Run, suite: dict[str, Any], groups: list[dict[str, Any]], per_page: int,
           anchor: str) -> list[dict[str, Any]]:
    """A suite's prompt groups in pages of ``per_page`` prompts: the first on the candidate's
    page (at ``anchor``), the others on pages of their own, each with the pager's links."""
    chunks = [groups[i:i + per_page] for i in range(0, len(groups), per_page)] or [[]]
    names = [run.page] + [page_name("candidate", f"{run.rel}\x1f{suite['name']}\x1f{k}")
                          for k in range(1, len(chunks))]
    hrefs = [f"{run.page}#{anchor}", *names[1:]]
    return [{"name": names[k], "groups": chunk, "prompts": len(groups), "first": k * per_page + 1,
             "last": k * per_page + len(chunk),
             "pages": [{"href": h, "current": i == k} for i, h in enumerate(hrefs)]}
            for k, chunk in enumerate(chunks)]


SPEND_AXIS = {"x_key": "advanced_images", "x_label": "advanced-model images used (x = rejected)"}  # Edgen's budget


def _spends(t: Training) -> bool:
    return bool(t.rounds) and all(SPEND_AXIS["x_key"] in r["manifest"] for r in t.rounds)


def _spend_comparisons(trainings: list[Training]) -> list[dict[str, Any]]:
    """With two or more Edgen-style loops: per suite they share, one chart of every loop's score
    against the advanced-model images it used (director against the uncurated baseline, say)."""
    loops = [t for t in trainings if _spends(t)]
    if len(loops) < 2:
        return []
    suites = [s for s in dict.fromkeys(k for t in loops for k in (t.baseline or {}))
              if all(s in (t.baseline or {}) for t in loops)]
    return [{"suite": s, "chart": Markup(loops_chart([(t.rel, t.baseline, t.rounds) for t in loops], s,
                                                     salt=f"spend-{s}", **SPEND_AXIS))}
            for s in suites]


def build_site(runs_dir: Path, site_dir: Path, title: str = "gauntlet leaderboard",
               thumb_size: int = THUMB_SIZE, page_prompts: int = PAGE_PROMPTS) -> BuildSummary:
    """Read every run and round loop under ``runs_dir`` and write the site into ``site_dir``."""
    if thumb_size < 16:
        raise ValueError("--thumb-size must be at least 16")
    if page_prompts < 1:
        raise ValueError("--page-prompts must be at least 1")
    site_dir = Path(site_dir)
    runs, trainings = discover(Path(runs_dir), skip=site_dir)
    runs.sort(key=lambda r: (r.candidate, r.rel))
    site_dir.mkdir(parents=True, exist_ok=True)
    for old in site_dir.glob("*.html"):
        if _OURS.match(old.name):
            old.unlink()
    static = site_dir / "static"
    static.mkdir(exist_ok=True)
    for item in resources.files("leaderboard").joinpath("static").iterdir():
        if item.name.endswith((".css", ".js")):
            (static / item.name).write_bytes(item.read_bytes())
    env, thumbs = _env(), Thumbnails(site_dir, thumb_size)
    suites = _suites(runs)
    common = {"title": title, "suites": suites, "trainings": trainings}
    pages = []

    def write(name: str, template: str, **ctx: Any) -> None:
        (site_dir / name).write_text(env.get_template(template).render(**common, page=name, **ctx),
                                     encoding="utf-8")
        pages.append(name)

    write("index.html", "index.html", runs=runs, spend_charts=_spend_comparisons(trainings))
    for s in suites:
        rows = [r for r in runs if s["name"] in r.results]
        cats = list(dict.fromkeys(c for r in rows for c in (r.results[s["name"]].get("categories") or {})))
        extras = list(dict.fromkeys(k for r in rows for k in (r.results[s["name"]].get("extras") or {})))
        chart = Markup(category_chart(s["name"], [(r.candidate, r.results[s["name"]]) for r in rows]))
        write(s["page"], "suite.html", suite=s, rows=rows, categories=cats, extras=extras, chart=chart)
    for run in runs:
        sections, more = [], []
        for s in suites:
            if s["name"] in run.results:
                samples = load_samples(run, s["name"])
                groups = _prompt_groups(run, s["name"], samples, thumbs, accuracy=not s["scale"])
                pages_of = _paged(run, s, groups, page_prompts, anchor=f"suite-{len(sections) + 1}")
                for k, sec in enumerate(pages_of):
                    sec |= {"suite": s, "result": run.results[s["name"]], "images": len(samples)}
                    (sections if k == 0 else more).append(sec)
        write(run.page, "candidate.html", run=run, sections=sections)
        for sec in more:
            write(sec["name"], "evidence.html", run=run, sec=sec)
    for t in trainings:
        chart = Markup(rounds_chart(t.baseline, t.rounds, salt=t.page))
        spend = None  # Edgen: the score against the advanced-model images used so far
        if _spends(t):
            spend = Markup(rounds_chart(t.baseline, t.rounds, salt=t.page + "-spend", **SPEND_AXIS))
        names = list(dict.fromkeys([*(t.baseline or {})] + [k for r in t.rounds for k in (r["scores"] or {})]))
        write(t.page, "training.html", training=t, chart=chart, spend_chart=spend, round_suites=names)
    made = sum(1 for v in thumbs.made.values() if v)
    return BuildSummary(site_dir, pages, made, len(runs), len(trainings))

