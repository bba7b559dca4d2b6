"""What the leaderboard reads: run folders, their per-sample records, gate reports, round loops.

Under ``RUNS_DIR`` every folder holding a ``manifest.json`` is a run (as ``gauntlet run``
writes it) and every folder holding a ``loop.sqlite`` is a trainer's work dir (its own runs
live below it, in ``runs/``, and are found too). Next to a run, ``gate*.json`` files are gate
reports as ``gauntlet gate --format json`` prints them (``gauntlet gate --run RUN
--rules R --format json > RUN/gate.json``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.store import own_judgments

GATE_GLOB = "gate*.json"


@dataclass
class Sample:
    """One judged image of a suite."""

    prompt_id: str
    prompt: str
    seed: int
    image_hash: str
    category: str
    score: float
    record: dict[str, Any]


@dataclass
class GateFile:
    """A gate report found next to a run."""

    name: str
    decision: str
    rules: list[dict[str, Any]]


@dataclass
class Run:
    """One run folder: a candidate over some suites."""

    dir: Path
    rel: str  # path relative to RUNS_DIR, for display and page names
    candidate: str
    status: str
    manifest: dict[str, Any]
    results: dict[str, dict[str, Any]]  # suite -> SuiteResult JSON
    gates: list[GateFile] = field(default_factory=list)

    @property
    def page(self) -> str:
        return page_name("candidate", self.rel)

    @property
    def gate_decision(self) -> str | None:
        """The combined decision of every gate report: fail > inconclusive > pass."""
        decisions = [g.decision for g in self.gates]
        for d in ("fail", "inconclusive", "pass"):
            if d in decisions:
                return d
        return decisions[0] if decisions else None


@dataclass
class Training:
    """A round loop's work dir: ``loop.sqlite`` with its ``rounds`` table."""

    dir: Path
    rel: str
    baseline: dict[str, dict[str, Any]] | None  # round 0: the initial checkpoint's scores
    rounds: list[dict[str, Any]]

    @property
    def page(self) -> str:
        return page_name("training", self.rel)


def page_name(kind: str, key: str) -> str:
    """A safe, stable file name for a page: readable slug plus a short hash of ``key``."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-")[:50] or "x"
    return f"{kind}-{slug}-{hashlib.sha256(key.encode()).hexdigest()[:8]}.html"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None


def _walk(root: Path, skip: Path | None) -> Iterator[tuple[Path, list[str]]]:
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "images"
                         and (skip is None or Path(here, d).resolve() != skip))
        yield Path(here), files


def discover(runs_dir: Path, skip: Path | None = None) -> tuple[list[Run], list[Training]]:
    """Every run and round loop under ``runs_dir`` (``skip``: a folder not to look in, e.g. the site)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"runs folder {runs_dir} does not exist")
    runs, trainings = [], []
    for here, files in _walk(runs_dir, skip.resolve() if skip else None):
        rel = here.relative_to(runs_dir).as_posix()
        rel = rel if rel != "." else here.resolve().name
        if "manifest.json" in files:
            runs.append(load_run(here, rel))
        if "loop.sqlite" in files:
            trainings.append(load_training(here, rel))
    if not runs and not trainings:
        raise ValueError(f"no runs under {runs_dir} (looked for */manifest.json and */loop.sqlite)")
    return runs, trainings


def load_run(run_dir: Path, rel: str) -> Run:
    manifest = _read_json(run_dir / "manifest.json")
    if not isinstance(manifest, dict):
        raise ValueError(f"{run_dir / 'manifest.json'} is not a run manifest")
    spec = manifest.get("run_spec") or {}
    agg_path = run_dir / "aggregates.json"
    results = _read_json(agg_path) if agg_path.exists() else manifest.get("results") or {}
    gates = []
    for path in sorted(run_dir.glob(GATE_GLOB)):
        data = _read_json(path)
        if (not isinstance(data, dict) or "decision" not in data
                or not all(isinstance(r, dict) for r in data.get("rules") or [])):
            raise ValueError(f"{path} is not a gate report (expected `gauntlet gate --format json` output)")
        gates.append(GateFile(path.name, str(data["decision"]), list(data.get("rules") or [])))
    return Run(run_dir, rel, str(spec.get("candidate", rel)), str(manifest.get("status", "unknown")),
               manifest, results, gates)


def load_samples(run: Run, suite: str) -> list[Sample]:
    """A suite's judged images in ``run``, with their prompt text, ordered by prompt and seed."""
    db_path = run.dir / "store.sqlite"
    if not db_path.exists():
        return []
    con = sqlite3.connect(db_path, timeout=60)
    try:
        version, judge_id = _judge_of(con, run, suite)
    finally:
        con.close()
    spec = {"candidate": run.candidate, **(run.manifest.get("run_spec") or {})}
    out = []
    for j in own_judgments(db_path, spec, suite, version, judge_id):
        try:
            rec = json.loads(j.record)
        except json.JSONDecodeError:
            rec = {"unreadable record": j.record}
        out.append(Sample(j.prompt_id, j.prompt_text, j.seed, j.image_hash, j.category, j.score, rec))
    out.sort(key=lambda s: (_natural(s.prompt_id), s.seed))
    return out


def _judge_of(con: sqlite3.Connection, run: Run, suite: str) -> tuple[str, str]:
    """The (version, judge id) the manifest names for ``suite``; else the one with most rows."""
    for s in (run.manifest.get("run_spec") or {}).get("suites", []):
        if s.get("name") == suite:
            return str(s.get("version")), str(s.get("judge_id"))
    row = con.execute("SELECT version, judge_id FROM judgments WHERE suite=? GROUP BY version, judge_id "
                      "ORDER BY COUNT(*) DESC LIMIT 1", (suite,)).fetchone()
    return (row[0], row[1]) if row else ("", "")


def _natural(key: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key))


def _round_manifest(work_dir: Path, checkpoint: str | None) -> dict[str, Any]:
    """A round's data manifest (what it trained on), from its checkpoint folder, also when the
    work dir was moved since; {} when there is none."""
    if not checkpoint:
        return {}
    for folder in (Path(checkpoint), work_dir / Path(checkpoint).name):
        if (folder / "data_manifest.json").is_file():
            found = _read_json(folder / "data_manifest.json")
            return found if isinstance(found, dict) else {}
    return {}


def load_training(work_dir: Path, rel: str) -> Training:
    """Rounds of a loop (``SELECT *`` so extra columns do no harm) and its round-0 scores."""
    con = sqlite3.connect(work_dir / "loop.sqlite", timeout=60)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        rounds = []
        if "rounds" in tables:
            cur = con.execute("SELECT * FROM rounds ORDER BY idx")
            cols = [c[0] for c in cur.description]
            for row in cur.fetchall():
                rec = dict(zip(cols, row, strict=True))
                rec["scores"] = json.loads(rec["scores"]) if rec.get("scores") else None
                rec["manifest"] = _round_manifest(work_dir, rec.get("checkpoint"))
                rounds.append(rec)
        baseline = None
        if "loop" in tables:
            row = con.execute("SELECT value FROM loop WHERE key='baseline_scores'").fetchone()
            baseline = json.loads(row[0]) if row else None
    except (sqlite3.DatabaseError, json.JSONDecodeError) as e:
        raise ValueError(f"{work_dir / 'loop.sqlite'} cannot be read: {e}") from None
    finally:
        con.close()
    return Training(work_dir, rel, baseline, rounds)
